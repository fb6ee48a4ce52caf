"""Inference benchmark: one task network, four engines side by side, a whole volume, and the batch overhead.

Run: ``medroute bench --suite inference --json`` (or ``python benchmarks/bench_inference.py``).

* engines: the same U-Net and the same real, preprocessed inputs (brain MRI slices from ../shared/data, else the
  task's own images) for OpenVINO INT8 (the plugin, LATENCY hint), OpenVINO FP32 (the FP32 IR with
  ``INFERENCE_PRECISION_HINT=f32``: the CPU would otherwise run bf16), ONNX Runtime FP32 and PyTorch eager FP32.
  The FP32 network is the plugin's training checkpoint (``runs/<task>/best.pt``) when it is on this machine, else
  the same architecture and widths (``plugin.toml`` [training]) with random weights: speed depends on the shapes,
  not the values.  Runs are interleaved (engine A, B, C, D, A, B ...) so background load hits all alike.
* volume: a 155-slice 256x256 NIfTI volume (real FLAIR slices) end to end: open, route, segment, restore.
* batch_overhead: ``medroute batch`` wall time over a folder of such volumes divided by the raw INT8 inference
  time of the same slices (THROUGHPUT, AsyncInferQueue, inputs already preprocessed), minus 1.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("MEDROUTE_SHARED_DATA", ROOT.parent / "shared" / "data"))
PREFERRED = ("brain_mri", "polyp", "nuclei")


def _plugin():
    from viewer.inference.registry import default_registry

    reg = default_registry()
    for pid in PREFERRED:
        if pid in reg.plugins:
            return reg, reg.plugins[pid]
    if reg.tasks:
        return reg, reg.tasks[0]
    raise SystemExit("no task plugin installed: nothing to benchmark (see `medroute models`)")


def _real_images(n: int = 24) -> list[np.ndarray]:
    from viewer.io import open_study

    files = sorted((DATA / "brain_mri" / "images").glob("*.png"))
    if not files:
        raise SystemExit(f"benchmark data not found under {DATA}")
    step = max(1, len(files) // n)
    return [open_study(f).voxels[0] for f in files[::step][:n]]


def _torch_model(plugin):
    """(torch module in eval mode, where its weights came from)."""
    import torch

    from viewer.training.model import build_model

    train_dir = ROOT / "runs" / plugin.id
    t = plugin.raw.get("training", {})
    cfg = json.loads((train_dir / "config.json").read_text()) if (train_dir / "config.json").is_file() else {}
    same = cfg.get("architecture") == t.get("architecture", cfg.get("architecture")) and \
        list(cfg.get("input", {}).get("size", [])) == list(plugin.input.size)
    if (train_dir / "best.pt").is_file() and cfg and same:  # not a run of an older recipe than the plugin
        from viewer.training.quantize import _load

        _, model = _load(train_dir)
        return model.eval(), f"checkpoint {train_dir / 'best.pt'}"
    model = build_model(str(t.get("architecture", "unet")), plugin.input.channels, 1, t.get("widths", [16, 32, 64, 128]))
    torch.manual_seed(0)
    return model.eval(), "random weights, same architecture (checkpoint not on this machine)"


def _engines(plugin, model, shape, tmp: Path) -> dict:
    import onnxruntime as ort
    import openvino as ov
    import torch

    from viewer.inference.engine import Engine

    x0 = torch.zeros(shape)
    with torch.no_grad():
        ovm = ov.convert_model(model, example_input=x0, input=[list(shape)])
    fp32 = Engine("CPU", precision_hint="f32").compiled(_save_ir(ovm, tmp), "latency")
    int8_engine = Engine("CPU")
    int8_engine.compiled(plugin, "latency")
    onnx_path = tmp / "model.onnx"
    with torch.no_grad():
        torch.onnx.export(model, x0, str(onnx_path), input_names=["x"], output_names=["y"], opset_version=17,
                          dynamo=False)
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
    req32 = fp32.create_infer_request()
    torch.set_num_threads(os.cpu_count() or 1)

    def pt(x):
        with torch.inference_mode():
            return model(torch.from_numpy(x)).numpy()

    return {
        "openvino_int8": lambda x: int8_engine.infer(plugin, x),
        "openvino_fp32": lambda x: req32.infer({0: x}, share_inputs=True),
        "onnxruntime_fp32": lambda x: sess.run(None, {"x": x}),
        "pytorch_eager": pt,
    }


def _save_ir(ovm, tmp: Path) -> Path:
    import openvino as ov

    p = tmp / "fp32.xml"
    ov.save_model(ovm, p, compress_to_fp16=False)
    return p


def _volume_file(images: list[np.ndarray], tmp: Path, n: int = 155) -> Path:
    """A 155-slice 256x256 int16 volume of real FLAIR slices (green channel of the LGG RGB slices)."""
    import nibabel as nib

    from viewer.io import open_study

    files = sorted((DATA / "brain_mri" / "images").glob("*.png"))[:n]
    vol = np.stack([open_study(f).voxels[0][..., 1] for f in files]).astype(np.int16)
    vol = np.resize(vol, (n, 256, 256)) if vol.shape[0] < n else vol
    img = nib.Nifti1Image(np.ascontiguousarray(vol.transpose(2, 1, 0)), np.diag([0.9, 0.9, 5.0, 1.0]))
    p = tmp / "vol155" / "flair155.nii.gz"
    p.parent.mkdir(parents=True, exist_ok=True)
    nib.save(img, str(p))
    return p


def _volume_seconds(path: Path, plugin, reg) -> tuple[float, dict]:
    from viewer.errors import NoSuitableModelError
    from viewer.inference.engine import get_engine
    from viewer.inference.pipeline import run
    from viewer.io import open_study

    eng = get_engine("CPU")
    t0 = time.perf_counter()
    study = open_study(path)
    try:
        res = run(study.voxels, task="auto", registry=reg, engine=eng)
        note = {"routed": res.routing.to_dict()["task"], "confidence": round(res.routing.confidence, 3)}
    except NoSuitableModelError as e:  # the router did not accept it: time the same work with the task forced
        res = run(study.voxels, task=plugin.id, registry=reg, engine=eng)
        note = {"routed": None, "router_said": str(e)[:160]}
    dt = time.perf_counter() - t0
    note["timings_s"] = res.timings
    return dt, note


def _raw_volume_inference(path: Path, plugin) -> float:
    from viewer.inference.engine import get_engine
    from viewer.inference.preprocess import preprocess
    from viewer.io import open_study

    vox = open_study(path).voxels
    xs = [preprocess(vox[z], plugin.input)[0] for z in range(vox.shape[0])]
    eng = get_engine("CPU")
    t0 = time.perf_counter()
    eng.infer_stream(plugin, enumerate(xs), lambda k, y: None)
    return time.perf_counter() - t0


def run(quick: bool = False) -> dict:
    from viewer.inference.engine import get_engine

    reg, plugin = _plugin()
    shape = (1, plugin.input.channels, *plugin.input.size)
    images = _real_images(8 if quick else 24)
    from viewer.inference.preprocess import preprocess

    inputs = [preprocess(im, plugin.input)[0] for im in images]
    rounds = 10 if quick else 60
    with tempfile.TemporaryDirectory() as td:
        tmp = Path(td)
        model, weights = _torch_model(plugin)
        engines = _engines(plugin, model, shape, tmp)
        times: dict[str, list[float]] = {k: [] for k in engines}
        for k, f in engines.items():  # warm-up
            for x in inputs[:3]:
                f(x)
        for r in range(rounds):
            x = inputs[r % len(inputs)]
            for k, f in engines.items():
                t0 = time.perf_counter()
                f(x)
                times[k].append((time.perf_counter() - t0) * 1000)
        vol = _volume_file(images, tmp)
        get_engine("CPU").warm_up(plugin, ("latency", "throughput"))
        if reg.router is not None:
            get_engine("CPU").warm_up(reg.router)
        vols = [_volume_seconds(vol, plugin, reg) for _ in range(1 if quick else 3)]
        vol_s, vol_note = sorted(vols, key=lambda v: v[0])[len(vols) // 2]
        overhead, batch_note = _batch_overhead(vol, plugin, tmp, copies=2 if quick else 4)
    eng = {k: {"median_ms": round(statistics.median(v), 3), "min_ms": round(min(v), 3)} for k, v in times.items()}
    notes = {"fp32_weights": weights, "rounds": rounds, "real_inputs": len(inputs),
             "speedup_int8_vs_onnxruntime": round(eng["onnxruntime_fp32"]["median_ms"] / eng["openvino_int8"]["median_ms"], 2),
             "speedup_int8_vs_pytorch": round(eng["pytorch_eager"]["median_ms"] / eng["openvino_int8"]["median_ms"], 2),
             "volume": vol_note, "batch": batch_note, "cpu_count": os.cpu_count()}
    # stdout carries exactly the agreed shape; how each figure came about goes to stderr
    print("details: " + json.dumps(notes), file=sys.stderr, flush=True)
    return {
        "model": plugin.id,
        "input": list(shape),
        "engines": eng,
        "volume": {"slices": 155, "seconds": round(vol_s, 3)},
        "batch_overhead": round(overhead, 4),
    }


def _batch_overhead(vol: Path, plugin, tmp: Path, copies: int) -> tuple[float, dict]:
    import shutil

    from viewer.batch.executor import run_batch

    src = tmp / "batch_in"
    src.mkdir()
    for i in range(copies):
        shutil.copy(vol, src / f"case{i:02d}.nii.gz")
    raw = sum(_raw_volume_inference(src / f"case{i:02d}.nii.gz", plugin) for i in range(copies))
    t0 = time.perf_counter()
    rows, _ = run_batch(src, tmp / "batch_out", task="auto", workers=1, progress=False)
    wall = time.perf_counter() - t0
    ok = sum(r["status"] == "ok" for r in rows)
    if ok < copies:  # the router rejected the volume: measure the same work with the task forced
        t0 = time.perf_counter()
        rows, _ = run_batch(src, tmp / "batch_out_forced", task=plugin.id, workers=1, progress=False)
        wall = time.perf_counter() - t0
        ok = sum(r["status"] == "ok" for r in rows)
    return wall / raw - 1.0, {"studies": copies, "ok": ok, "batch_wall_s": round(wall, 3),
                              "raw_inference_s": round(raw, 3)}


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
