"""How much a test score of a shipped plugin can say: its INT8 test Dice re-measured from the plugin folder alone,
with a 95 % bootstrap interval over the test groups (patients, video sequences, images).

    python benchmarks/score_intervals.py [brain_mri nuclei polyp] [--plugins plugins] [--data ../shared/data]
        [--fp32 polyp=runs/polyp/fp32/model.xml ...] [--json FILE]

For each 2-D segmentation plugin: the test split listed in its ``metrics.json``, its input contract, output
threshold and post-processing from ``plugin.toml``, the INT8 ``model.xml`` it ships; the same code path as
``medroute quantize`` (``quantize.eval_segmentation``).  Reports the primary Dice, whether it reproduces the number in
``metrics.json``, and ``metrics.group_bootstrap_ci`` (2000 resamples of the groups, seed 0).  ``--fp32`` adds an FP32
IR (kept out of the repository, in the training folder) measured with the f32 precision hint.  Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def score(pid: str, plugins: Path, data: Path | None, fp32_xml: str | None) -> dict:
    from viewer.training import data as D
    from viewer.training.quantize import compile_model, eval_segmentation

    d = plugins / pid
    man = tomllib.loads((d / "plugin.toml").read_text())
    m = json.loads((d / "metrics.json").read_text())
    rec = {"input": man["input"], "threshold": man["output"].get("threshold", 0.5),
           "postprocess": man.get("postprocess") or {}}
    samples = D.select(D.list_samples(pid, None if data is None else data / pid), m["split"], "test")
    key = "per_group" if m["primary_metric"].startswith("dice per group") else "per_image"
    out = {"primary": key, "n_images": len(samples), "target": m.get("target")}
    runs = [("int8", d / "model.xml", False, m["primary_int8"])]
    if fp32_xml:
        runs.append(("fp32", Path(fp32_xml), True, m["primary_fp32"]))
    for name, xml, fp32, shipped in runs:
        s = eval_segmentation(compile_model(str(xml), fp32), rec, samples)
        out[name] = {"dice": round(s[key]["dice"], 4), "ci95": s["dice_ci95"][key], "n_groups": s["n_groups"],
                     "metrics_json": shipped, "reproduced": abs(round(s[key]["dice"], 4) - shipped) < 1e-3,
                     "groups": s["groups"]}
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("plugin", nargs="*", default=["brain_mri", "nuclei", "polyp"])
    ap.add_argument("--plugins", default=str(ROOT / "plugins"))
    ap.add_argument("--data")
    ap.add_argument("--fp32", action="append", default=[], metavar="ID=XML")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    fp32 = dict(x.split("=", 1) for x in args.fp32)
    res = {pid: score(pid, Path(args.plugins), Path(args.data) if args.data else None, fp32.get(pid))
           for pid in args.plugin}
    text = json.dumps(res, indent=1)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return res


if __name__ == "__main__":
    main()
