"""Re-measure a plugin's latency (e.g. on a quiet machine) and update metrics.json and plugin.toml in place.

    python -m viewer.training.latency plugins/brain_mri [--fp32 runs/brain_mri/fp32/model.xml] [--runs 300]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

from .quantize import compile_model, end_to_end_ms, latency_ms, task_example_image, viewer_slice_ms


def remeasure(plugin_dir, fp32_xml=None, runs: int = 300) -> dict:
    import tomllib

    d = Path(plugin_dir)
    man = tomllib.loads((d / "plugin.toml").read_text())
    rec = {"input": man["input"], "kind": man["plugin"]["kind"]}
    h, w = man["input"]["size"]
    shape = (1, man["input"]["channels"], h, w)
    c8 = compile_model(d / "model.xml", False)
    lat = {"int8": latency_ms(c8, shape, runs)}
    if fp32_xml and Path(fp32_xml).is_file():
        lat["fp32"] = latency_ms(compile_model(fp32_xml, True), shape, runs)
    lat["int8_end_to_end_256"] = end_to_end_ms(c8, rec, max(20, runs // 4))
    m = json.loads((d / "metrics.json").read_text())
    example = task_example_image(man["plugin"]["id"], m["split"]) if rec["kind"] == "segmentation" and m.get("split") \
        else None  # None for tasks without 2-D samples (hippocampus volumes)
    if example is not None:
        lat.update(viewer_slice_ms(d, example, max(20, runs // 4)))
    lat["load_average_1min"] = round(os.getloadavg()[0], 2)
    m["latency_ms_median"].update(lat)
    (d / "metrics.json").write_text(json.dumps(m, indent=1))
    toml = (d / "plugin.toml").read_text()
    toml = re.sub(r"(?m)^latency_ms_int8 = .*$", f"latency_ms_int8 = {lat['int8']!r}", toml)
    (d / "plugin.toml").write_text(toml)
    card = d / "MODEL_CARD.md"
    if card.is_file():
        text = re.sub(r"INT8 [0-9.]+ ms, FP32 \(f32 precision hint\) [0-9.]+ ms",
                      f"INT8 {lat['int8']} ms, FP32 (f32 precision hint) {m['latency_ms_median']['fp32']} ms", card.read_text())
        text = re.sub(r"restore of a 256x256 slice [0-9.]+ ms", f"restore of a 256x256 slice {lat['int8_end_to_end_256']} ms", text)
        if "int8_end_to_end_task" in lat:
            task = (f"; the viewer's whole per-slice path (with post-processing) on a real {lat['end_to_end_task_input']} "
                    f"test image {lat['int8_end_to_end_task']} ms")
            text = re.sub(r"; the viewer's whole per-slice path \(with post-processing\) on a real \[[0-9, ]+\] test "
                          r"image [0-9.]+ ms", "", text)
            text = re.sub(r"(restore of a 256x256 slice [0-9.]+ ms)", lambda mm: mm.group(1) + task, text, count=1)
        card.write_text(text)
    return m["latency_ms_median"]


def fp32_ir(plugin_dir, runs_dir="runs") -> Path:
    """The FP32 twin of a plugin's INT8 IR: the path ``medroute quantize`` recorded in metrics.json (an ensemble's
    is ``<first TRAIN_DIR>/fp32_ensemble``), else ``<runs_dir>/<id>/fp32/model.xml``."""
    m = json.loads((Path(plugin_dir) / "metrics.json").read_text())
    if m.get("fp32_ir"):
        return Path(m["fp32_ir"])
    if m.get("members"):  # an ensemble whose FP32 IR was not recorded: one member's IR would be the wrong model
        return Path("/nonexistent")
    return Path(runs_dir) / Path(plugin_dir).name / "fp32" / "model.xml"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("plugin_dirs", nargs="+")
    ap.add_argument("--runs-dir", default="runs",
                    help="where <id>/fp32/model.xml is looked for when metrics.json does not name the FP32 IR")
    ap.add_argument("--runs", type=int, default=300)
    a = ap.parse_args(argv)
    for p in a.plugin_dirs:
        fp32 = fp32_ir(p, a.runs_dir)
        print(Path(p).name, json.dumps(remeasure(p, fp32, a.runs)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
