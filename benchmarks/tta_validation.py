"""Test-time views on the validation split of a run that never learned from it (``medroute train --hold-out-val``).

    python benchmarks/tta_validation.py runs/polyp_1.2_holdout [--views "identity;identity,flip_rows@160x224"]

Exports the run's plain network to an FP32 IR (``TRAIN_DIR/fp32_plain``) and quantizes it as ``medroute quantize``
does, then scores each set of views (``;``-separated sets of ``,``-separated views, as ``medroute quantize --tta``)
on the validation images: every view is the plain IR reshaped to the view's size, its sigmoid probabilities are
mirrored and resized back and averaged as ``model.FlipTTA`` does in the graph, then threshold and post-processing as
the recipe says.  Reports Dice per image per threshold for FP32 (f32 hint) and INT8 and each set's cost in passes
(its share of the input's pixels).  No test image is used.  Prints JSON (``--json FILE`` also writes it).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

DEFAULT_VIEWS = ("identity;identity,flip_rows;identity,flip_cols;identity,rot180;"
                 "identity,flip_rows,flip_cols,rot180;identity,flip_rows@160x224;"
                 "identity@192x256,flip_rows@192x256;identity,flip_rows@192x256;identity,flip_rows@128x160")


def main(argv=None) -> dict:
    import nncf
    import openvino as ov
    import torch
    import torch.nn.functional as F

    from viewer.inference.postprocess import apply as apply_postprocess
    from viewer.inference.preprocess import preprocess, restore_mask
    from viewer.training import data as D
    from viewer.training.metrics import counts, summarise
    from viewer.training.model import parse_tta_view
    from viewer.training.quantize import THRESHOLDS, _load, export_fp32

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("train_dir")
    ap.add_argument("--views", default=DEFAULT_VIEWS)
    ap.add_argument("--thresholds", default="0.2," + ",".join(str(t) for t in THRESHOLDS[:3]))
    ap.add_argument("--calibration", type=int, default=200)
    ap.add_argument("--json")
    args = ap.parse_args(argv)

    train_dir = Path(args.train_dir)
    rec, model = _load(train_dir)
    if "val" in rec.get("train_parts", ["train"]):
        raise SystemExit(f"{train_dir} learned from the validation split: train it with --hold-out-val.")
    sets = {s: [parse_tta_view(v) for v in s.split(",")] for s in args.views.split(";") if s}
    thresholds = [float(t) for t in args.thresholds.split(",")]
    h, w = rec["input"]["size"]
    samples = D.list_samples(rec["task"], rec.get("data_dir"))
    val = D.select(samples, rec["split"], "val")
    train = D.select(samples, rec["split"], "train")
    rec["fp32_dir"] = "fp32_plain"
    ovm, fp32_path = export_fp32(model, rec, train_dir)
    pick = np.random.default_rng(rec.get("seed", 0)).choice(len(train), min(args.calibration, len(train)), replace=False)
    calib = [preprocess(D.read_sample(train[i])[0], rec["input"])[0] for i in sorted(pick)]
    q = nncf.quantize(ovm, nncf.Dataset(calib), subset_size=len(calib), preset=nncf.QuantizationPreset.MIXED,
                      fast_bias_correction=False)
    core = ov.Core()
    sizes = {size or (h, w) for views in sets.values() for _, size in views}

    def compiled(model_or_path, fp32: bool, size):
        m = core.read_model(model_or_path) if isinstance(model_or_path, Path) else model_or_path.clone()
        m.reshape([1, rec["input"]["channels"], *size])
        cfg = {"PERFORMANCE_HINT": "LATENCY", **({"INFERENCE_PRECISION_HINT": "f32"} if fp32 else {})}
        return core.compile_model(m, "CPU", cfg)

    def view_prob(c, x, axes, size):
        t = torch.from_numpy(x)
        t = torch.flip(t, axes) if axes else t
        if size != (h, w):
            t = F.interpolate(t, size=size, mode="bilinear", align_corners=False)
        p = torch.sigmoid(torch.from_numpy(np.array(c[size]({0: t.numpy()})[0])))
        if size != (h, w):
            p = F.interpolate(p, size=(h, w), mode="bilinear", align_corners=False)
        return torch.flip(p, axes) if axes else p

    out = {"train_dir": str(train_dir), "task": rec["task"], "n_val_images": len(val), "metric": "dice per image",
           "passes": {s: round(sum(((sz or (h, w))[0] * (sz or (h, w))[1]) / (h * w) for _, sz in v), 3)
                      for s, v in sets.items()}}
    for name, src, fp32 in (("fp32", fp32_path, True), ("int8", q, False)):
        c = {size: compiled(src, fp32, size) for size in sizes}
        rows = {(s, t): [] for s in sets for t in thresholds}
        for smp in val:
            img, mask = D.read_sample(smp)
            x, info = preprocess(img, rec["input"])
            cache: dict = {}
            for s, views in sets.items():
                ps = []
                for axes, size in views:
                    key = (axes, size or (h, w))
                    if key not in cache:
                        cache[key] = view_prob(c, x, *key)
                    ps.append(cache[key])
                p = torch.stack(ps).mean(0).clamp(1e-6, 1 - 1e-6)
                y = (torch.log(p) - torch.log1p(-p)).numpy()
                for t in thresholds:
                    pred = apply_postprocess(restore_mask(y, info, "sigmoid", t, rec["input"]["resize"]),
                                             rec.get("postprocess"))
                    rows[(s, t)].append((smp.key, smp.group, counts(pred, mask)))
        out[name] = {s: {str(t): round(summarise(rows[(s, t)])["per_image"]["dice"], 4) for t in thresholds}
                     for s in sets}
    text = json.dumps(out, indent=1)
    print(text)
    if args.json:
        Path(args.json).write_text(text)
    return out


if __name__ == "__main__":
    main()
