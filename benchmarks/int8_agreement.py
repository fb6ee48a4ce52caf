"""INT8 vs FP32 agreement of a segmentation checkpoint under several NNCF settings, without labels.

    python benchmarks/int8_agreement.py runs/polyp_v2 /tmp/qexp_polyp [--checkpoint last.pt|best.pt]

Exports the checkpoint to an FP32 IR, quantizes it with each setting (200 calibration images of the training
split, as ``medroute quantize`` does) and reports the Dice between the INT8 and the true-FP32 (f32 hint) masks on the
validation split's images: mean and worst image.  No label and no test image is used, so the choice of setting
cannot leak the test split.  Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np


def main(argv=None) -> dict:
    import nncf
    import torch

    from viewer.inference.preprocess import preprocess, restore_mask
    from viewer.training import data as D
    from viewer.training.quantize import _infer, _load, compile_model, export_fp32

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("train_dir", type=Path)
    ap.add_argument("work_dir", type=Path)
    ap.add_argument("--checkpoint", default="last.pt")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    a.work_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(a.train_dir / "config.json", a.work_dir / "config.json")
    ck = torch.load(a.train_dir / a.checkpoint, map_location="cpu", weights_only=False)
    torch.save({"model": ck["model"], "epoch": ck.get("epoch", -1)}, a.work_dir / "best.pt")
    rec, model = _load(a.work_dir)
    ovm, fp32 = export_fp32(model, rec, a.work_dir)
    samples = D.list_samples(rec["task"], rec.get("data_dir"))
    train = D.select(samples, rec["split"], "train")
    val = D.select(samples, rec["split"], "val")
    pick = np.random.default_rng(0).choice(len(train), min(200, len(train)), replace=False)
    calib = [preprocess(D.read_sample(train[i])[0], rec["input"])[0] for i in sorted(pick)]
    c32 = compile_model(fp32, True)
    ref = []
    for s in val:
        x, info = preprocess(D.read_sample(s)[0], rec["input"])
        ref.append((x, info, restore_mask(_infer(c32, x), info)))

    def agreement(compiled) -> dict:
        d = []
        for x, info, r in ref:
            p = restore_mask(_infer(compiled, x), info)
            den = int(p.sum()) + int(r.sum())
            d.append(1.0 if den == 0 else 2 * np.count_nonzero(p & r) / den)
        return {"mean_dice": round(float(np.mean(d)), 4), "min_dice": round(float(np.min(d)), 4)}

    settings = {
        "mixed (fast bias correction)": dict(preset=nncf.QuantizationPreset.MIXED),
        "mixed, full bias correction": dict(preset=nncf.QuantizationPreset.MIXED, fast_bias_correction=False),
        "performance": dict(preset=nncf.QuantizationPreset.PERFORMANCE),
    }
    out = {"train_dir": str(a.train_dir), "checkpoint": a.checkpoint, "images": len(ref), "settings": {}}
    for name, kw in settings.items():
        t0 = time.perf_counter()
        q = nncf.quantize(ovm, nncf.Dataset(calib), subset_size=len(calib), **kw)
        out["settings"][name] = {**agreement(compile_model(q, False)), "seconds": round(time.perf_counter() - t0, 1)}
    print(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
