"""The fourth task: hippocampus (anterior = 1, posterior = 2) on 3D MR crops (MSD Task04, CC-BY-SA 4.0).

Slice-wise 2D, exactly as the viewer runs it: each volume is opened with :func:`viewer.io.open_study` (so the
slices are the study's axial ``(z, y, x)`` slices, LPS, as ``medroute segment`` sees them), every slice goes through
:func:`viewer.inference.preprocess.preprocess` (per-slice percentile normalisation, bilinear resize to the model
size), and the U-Net has a 3-class softmax head.  Cases (volumes) are split train / val / test with the same seeded
group split as the other tasks, so no volume is in two splits.  Test metrics are 3D Dice per case and per label on
the original voxel grid through OpenVINO (FP32 and INT8), the mean over both labels being the primary metric.

    medroute train --task hippocampus --out runs/hippocampus [--init runs/brain_mri] [--threads 1]
    medroute quantize runs/hippocampus --out plugins/hippocampus

``--init`` with a binary U-Net folder (the brain model) loads every weight but the 1-channel head (transfer).
"""

from __future__ import annotations

import json
import platform
import re
import sys
import time
from pathlib import Path

import numpy as np

from ..inference.preprocess import preprocess, resize_chw, restore_mask
from . import data as D
from .data import TrainingDataError

TASK = "hippocampus"
DEFAULT_DIR = D.DEFAULT_DATA_ROOT / "nifti" / "msd_task04_hippocampus"
N_CLASSES = 3


def list_cases(data_dir=None) -> list[tuple[str, Path, Path]]:
    """(case, image, label) for every labelled volume: ``images/<case>.nii.gz`` + ``labels/<case>.nii.gz``
    (the shared-data layout) or an MSD / nnU-Net folder (``imagesTr/<case>[_0000].nii.gz`` + ``labelsTr``)."""
    root = Path(data_dir) if data_dir else DEFAULT_DIR
    for img_dir, lab_dir in (("images", "labels"), ("imagesTr", "labelsTr")):
        if (root / lab_dir).is_dir():
            out = []
            for lab in sorted((root / lab_dir).glob("*.nii*")):
                case = lab.name.split(".nii")[0]
                ext = lab.name[len(case):]
                img = next((p for p in (root / img_dir / lab.name, root / img_dir / f"{case}_0000{ext}")
                            if p.is_file()), None)
                if img is not None and not lab.name.startswith("."):
                    out.append((case, img, lab))
            if out:
                return out
    raise TrainingDataError(f"{root} holds no hippocampus volumes (expected images/ + labels/ or imagesTr/ + "
                            f"labelsTr/ with .nii.gz files); pass --data with such a folder.", root)


def subject_of(case: str) -> str:
    """The scan (subject) a case was cropped from.  MSD Task04 numbers the two crops of one scan (the two sides of
    one head) 2k+1 and 2k+2: in ../shared/data each such pair of float cases shares 58-87 % of its exact voxel values,
    unrelated cases under 1 % (``tests/training/test_splits.py`` checks this on the data).  Other names are their
    own subject."""
    m = re.fullmatch(r"hippocampus_(\d+)", case)
    return f"hippocampus_scan_{(int(m.group(1)) + 1) // 2:03d}" if m else case


def make_split(cases, seed: int = 0) -> dict[str, list[str]]:
    """Cases -> train / val / test, by scan: both crops of one scan always land in the same part."""
    names = [c if isinstance(c, str) else c[0] for c in cases]
    by_scan = D.split_groups([subject_of(c) for c in names], 0.15, 0.2, seed)
    part = {g: k for k, gs in by_scan.items() for g in gs}
    return {k: sorted(c for c in names if part[subject_of(c)] == k) for k in ("train", "val", "test")}


def load_case(img: Path, lab: Path) -> tuple[np.ndarray, np.ndarray]:
    """(voxels float32 (z, y, x), labels uint8 (z, y, x)) on the study grid the viewer uses."""
    from ..io import open_study

    v = open_study(img).voxels
    m = open_study(lab).voxels
    if v.shape[:3] != m.shape[:3]:
        raise TrainingDataError(f"{lab.name}: label shape {m.shape} differs from the image {v.shape}.", lab)
    return np.asarray(v, np.float32), np.rint(np.asarray(m)).astype(np.uint8)


def resize_labels(m: np.ndarray, size, n_classes: int = N_CLASSES) -> np.ndarray:
    """Label slice (H, W) -> ``size``: bilinear resize of the one-hot map, then arg-max (no label shrinks away)."""
    onehot = (m[None] == np.arange(n_classes)[:, None, None]).astype(np.float32)
    return np.argmax(resize_chw(onehot, tuple(size), "bilinear"), axis=0).astype(np.uint8)


def slice_arrays(rec: dict, cases, names) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Every axial slice of the named cases, preprocessed: X (N, C, H, W), Y (N, H, W) uint8, case per slice."""
    keep = set(names)
    xs, ys, grp = [], [], []
    for case, img, lab in cases:
        if case not in keep:
            continue
        v, m = load_case(img, lab)
        for z in range(v.shape[0]):
            xs.append(preprocess(v[z], rec["input"])[0][0])
            ys.append(resize_labels(m[z], rec["input"]["size"]))
            grp.append(case)
    return np.stack(xs), np.stack(ys), grp


def dice_per_label(pred: np.ndarray, gt: np.ndarray, n_classes: int = N_CLASSES) -> list[float]:
    out = []
    for c in range(1, n_classes):
        p, g = pred == c, gt == c
        s = int(p.sum()) + int(g.sum())
        out.append(1.0 if s == 0 else 2.0 * int((p & g).sum()) / s)
    return out


def ce_dice(logits, target, n_classes: int = N_CLASSES):
    """Cross-entropy + soft Dice over the foreground classes (batch pooled)."""
    import torch.nn.functional as F

    logits = logits.float()
    ce = F.cross_entropy(logits, target)
    p = logits.softmax(1)[:, 1:]
    t = F.one_hot(target, n_classes).movedim(-1, 1)[:, 1:].float()  # 2D (N, H, W) or 3D (N, D, H, W) targets
    dims = (0, *range(2, p.dim()))
    inter = (p * t).sum(dims)
    dice = 1 - (2 * inter + 1) / (p.sum(dims) + t.sum(dims) + 1)
    return ce + dice.mean()


def evaluate_val(model, X, Y, groups, device, batch: int = 64) -> float:
    """Mean over cases and both labels of the 3D Dice at the model size (validation)."""
    import torch

    model.eval()
    preds = []
    with torch.no_grad():
        for i in range(0, len(X), batch):
            preds.append(model(torch.from_numpy(X[i:i + batch]).to(device)).argmax(1).cpu().numpy())
    model.train()
    pred = np.concatenate(preds).astype(np.uint8)
    g = np.asarray(groups)
    return float(np.mean([np.mean(dice_per_label(pred[g == c], Y[g == c])) for c in sorted(set(groups))]))


def load_init(model, init) -> str:
    """Load a checkpoint; tensors whose shape differs (the head of a binary model) keep their fresh values."""
    import torch

    ck = torch.load(Path(init) / "best.pt" if Path(init).is_dir() else init, map_location="cpu")
    own = model.state_dict()
    take = {k: v for k, v in ck["model"].items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(take, strict=False)
    return f"{len(take)}/{len(own)} tensors from {init}"


def train(out_dir, data_dir=None, device: str = "auto", epochs: int | None = None, init=None, seed: int = 0,
          limit: int | None = None, max_steps: int | None = None, batch: int | None = None, amp: bool = True,
          threads: int | None = None, progress: bool = True, lr: float | None = None,
          split_seed: int | None = None) -> dict:
    """Train the hippocampus U-Net into ``out_dir`` (single process; resumes from ``last.pt``).  ``split_seed``
    (default: ``seed``) chooses the train/val/test split of the cases."""
    split_seed = seed if split_seed is None else split_seed
    import torch

    from .augment import AugmentConfig, augment_batch
    from .device import autocast, resolve_device
    from .model import build_model, count_parameters
    from .tasks import recipe as make_recipe
    from .train import _lr_at, _save, resume

    if threads:
        torch.set_num_threads(threads)
    dev = resolve_device(device)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rec = make_recipe(TASK, epochs=epochs, batch=batch, lr=lr)
    rec.update(seed=seed, split_seed=split_seed, data_dir=str(data_dir) if data_dir else None, limit=limit, device=dev, world=1,
               init=str(init) if init else None)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    cases = list_cases(data_dir)
    rec["split"] = make_split(cases, split_seed)
    if limit:
        rec["split"] = {k: v[:limit] for k, v in rec["split"].items()}
    Xtr, Ytr, _ = slice_arrays(rec, cases, rec["split"]["train"])
    Xva, Yva, Gva = slice_arrays(rec, cases, rec["split"]["val"])
    (out / "config.json").write_text(json.dumps(rec, indent=1))

    model = build_model("unet", rec["input"]["channels"], N_CLASSES, rec["widths"])
    if init:
        print(f"{TASK}: init {load_init(model, init)}", flush=True)
    model = model.to(dev)
    if dev in ("cpu", "cuda"):
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=rec["lr"], weight_decay=1e-4)
    n_train = len(Xtr)
    steps_per_epoch = max(1, n_train // rec["batch"])
    total = steps_per_epoch * rec["epochs"] if not max_steps else min(max_steps, steps_per_epoch * rec["epochs"])
    warmup = min(100, max(1, total // 20))
    aug = AugmentConfig(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in rec["augment"].items()})
    last = out / "last.pt"
    start_epoch, step, best = resume(last, model, opt, TASK) if not init else (0, 0, -1.0)
    if start_epoch:
        rng = np.random.default_rng(seed + 7919 * start_epoch)
        gen.manual_seed(seed + 7919 * start_epoch)
    print(f"{TASK}: {count_parameters(model)} parameters, {n_train} training slices, {steps_per_epoch} steps/epoch, "
          f"{total} steps, device {dev}", flush=True)
    log = open(out / "log.jsonl", "a")
    record: dict = {}
    t0 = time.time()
    epoch = start_epoch
    while epoch < rec["epochs"] and step < total:
        order = rng.permutation(n_train)
        losses = []
        for k in range(steps_per_epoch):
            if step >= total:
                break
            idx = np.sort(order[k * rec["batch"]:(k + 1) * rec["batch"]])
            x, y = augment_batch(torch.from_numpy(Xtr[idx]), torch.from_numpy(Ytr[idx][:, None].astype(np.float32)),
                                 aug, gen)
            x = x.contiguous(memory_format=torch.channels_last).to(dev)
            target = y[:, 0].round().long().to(dev)
            for g in opt.param_groups:
                g["lr"] = _lr_at(step, total, rec["lr"], warmup)
            with autocast(dev, amp):
                logits = model(x)
            loss = ce_dice(logits, target)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
            step += 1
        score = evaluate_val(model, Xva, Yva, Gva, dev)
        record = {"task": TASK, "epoch": epoch + 1, "step": step, "loss": round(float(np.mean(losses or [np.nan])), 5),
                  "val_score": round(score, 5), "elapsed_s": round(time.time() - t0, 1)}
        if score >= best:
            best = score
            _save(out / "best.pt", {"model": model.state_dict(), "epoch": epoch, "val_score": score})
            record["best"] = True
        _save(last, {"model": model.state_dict(), "opt": opt.state_dict(), "epoch": epoch, "step": step,
                     "best": best})
        log.write(json.dumps(record) + "\n")
        log.flush()
        if progress:
            print(json.dumps(record), flush=True, file=sys.stdout)
        epoch += 1
    log.close()
    return record


def _load(train_dir: Path):
    import torch

    from .model import build_model

    rec = json.loads((train_dir / "config.json").read_text())
    model = build_model("unet", rec["input"]["channels"], N_CLASSES, rec["widths"])
    ck = torch.load(train_dir / "best.pt", map_location="cpu")
    model.load_state_dict(ck["model"])
    rec["best_epoch"] = int(ck.get("epoch", -1)) + 1
    rec["best_val_score"] = float(ck.get("val_score", float("nan")))
    return rec, model.eval()


def evaluate_cases(compiled, rec: dict, cases, names) -> dict:
    """3D Dice per case and label on the original grid through preprocess -> OpenVINO -> restore_mask."""
    keep = set(names)
    per_case = {}
    for case, img, lab in cases:
        if case not in keep:
            continue
        v, m = load_case(img, lab)
        pred = np.zeros_like(m)
        for z in range(v.shape[0]):
            x, info = preprocess(v[z], rec["input"])
            pred[z] = restore_mask(np.asarray(compiled({0: x})[0]), info, "softmax", 0.5, rec["input"]["resize"])
        per_case[case] = [round(d, 4) for d in dice_per_label(pred, m)]
    arr = np.array(list(per_case.values()))
    names_ = [lab["name"] for lab in rec["labels"]]
    return {"dice_per_label": {n: round(float(arr[:, i].mean()), 4) for i, n in enumerate(names_)},
            "dice_mean": round(float(arr.mean()), 4), "dice_mean_std": round(float(arr.mean(1).std()), 4),
            "n_cases": len(per_case), "per_case": per_case}


def quantize(train_dir, out_dir, data_dir=None, calibration: int = 200, latency_runs: int = 200,
             progress=print) -> dict:
    import nncf
    import openvino as ov

    from .manifest import _table, _v
    from .quantize import compile_model, end_to_end_ms, export_fp32, latency_ms, sha256

    train_dir, out_dir = Path(train_dir), Path(out_dir)
    rec, model = _load(train_dir)
    data_dir = data_dir or rec.get("data_dir")
    ovm, fp32_path = export_fp32(model, rec, train_dir)
    cases = list_cases(data_dir)
    Xtr, _, _ = slice_arrays(rec, cases, rec["split"]["train"])
    rng = np.random.default_rng(rec.get("seed", 0))
    calib = [Xtr[i][None] for i in sorted(rng.choice(len(Xtr), min(calibration, len(Xtr)), replace=False))]
    q = nncf.quantize(ovm, nncf.Dataset(calib), subset_size=len(calib), preset=nncf.QuantizationPreset.MIXED)
    version = _version_after(out_dir, rec)
    out_dir.mkdir(parents=True, exist_ok=True)
    xml = out_dir / "model.xml"
    ov.save_model(q, xml, compress_to_fp16=False)
    c32, c8 = compile_model(fp32_path, True), compile_model(xml, False)
    m32 = evaluate_cases(c32, rec, cases, rec["split"]["test"])
    progress(f"{TASK}: FP32 test mean Dice {m32['dice_mean']} {m32['dice_per_label']}")
    m8 = evaluate_cases(c8, rec, cases, rec["split"]["test"])
    progress(f"{TASK}: INT8 test mean Dice {m8['dice_mean']} {m8['dice_per_label']}")
    h, w = rec["input"]["size"]
    shape = (1, rec["input"]["channels"], h, w)
    metrics = {
        "task": TASK, "version": version, "seed": rec.get("seed", 0), "split": rec["split"],
        "split_unit": "scan (the two crops of one scan together)",
        "init": rec.get("init"), "best_epoch": rec["best_epoch"], "epochs": rec["epochs"],
        "best_val_score": rec["best_val_score"], "calibration_images": len(calib), "input_size": [h, w],
        "machine": {"cpu": platform.processor() or platform.machine(), "openvino": ov.get_version()},
        "primary_metric": "3D Dice per case on the original grid, mean over cases and both labels",
        "target": rec["target"], "test_fp32": m32, "test_int8": m8,
        "primary_fp32": m32["dice_mean"], "primary_int8": m8["dice_mean"],
        "int8_minus_fp32": round(m8["dice_mean"] - m32["dice_mean"], 4),
        "meets_target": bool(min(m8["dice_mean"], m32["dice_mean"]) >= rec["target"]),
        "latency_ms_median": {"int8": latency_ms(c8, shape, latency_runs), "fp32": latency_ms(c32, shape, latency_runs),
                              "input_shape": list(shape), "hint": "LATENCY", "fp32_precision_hint": "f32"},
    }
    metrics["latency_ms_median"]["int8_end_to_end_256"] = end_to_end_ms(c8, rec, latency_runs // 4)
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=1))
    lines = ["# MedRoute task plugin, written by `medroute quantize` (viewer.training.hippocampus). The sha256",
             "# values must match model.bin / model.xml.", ""]
    lines += _table("plugin", {"id": TASK, "name": rec["name"], "version": version, "kind": "segmentation",
                               "description": rec["description"], "task_modality": rec["task_modality"]})
    lines += _table("model", {"file": "model.xml", "weights": "model.bin", "sha256": sha256(out_dir / "model.bin"),
                              "xml_sha256": sha256(xml), "precision": "INT8"})
    lines += _table("input", {**rec["input"], "max_field_of_view_mm": max_field_of_view_mm(cases, rec["split"]["train"])})
    lines += _table("output", {"activation": "softmax"})
    for lab in rec["labels"]:
        lines += ["[[labels]]"] + [f"{k} = {_v(v)}" for k, v in lab.items()] + [""]
    lines += _table("metrics", {"file": "metrics.json", "primary_fp32": metrics["primary_fp32"],
                                "primary_int8": metrics["primary_int8"],
                                "latency_ms_int8": metrics["latency_ms_median"]["int8"]})
    lines += _table("training", {"dataset": "msd_task04_hippocampus", "split": "by scan", "architecture": "unet",
                                 "widths": rec["widths"], "seed": rec.get("seed", 0), "epochs": rec["epochs"],
                                 "batch": rec["batch"], "lr": rec["lr"], "loss": "cross-entropy+dice",
                                 "out_channels": N_CLASSES, "slicing": "2D axial slices of the study grid",
                                 "init": rec.get("init") or "scratch"})
    (out_dir / "plugin.toml").write_text("\n".join(lines))
    _model_card(out_dir, rec, metrics)
    progress(f"{TASK}: plugin written to {out_dir}; INT8 latency {metrics['latency_ms_median']['int8']} ms")
    return metrics


def max_field_of_view_mm(cases, names, margin: float = 1.25) -> float:
    """The longest side (mm) of the largest training crop, times ``margin``: the router does not send larger
    studies (a whole head) to this model of crops (``[input] max_field_of_view_mm``)."""
    import nibabel as nib

    def longest_side(img) -> float:
        h = nib.load(str(img)).header
        return float(np.max(np.asarray(h.get_data_shape()[:3]) * np.asarray(h.get_zooms()[:3])))

    keep = set(names)
    return round(max(longest_side(img) for case, img, _ in cases if case in keep) * margin, 1)


def _version_after(out_dir: Path, rec: dict) -> str:
    """The version of a new package in ``out_dir``: 1.0.0 for the first; past the one there (minor step when its
    split or initialisation differs, as that is another model, else patch)."""
    from .finetune import next_version
    from .quantize import VERSION

    try:
        old = json.loads((out_dir / "metrics.json").read_text())
    except (OSError, ValueError):
        return VERSION
    if old.get("task") != TASK or not old.get("version"):
        return VERSION
    return next_version(old["version"], old.get("split") != rec["split"] or old.get("init") != rec.get("init"))


def _model_card(out_dir: Path, rec: dict, m: dict) -> None:
    lat = m["latency_ms_median"]
    rows = [f"| {n} | {m['test_fp32']['dice_per_label'][n]:.4f} | {m['test_int8']['dice_per_label'][n]:.4f} |"
            for n in m["test_int8"]["dice_per_label"]]
    text = f"""# {rec['name']} (`{TASK}`) — model card

{rec['description']}

## Model

- 2D U-Net, widths {rec['widths']}, input {rec['input']['channels']}x{rec['input']['size'][0]}x{rec['input']['size'][1]}
  (each axial slice of the study grid, percentile 0.5/99.5 normalisation, bilinear resize, grey replicated to
  3 channels), softmax over background / anterior / posterior; the viewer runs it slice by slice.
- Initialisation: {rec.get('init') or 'scratch (random)'}.
- Shipped weights: OpenVINO IR, INT8 (NNCF post-training quantisation, mixed preset, {m['calibration_images']}
  calibration slices from the training cases).
- Trained {rec['epochs']} epochs (best validation epoch {m['best_epoch']}, validation mean Dice
  {m['best_val_score']:.4f}), seed {rec.get('seed', 0)}.

## Results on the held-out test cases ({m['test_int8']['n_cases']} volumes, 3D Dice per case on the original grid)

| label | FP32 Dice | INT8 Dice |
|---|---|---|
{chr(10).join(rows)}
| **mean** | **{m['primary_fp32']:.4f}** | **{m['primary_int8']:.4f}** |

Target: mean Dice >= {rec['target']} — **{'met' if m['meets_target'] else 'NOT met'}**. Published 3D U-Nets reach
about 0.88-0.90 on the full MSD Task04.

## Speed

OpenVINO CPU, LATENCY hint, 2-core AMD Zen4: INT8 {lat['int8']} ms, FP32 {lat['fp32']} ms per
{lat['input_shape']} slice; INT8 preprocess+infer+restore of a 256x256 slice {lat['int8_end_to_end_256']} ms.

## Data and licence

Medical Segmentation Decathlon Task04 Hippocampus (Vanderbilt University Medical Center; Simpson et al. 2019),
CC-BY-SA 4.0: the weights are shared under CC-BY-SA 4.0 as well. Split by scan: MSD numbers the two crops of one
scan 2k+1 / 2k+2 and both always land in the same part (`hippocampus.subject_of`); the case lists are in
`metrics.json`. The test cases were never trained on; the test split was also used to decide whether this version
replaces the one installed before it.

## Limitations

- Research prototype, not a medical device. Trained on pre-cropped hippocampus regions of T1 MR; whole-head
  volumes must be cropped around the hippocampus first (the router sends such crops here). `[input]
  max_field_of_view_mm` (the longest side of the largest training crop x 1.25) keeps the router from sending a
  larger study here (it answers "no suitable model" and says why); choosing the task by hand still runs it.
"""
    (out_dir / "MODEL_CARD.md").write_text(text)


def main(argv=None) -> int:
    """``python -m viewer.training.hippocampus train|quantize ...`` (same as medroute train/quantize)."""
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("action", choices=("train", "quantize"))
    ap.add_argument("--out", required=True)
    ap.add_argument("--train-dir")
    ap.add_argument("--data")
    ap.add_argument("--init")
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--lr", type=float)
    ap.add_argument("--batch", type=int)
    ap.add_argument("--limit", type=int)
    ap.add_argument("--max-steps", type=int)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    if a.action == "train":
        train(a.out, a.data, epochs=a.epochs, init=a.init, threads=a.threads, lr=a.lr, batch=a.batch,
              limit=a.limit, max_steps=a.max_steps)
    else:
        quantize(a.train_dir, a.out, a.data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
