"""Teach the router a new task class without touching the task models (and without forgetting the old classes).

    # 1. fine-tune: the finished router's training folder -> a router with one more class
    python -m viewer.training.router_add train --base runs/router --task hippocampus --match hippocampus_ \\
        --out runs/router_hippocampus --plugins plugins [--epochs 15] [--threads 1]
    # 2. package it like any router (INT8, threshold chosen on validation, test metrics)
    medroute quantize runs/router_hippocampus --out runs/router_hippocampus/plugin
    # 3. before/after table (markdown + JSON): routing accuracy, volume-level routing, task models unchanged
    python -m viewer.training.router_add compare --before plugins/router --after runs/router_hippocampus/plugin \\
        --run runs/router_hippocampus --plugins plugins --out runs/router_hippocampus/compare
    # 4. ship: copy runs/router_hippocampus/plugin/* to plugins/router/

The base folder's cached router data (``router_data.npz``: the same images and the same train / val / test split) is
relabelled: every sample whose name contains ``--match`` (the MSD hippocampus crops, which the 4-class router learnt
as brain_mri) becomes the new class.  The new class is appended after the reject class so the old class indices
keep their meaning.  The network starts from the base router's weights; the new output row starts as a copy of the
class it is split from, 2 logits lower, so the starting router answers exactly as before.  Fine-tuning uses the same
class-balanced sampling, augmentation and grey replacement as the router recipe, on all classes (rehearsal), so the
old decisions are kept.  The task plugins are only read: their sha256 is recorded at the start and checked by
``compare``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def task_plugin_fingerprints(plugins: Path) -> dict:
    out = {}
    for toml in sorted(Path(plugins).glob("*/plugin.toml")):
        d = toml.parent
        if d.name == "router" or not (d / "model.bin").is_file():
            continue
        m = json.loads((d / "metrics.json").read_text()) if (d / "metrics.json").is_file() else {}
        out[d.name] = {"sha256_bin": _sha(d / "model.bin"), "sha256_xml": _sha(d / "model.xml"),
                       "primary_fp32": m.get("primary_fp32"), "primary_int8": m.get("primary_int8"),
                       "metrics_sha256": _sha(d / "metrics.json") if (d / "metrics.json").is_file() else None}
    return out


def low_resolution(x: np.ndarray, rng, crop=(0.35, 0.6)) -> np.ndarray:
    """A (3, H, W) router input as a small-field-of-view, coarse scan of the same anatomy would look: a random
    centred window (``crop`` of each side) up-sampled to the full size (bilinear: coarse and blurry, like a 2 mm
    crop), re-normalised to its 0.5/99.5 percentiles like ``preprocess`` does."""
    from ..inference.preprocess import resize_chw

    h, w = x.shape[-2:]
    f = float(rng.uniform(*crop))
    ch, cw = max(8, round(h * f)), max(8, round(w * f))
    y0 = int(np.clip((h - ch) // 2 + rng.integers(-h // 10, h // 10 + 1), 0, h - ch))
    x0 = int(np.clip((w - cw) // 2 + rng.integers(-w // 10, w // 10 + 1), 0, w - cw))
    small = resize_chw(np.ascontiguousarray(x[:, y0:y0 + ch, x0:x0 + cw]), (h, w), "bilinear")
    lo, hi = np.percentile(small, [0.5, 99.5])
    return np.clip((small - lo) / max(hi - lo, 1e-6), 0, 1).astype(np.float32)


def relabel(base: Path, out: Path, task: str, match: str, split_from: str = "brain_mri", lowres: bool = False,
            seed: int = 0) -> dict:
    """Copy ``base/router_data.npz`` to ``out`` with the matching samples moved to the new class.

    With ``lowres`` every train / val sample left in ``split_from`` also gets a zoomed, coarse copy (same class),
    meant to stop the new class (small, coarse hippocampus crops) being learnt as "any small-field-of-view blurry
    brain MR" (nibabel's 2 mm sample brain crop is routed to it).  Measured: it did not fix that and cost
    brain_mri recall, so it is off by default.  The test split is kept as it was."""
    rng = np.random.default_rng(seed)
    z = np.load(base / "router_data.npz", allow_pickle=False)
    cfg = json.loads((base / "config.json").read_text())
    classes = list(cfg["classes"]) + [task]
    new, src = len(classes) - 1, classes.index(split_from)
    arrays, counts = {}, {}
    for p in ("train", "val", "test"):
        y = z[f"y_{p}"].copy()
        names = z[f"n_{p}"]
        hit = np.array([match in str(n) for n in names], bool) & (y == src)
        y[hit] = new
        X = z[f"X_{p}"]
        if lowres and p != "test":
            keep = np.flatnonzero(y == src)
            X = np.concatenate([X, np.stack([low_resolution(X[i], rng) for i in keep])])
            y = np.concatenate([y, np.full(len(keep), src, y.dtype)])
            names = np.concatenate([names, np.array([f"{names[i]}#lowres" for i in keep])])
        arrays.update({f"X_{p}": X, f"y_{p}": y, f"n_{p}": names})
        counts[p] = {c: int((y == i).sum()) for i, c in enumerate(classes)}
    out.mkdir(parents=True, exist_ok=True)
    np.savez(out / "router_data.npz", **arrays)
    return {"classes": classes, "split_counts": counts, "new_index": new, "split_from_index": src}


def train(base, out, task: str, match: str, plugins=None, epochs: int = 15, lr: float = 1e-3, seed: int = 0,
          threads: int | None = 1, max_steps: int | None = None, split_from: str = "brain_mri",
          lowres: bool = False) -> dict:
    import torch

    from .model import build_model

    if threads:
        torch.set_num_threads(threads)
    base, out = Path(base), Path(out)
    info = relabel(base, out, task, match, split_from, lowres=lowres, seed=seed)
    classes = info["classes"]
    rec = json.loads((base / "config.json").read_text())
    old_classes = list(rec["classes"])
    rec.update(classes=classes, split_counts=info["split_counts"], epochs=epochs, lr=lr, seed=seed,
               base=str(base), added_task=task, match=match,
               description=rec["description"].replace("(brain MRI, nuclei, polyp)", f"(brain MRI, nuclei, polyp, {task})"))
    if plugins:
        rec["task_plugins_at_start"] = task_plugin_fingerprints(Path(plugins))
    (out / "config.json").write_text(json.dumps(rec, indent=1))

    model = build_model("router", rec["input"]["channels"], len(classes), rec["widths"])
    ck = torch.load(base / "best.pt", map_location="cpu")
    sd = dict(ck["model"])
    w, b = sd.pop("fc.weight"), sd.pop("fc.bias")
    model.load_state_dict(sd, strict=False)
    with torch.no_grad():
        model.fc.weight[: len(old_classes)] = w
        model.fc.bias[: len(old_classes)] = b
        model.fc.weight[info["new_index"]] = w[info["split_from_index"]]
        model.fc.bias[info["new_index"]] = b[info["split_from_index"]] - 2.0
    grey = [classes.index("brain_mri") if "brain_mri" in classes else -1, info["new_index"]]
    best = _finetune(model, out, rec, epochs, lr, seed, max_steps, grey, f"router+{task}")
    return {"best_val": best, "classes": classes}


def _finetune(model, out: Path, rec: dict, epochs: int, lr: float, seed: int, max_steps: int | None,
              grey_classes, tag: str) -> float:
    """The router recipe's loop on ``out/router_data.npz`` (class-balanced batches of every class, the recipe's
    augmentation, 30 % grey replacement for ``grey_classes``), AdamW with warm-up + cosine; ``best.pt`` and
    ``log.jsonl`` in ``out``.  Returns the best balanced validation accuracy."""
    import torch
    import torch.nn.functional as F

    from .augment import AugmentConfig, _renorm, augment_batch
    from .train import _balanced, _lr_at, _save, evaluate_router

    classes = rec["classes"]
    z = np.load(out / "router_data.npz", allow_pickle=False)
    Xtr, ytr, Xva, yva = z["X_train"], z["y_train"], z["X_val"], z["y_val"]
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    steps = max(1, rec["samples_per_epoch"] // rec["batch"])
    total = steps * epochs if not max_steps else min(max_steps, steps * epochs)
    warmup = max(1, total // 20)
    aug = AugmentConfig(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in rec["augment"].items()})
    best, step, t0 = -1.0, 0, time.time()
    start = evaluate_router(model, Xva, yva, "cpu")
    print(f"{tag}: {len(classes)} classes, start balanced val accuracy {start:.4f}", flush=True)
    log = open(out / "log.jsonl", "a")
    grey_ok_classes = np.asarray(grey_classes)
    for epoch in range(epochs):
        if step >= total:
            break
        order = _balanced(ytr, steps * rec["batch"], rng)
        losses = []
        for k in range(steps):
            if step >= total:
                break
            idx = order[k * rec["batch"]:(k + 1) * rec["batch"]]
            x, _ = augment_batch(torch.from_numpy(Xtr[idx]), None, aug, gen)
            grey_ok = torch.from_numpy(np.isin(ytr[idx], grey_ok_classes))
            pick = grey_ok & (torch.rand(len(idx), generator=gen) < 0.3)
            if pick.any():
                ch = torch.randint(0, 3, (len(idx),), generator=gen)
                grey = _renorm(x[torch.arange(len(idx)), ch][:, None]).expand(-1, 3, -1, -1)
                x = torch.where(pick.view(-1, 1, 1, 1), grey, x)
            for g in opt.param_groups:
                g["lr"] = _lr_at(step, total, lr, warmup)
            loss = F.cross_entropy(model(x.contiguous(memory_format=torch.channels_last)).float(),
                                   torch.from_numpy(ytr[idx]))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
            step += 1
        score = evaluate_router(model, Xva, yva, "cpu")
        r = {"task": "router", "epoch": epoch + 1, "step": step, "loss": round(float(np.mean(losses)), 5),
             "val_score": round(score, 5), "elapsed_s": round(time.time() - t0, 1)}
        if score >= best:
            best = score
            _save(out / "best.pt", {"model": model.state_dict(), "epoch": epoch, "val_score": score})
            r["best"] = True
        log.write(json.dumps(r) + "\n")
        log.flush()
        print(json.dumps(r), flush=True)
    log.close()
    return best


def add_lowres(base, out, data_root=None, seed: int = 0) -> dict:
    """Copy ``base/router_data.npz`` to ``out`` with low-resolution brain_mri views appended to every part.

    The views (``router_data.lowres_brain_samples``: LGG slices, grey single sequences, the DICOM series and the
    sagittal T1 series resliced axially and coronally, down-sampled to 24-64 px) are made from the brain_mri sources
    already in the base data, each in the part of the source it comes from: an LGG slice's view in its patient's part
    (read from the base data's names), a series view in its slab block's part.  Names end in ``#lowres[k]``.  The base
    images and split are kept unchanged; the test split gains the test sources' views (reported apart by
    ``compare``)."""
    from ..inference.preprocess import router_input
    from .router_data import LOWRES_SUFFIX, lowres_brain_samples

    base, out = Path(base), Path(out)
    z = np.load(base / "router_data.npz", allow_pickle=False)
    cfg = json.loads((base / "config.json").read_text())
    brain = list(cfg["classes"]).index("brain_mri")
    if any(LOWRES_SUFFIX in str(n) for p in ("train", "val", "test") for n in z[f"n_{p}"]):
        raise ValueError(f"{base}/router_data.npz already holds low-resolution views")
    parts = {str(n).split(":", 1)[1]: p for p in ("train", "val", "test")
             for n, t in zip(z[f"n_{p}"], z[f"y_{p}"]) if t == brain}
    views = lowres_brain_samples(data_root, parts=parts, seed=seed)
    arrays, counts, added = {}, {}, {}
    for p in ("train", "val", "test"):
        mine = [(img, name) for part, img, name in views if part == p]
        xs = np.stack([router_input(img)[0] for img, _ in mine]).astype(np.float32)
        arrays[f"X_{p}"] = np.concatenate([z[f"X_{p}"], xs])
        arrays[f"y_{p}"] = np.concatenate([z[f"y_{p}"], np.full(len(mine), brain, z[f"y_{p}"].dtype)])
        arrays[f"n_{p}"] = np.concatenate([z[f"n_{p}"], np.array([f"brain_mri:{n}" for _, n in mine])])
        counts[p] = {c: int((arrays[f"y_{p}"] == i).sum()) for i, c in enumerate(cfg["classes"])}
        added[p] = len(mine)
    names = np.concatenate([arrays[f"n_{p}"] for p in ("train", "val", "test")])
    if len(set(names.tolist())) != len(names):
        raise ValueError("low-resolution view names are not unique")
    out.mkdir(parents=True, exist_ok=True)
    np.savez(out / "router_data.npz", **arrays)
    return {"classes": list(cfg["classes"]), "split_counts": counts, "lowres_added": added}


def augment(base, out, plugins=None, data_root=None, epochs: int = 12, lr: float = 1e-3, seed: int = 0,
            threads: int | None = 1, max_steps: int | None = None) -> dict:
    """Fine-tune a finished router (same classes) on its data plus the low-resolution brain_mri views
    (:func:`add_lowres`), with rehearsal of every class; the task plugins are only fingerprinted."""
    import torch

    from .model import build_model

    if threads:
        torch.set_num_threads(threads)
    base, out = Path(base), Path(out)
    info = add_lowres(base, out, data_root, seed)
    rec = json.loads((base / "config.json").read_text())
    rec.update(split_counts=info["split_counts"], epochs=epochs, lr=lr, seed=seed, base=str(base),
               lowres_brain={"added": info["lowres_added"],
                             "rule": "router_data.lowres_brain_samples: coarse (24-64 px) views of the brain_mri "
                                     "sources, each in its source's part"})
    if plugins:
        rec["task_plugins_at_start"] = task_plugin_fingerprints(Path(plugins))
    (out / "config.json").write_text(json.dumps(rec, indent=1))
    classes = rec["classes"]
    model = build_model("router", rec["input"]["channels"], len(classes), rec["widths"])
    model.load_state_dict(torch.load(base / "best.pt", map_location="cpu")["model"])
    grey = [classes.index(c) for c in ("brain_mri", "hippocampus") if c in classes]
    best = _finetune(model, out, rec, epochs, lr, seed, max_steps, grey, "router+lowres")
    return {"best_val": best, "classes": classes, "lowres_added": info["lowres_added"]}


def _router_label(plugin_dir: Path, st_voxels, eng):
    from ..inference.manifest import load_manifest
    from ..inference.preprocess import preprocess, softmax
    from ..inference.router import representative_slices

    p = load_manifest(plugin_dir, source="compare")
    votes = []
    for z in representative_slices(st_voxels):
        pr = softmax(np.asarray(eng.infer(p, preprocess(st_voxels[z], p.input)[0])).reshape(1, -1))[0]
        k = int(pr.argmax())
        votes.append(p.classes[k] if pr[k] >= p.router_threshold else "abstain")
    return max(set(votes), key=votes.count)


def compare(before: Path, after: Path, run: Path, plugins: Path, out: Path, data_root=None) -> dict:
    """Before/after: test-split routing (old classes and the new one), volume-level routing, task plugins."""
    from ..inference.engine import get_engine
    from ..io import open_study
    from . import data as D
    from .hippocampus import list_cases
    from .quantize import compile_model
    from .router_eval import probs

    z = np.load(run / "router_data.npz", allow_pickle=False)
    cfg = json.loads((run / "config.json").read_text())
    classes, new = cfg["classes"], len(cfg["classes"]) - 1
    X, y = z["X_test"], z["y_test"]
    lowres = np.array(["#lowres" in str(n) for n in z["n_test"]], bool)  # add_lowres views: reported apart
    res: dict = {"classes_before": None, "classes_after": classes, "n_test": int(len(y)),
                 "n_test_lowres": int(lowres.sum())}
    rows, heads = {}, {}
    for name, folder in (("before", before), ("after", after)):
        mf = json.loads((folder / "metrics.json").read_text())
        thr = mf["threshold"]
        p = probs(compile_model(folder / "model.xml", False), X)
        k = p.shape[1]
        top = p.argmax(1)
        other = classes.index("other")
        dec = np.where((top != other) & (p.max(1) < thr), other, top)
        truth_old = np.where(y == new, classes.index("brain_mri"), y)  # what the 4-class router was taught
        old_mask = (y != new) & ~lowres
        heads[name] = f"router {name} ({mf.get('version', '?')}, {k} classes)"
        r = {"classes": k, "threshold": thr, "version": mf.get("version"),
             "old_task_accuracy": round(float((dec[old_mask & (y != other)] == y[old_mask & (y != other)]).mean()), 4),
             "other_rejected": round(float((dec[y == other] == other).mean()), 4)}
        for i, c in enumerate(classes[:4]):
            r[f"recall_{c}"] = round(float((dec[(y == i) & ~lowres] == i).mean()), 4)
        if lowres.any():
            r["lowres_brain_to_brain_mri"] = round(float((dec[lowres] == classes.index("brain_mri")).mean()), 4)
            r["lowres_brain_to_hippocampus"] = round(float((dec[lowres] == new).mean()), 4) if k > new else 0.0
        hip = y == new
        r["hippocampus_slices_to_hippocampus"] = round(float((dec[hip] == new).mean()), 4) if k > new else 0.0
        r["hippocampus_slices_to_brain_mri"] = round(float((dec[hip] == classes.index("brain_mri")).mean()), 4)
        r["accuracy_as_taught"] = round(float((dec[~lowres] == (y if k > new else truth_old)[~lowres]).mean()), 4)
        rows[name] = r
    res["test_split"] = rows
    # volume level, through the viewer's own voting router (representative slices, threshold, majority)
    eng = get_engine("CPU")
    cases = list_cases(None if data_root is None else Path(data_root) / "nifti" / "msd_task04_hippocampus")
    hip_test = {str(n).split(":", 1)[1].split(".nii")[0] for n, t in zip(z["n_test"], y) if t == new}
    test_cases = [img for c, img, _ in cases if c in hip_test]
    root = Path(data_root) if data_root else D.DEFAULT_DATA_ROOT
    series = [d for d in sorted((root / "dicom_series").glob("*")) if d.is_dir()]
    import nibabel

    sample = Path(nibabel.__file__).resolve().parent / "tests" / "data" / "anatomical.nii"
    if sample.is_file():  # never trained on: a coarse (2 mm) whole-head T1 volume, the viewer's sample study
        series.append(sample)
    vol = {}
    for name, folder in (("before", before), ("after", after)):
        hv = [_router_label(folder, open_study(v).voxels, eng) for v in test_cases]
        sv = [_router_label(folder, open_study(s).voxels, eng) for s in series]
        counts = dict(zip(*np.unique(hv, return_counts=True))) if hv else {}
        vol[name] = {"hippocampus_volumes": {str(k): int(v) for k, v in counts.items()},
                     "brain_series": dict(zip([s.name for s in series], sv))}
    res["volumes"] = vol
    res["n_hippocampus_test_volumes"] = len(test_cases)
    now = task_plugin_fingerprints(plugins)
    start = cfg.get("task_plugins_at_start", {})
    res["task_plugins"] = {t: {"primary_int8": v["primary_int8"], "unchanged": start.get(t) == v if start else None}
                           for t, v in now.items()}
    out.mkdir(parents=True, exist_ok=True)
    (out / "compare.json").write_text(json.dumps(res, indent=1))
    md = [f"| | {heads['before']} | {heads['after']} |", "|---|---|---|"]
    b, a = rows["before"], rows["after"]
    for key, label in (("old_task_accuracy", "old-task test slices routed right (brain_mri, nuclei, polyp)"),
                       ("recall_brain_mri", "  brain_mri recall"), ("recall_nuclei", "  nuclei recall"),
                       ("recall_polyp", "  polyp recall"), ("other_rejected", "'other' rejected"),
                       ("hippocampus_slices_to_hippocampus", "hippocampus test slices -> hippocampus"),
                       ("hippocampus_slices_to_brain_mri", "hippocampus test slices -> brain_mri")):
        md.append(f"| {label} | {b[key]:.4f} | {a[key]:.4f} |")
    if lowres.any():
        md.append(f"| low-resolution brain test views ({int(lowres.sum())}) -> brain_mri / -> hippocampus | "
                  f"{b['lowres_brain_to_brain_mri']:.4f} / {b['lowres_brain_to_hippocampus']:.4f} | "
                  f"{a['lowres_brain_to_brain_mri']:.4f} / {a['lowres_brain_to_hippocampus']:.4f} |")
    md.append(f"| hippocampus test volumes (router vote) | {vol['before']['hippocampus_volumes']} | "
              f"{vol['after']['hippocampus_volumes']} |")
    for s in vol["before"]["brain_series"]:
        md.append(f"| brain volume {s} | {vol['before']['brain_series'][s]} | {vol['after']['brain_series'][s]} |")
    for t, v in res["task_plugins"].items():
        md.append(f"| task model {t}: INT8 primary metric / files | {v['primary_int8']} | {v['primary_int8']} "
                  f"({'unchanged' if v['unchanged'] else 'CHANGED' if v['unchanged'] is False else 'not recorded'}) |")
    (out / "compare.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--base", required=True, type=Path, help="the finished router's training folder")
    t.add_argument("--task", required=True)
    t.add_argument("--match", required=True, help="samples whose name contains this become the new class")
    t.add_argument("--split-from", default="brain_mri")
    t.add_argument("--out", required=True, type=Path)
    t.add_argument("--plugins", type=Path, default=Path("plugins"))
    t.add_argument("--epochs", type=int, default=15)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--threads", type=int, default=1)
    t.add_argument("--max-steps", type=int)
    t.add_argument("--zoom-copies", action="store_true",
                   help="add zoomed, coarse copies of the split class (tried: did not help, see docs/training.md)")
    g = sub.add_parser("augment", help="fine-tune a finished router on its data + low-resolution brain_mri views")
    g.add_argument("--base", required=True, type=Path, help="the finished router's training folder (same classes)")
    g.add_argument("--out", required=True, type=Path)
    g.add_argument("--plugins", type=Path, default=Path("plugins"))
    g.add_argument("--data", type=Path, help="the shared-data root (default ../shared/data)")
    g.add_argument("--epochs", type=int, default=12)
    g.add_argument("--lr", type=float, default=1e-3)
    g.add_argument("--threads", type=int, default=1)
    g.add_argument("--max-steps", type=int)
    c = sub.add_parser("compare")
    c.add_argument("--before", required=True, type=Path)
    c.add_argument("--after", required=True, type=Path)
    c.add_argument("--run", required=True, type=Path)
    c.add_argument("--plugins", type=Path, default=Path("plugins"))
    c.add_argument("--out", required=True, type=Path)
    c.add_argument("--data", type=Path)
    a = ap.parse_args(argv)
    if a.cmd == "train":
        train(a.base, a.out, a.task, a.match, a.plugins, a.epochs, a.lr, threads=a.threads, max_steps=a.max_steps,
              split_from=a.split_from, lowres=a.zoom_copies)
    elif a.cmd == "augment":
        augment(a.base, a.out, a.plugins, a.data, a.epochs, a.lr, threads=a.threads, max_steps=a.max_steps)
    else:
        compare(a.before, a.after, a.run, a.plugins, a.out, a.data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
