"""The training loop shared by the task models (U-Net, Dice+BCE) and the router (CNN, cross-entropy).

AdamW + linear warm-up + cosine decay, mixed precision (bf16 autocast on CPU/Gaudi, fp16 AMP on CUDA), DDP when
started by torchrun, checkpoints every epoch (``last.pt``, resumed automatically) and on a better validation score
(``best.pt``), a JSON-lines metrics log (``log.jsonl``) and a tqdm progress bar.  Everything a later step needs
(recipe, split, data folder) is written to ``config.json`` in the training folder.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..inference.preprocess import preprocess, resize_mask
from . import data as D
from .augment import AugmentConfig, augment_batch, random_crops, _renorm
from .device import Dist, autocast, grad_scaler, mark_step, resolve_device
from .model import build_model, count_parameters
from .tasks import recipe as make_recipe


def load_split_arrays(rec: dict, data_dir, split: dict, parts=("train", "val"), limit: int | None = None):
    """Preprocess (the inference code path) every sample of the given parts: {part: (X, Y, samples)}."""
    samples = D.list_samples(rec["task"], data_dir)
    out = {}
    for part in parts:
        sel = D.select(samples, split, part)[:limit] if limit else D.select(samples, split, part)
        xs, ys = [], []
        for s in sel:
            img, mask = D.read_sample(s)
            x, _ = preprocess(img, rec["input"])
            xs.append(x[0])
            ys.append(resize_mask(mask, rec["input"]["size"]))
        out[part] = (np.stack(xs), np.stack(ys), sel)
    return out


# what makes a run folder hold a different model from the current recipe (then it must not be resumed or packaged)
RECIPE_KEYS = ("architecture", "widths", "input", "pretrained")


def check_run_folder(out_dir, rec: dict) -> None:
    """A run folder left by an older recipe (e.g. polyp 1.0.x, a U-Net from scratch at 160x160) would be skipped as
    done, fail to resume, or be packaged as if it were current: refuse it with a sentence that says what to do."""
    cfg = Path(out_dir) / "config.json"
    if not cfg.is_file():
        return
    try:
        old = json.loads(cfg.read_text())
    except (OSError, ValueError):
        return
    diff = [k for k in RECIPE_KEYS if old.get(k) != rec.get(k) and (k in old or k in rec)]
    if diff:
        raise D.TrainingDataError(
            f"{out_dir} was trained with an older {rec.get('task', old.get('task', ''))} recipe "
            f"({'; '.join(f'{k}: {_short(old.get(k))} -> {_short(rec.get(k))}' for k in diff)}); move it aside (e.g. to {Path(out_dir).name}_old) "
            f"or delete it, then run again to train the current recipe.", out_dir)


def _short(v, n: int = 60) -> str:
    t = json.dumps(v)
    return t if len(t) <= n else t[:n - 3] + "..."


def dice_bce(logits: torch.Tensor, target: torch.Tensor, per_image: bool = False) -> torch.Tensor:
    """BCE + soft Dice.  ``per_image``: the Dice term is averaged over the images of the batch instead of pooled,
    so a small polyp counts as much as a large one (as in the per-image Dice the task is scored by)."""
    logits = logits.float()
    bce = F.binary_cross_entropy_with_logits(logits, target)
    p = torch.sigmoid(logits)
    dims = (1, 2, 3) if per_image else (0, 1, 2, 3)
    inter = (p * target).sum(dims)
    dice = 1 - (2 * inter + 1) / (p.sum(dims) + target.sum(dims) + 1)
    return bce + dice.mean()


def _lr_at(step: int, total: int, base: float, warmup: int) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return base * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(1.0, t))))


@torch.no_grad()
def evaluate_seg(model, X, Y, samples, device, batch: int = 8) -> float:
    """Validation Dice at the model size, pooled per group (patient / sequence / image), mean over groups."""
    model.eval()
    acc: dict[str, np.ndarray] = {}
    for i in range(0, len(X), batch):
        x = torch.from_numpy(X[i:i + batch]).to(device)
        p = (model(x).float() > 0).cpu().numpy()[:, 0]
        for j, pr in enumerate(p):
            g, t = samples[i + j].group, Y[i + j]
            tp = np.count_nonzero(pr & t)
            acc[g] = acc.get(g, 0) + np.array([tp, pr.sum() - tp, t.sum() - tp])
    model.train()
    d = [1.0 if c.sum() == 0 else 2 * c[0] / (2 * c[0] + c[1] + c[2]) for c in acc.values()]
    return float(np.mean(d))


@torch.no_grad()
def evaluate_router(model, X, y, device, batch: int = 256) -> float:
    model.eval()
    pred = np.concatenate([model(torch.from_numpy(X[i:i + batch]).to(device)).argmax(1).cpu().numpy()
                           for i in range(0, len(X), batch)])
    model.train()
    recalls = [float((pred[y == c] == c).mean()) for c in np.unique(y)]
    return float(np.mean(recalls))  # balanced accuracy


def resume(last: Path, model, opt, task: str) -> tuple[int, int, float]:
    """(first epoch, step, best validation score) to go on from: from ``last.pt`` when there is one (model and
    optimizer state loaded in place), else (0, 0, -1.0).  A checkpoint of another network is a clear error."""
    import torch

    if not last.is_file():
        return 0, 0, -1.0
    ck = torch.load(last, map_location="cpu", weights_only=False)
    try:
        model.load_state_dict(ck["model"])
    except RuntimeError as e:
        raise D.TrainingDataError(f"{last} does not fit the current {task} network; move {last.parent} aside or "
                                  f"delete it to train from the start ({str(e)[:200]}).", last) from e
    opt.load_state_dict(ck["opt"])
    return ck["epoch"] + 1, ck["step"], ck["best"]


def _save(path: Path, obj) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    tmp.replace(path)


def train(task: str, out_dir, data_dir=None, device: str = "auto", epochs: int | None = None, init=None,
          seed: int = 0, limit: int | None = None, max_steps: int | None = None, batch: int | None = None,
          crop: int | None = None, amp: bool = True, threads: int | None = None, progress: bool = True,
          split_seed: int | None = None, hold_out_val: bool = False, lr: float | None = None,
          swa: bool = False) -> dict:
    """Train one task into ``out_dir``; returns the final log record.  ``seed`` drives initialisation, sampling and
    augmentation; ``split_seed`` (default: ``seed``) the train/val/test split, so models trained with different seeds
    on the same split can be compared or averaged.  ``hold_out_val``: learn from the train split only, also where the
    recipe's final fit adds the validation split, so that validation stays unseen (``quantize`` then chooses the
    output threshold on it).  ``lr``: peak learning rate instead of the recipe's.  ``swa``: stochastic weight
    averaging (Izmailov et al. 2018), meant for a short fine-tune from a trained network (``init``): a constant
    learning rate after the warm-up, the weights averaged at the end of every epoch, BatchNorm statistics recomputed
    for the average on the training images; the average is what best.pt holds."""
    split_seed = seed if split_seed is None else split_seed
    if threads:
        torch.set_num_threads(threads)
    dev = resolve_device(device)
    dist = Dist(dev)
    tdev = dist.torch_device
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rec = make_recipe(task, epochs=epochs, batch=batch, crop=crop, train_parts=["train"] if hold_out_val else None,
                      lr=lr, swa=True if swa else None)
    if rec.get("swa") and (task == "router" or not init):
        raise D.TrainingDataError("--swa averages the weights of a short fine-tune of a trained segmentation network: "
                                  "give the network with --init (a plugin, a TRAIN_DIR or a checkpoint).")
    if (out / "last.pt").is_file() and not init:
        check_run_folder(out, rec)  # before config.json is overwritten
    rec.update(seed=seed, split_seed=split_seed, data_dir=str(data_dir) if data_dir else None, limit=limit, device=dev, world=dist.world)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed + 1000 * dist.rank)
    gen = torch.Generator().manual_seed(seed + 1000 * dist.rank)

    if task == "router":
        from . import router_data as R

        root = Path(data_dir) if data_dir else None
        cache = out / "router_data.npz"
        if cache.is_file():
            z = np.load(cache, allow_pickle=False)
            arrays = {p: (z[f"X_{p}"], z[f"y_{p}"], list(z[f"n_{p}"])) for p in ("train", "val", "test")}
        else:
            arrays = R.collect(root, seed, limit=limit, progress=lambda m: print(m, flush=True))
            if dist.main:
                np.savez(cache, **{f"{k}_{p}": v for p in arrays for k, v in zip("Xyn", arrays[p])})
        rec["split"] = {p: sorted({n.split("/")[0].split("#")[0] for n in arrays[p][2]}) for p in arrays}
        rec["split_counts"] = {p: {c: int((arrays[p][1] == i).sum()) for i, c in enumerate(R.CLASSES)}
                               for p in arrays}
        Xtr, ytr = arrays["train"][0], arrays["train"][1]
        n_train = rec["samples_per_epoch"] if not limit else len(Xtr)
        out_ch = len(R.CLASSES)
    else:
        samples = D.list_samples(task, data_dir)
        rec["split"] = D.make_split(samples, split_seed)
        arrays = load_split_arrays(rec, data_dir, rec["split"], limit=limit)
        parts = rec.get("train_parts", ["train"])  # ["train", "val"]: the final fit also learns from val
        Xtr = np.concatenate([arrays[p][0] for p in parts])
        Ytr = np.concatenate([arrays[p][1] for p in parts])
        n_train = len(Xtr)
        out_ch = 1

    model = build_model(rec["architecture"], rec["input"]["channels"], out_ch, rec["widths"])
    if rec.get("pretrained") and not init:  # ImageNet encoder weights (resuming from last.pt overwrites them)
        from .model import PretrainedWeightsMissing, load_pretrained_encoder

        try:
            rec["pretrained_tensors"] = load_pretrained_encoder(model)
        except PretrainedWeightsMissing as e:
            raise D.TrainingDataError(f"{task}: {e}") from e
    if init:  # a TRAIN_DIR, checkpoint, plugin folder or plugin id (see finetune.resolve_init)
        from .finetune import resolve_init

        state, rec["init"] = resolve_init(init, task)
        try:
            model.load_state_dict(state)
        except RuntimeError as e:
            raise D.TrainingDataError(
                f"--init {init}: the weights do not fit the current {task} network ({rec['architecture']}, widths "
                f"{rec['widths']}); they were probably trained with an older recipe ({str(e)[:200]}).") from e
    if dist.main:
        (out / "config.json").write_text(json.dumps(rec, indent=1))
    model = model.to(tdev)
    if dev == "cuda" or dev == "cpu":
        model = model.to(memory_format=torch.channels_last)
    net = dist.wrap(model)
    opt = torch.optim.AdamW(model.parameters(), lr=rec["lr"], weight_decay=1e-4)
    swa_model = None
    if rec.get("swa"):
        from torch.optim.swa_utils import AveragedModel

        swa_model = AveragedModel(model)
    scaler = grad_scaler(dev, amp)
    local_batch = max(1, rec["batch"] // dist.world)
    steps_per_epoch = max(1, n_train // rec["batch"])
    total = steps_per_epoch * rec["epochs"]
    if max_steps:
        total = min(total, max_steps)
    warmup = min(100, max(1, total // 20))
    aug = AugmentConfig(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in rec["augment"].items()})

    last = out / "last.pt"
    start_epoch, step, best = resume(last, model, opt, task) if not init else (0, 0, -1.0)
    if start_epoch:
        rng = np.random.default_rng(seed + 1000 * dist.rank + 7919 * start_epoch)
        gen.manual_seed(seed + 1000 * dist.rank + 7919 * start_epoch)
        if dist.main:
            print(f"resuming {task} at epoch {start_epoch} (step {step}, best {best:.4f})", flush=True)
    if dist.main:
        print(f"{task}: {count_parameters(model)} parameters, {n_train} training samples/epoch, "
              f"{steps_per_epoch} steps/epoch, {total} steps, device {dev} x{dist.world}", flush=True)

    from tqdm import tqdm

    log = open(out / "log.jsonl", "a") if dist.main else None
    record: dict = {}
    t0 = time.time()
    epoch = start_epoch
    while epoch < rec["epochs"] and step < total:
        bar = tqdm(range(steps_per_epoch), desc=f"{task} epoch {epoch + 1}/{rec['epochs']}",
                   disable=not (progress and dist.main), mininterval=1 if sys.stderr.isatty() else 60,
                   file=sys.stderr)
        losses = []
        if task == "router":
            order = _balanced(ytr, steps_per_epoch * rec["batch"], rng)
        else:
            order = np.concatenate([rng.permutation(n_train) for _ in range(math.ceil(
                steps_per_epoch * rec["batch"] / n_train))])
        for k in bar:
            if step >= total:
                break
            idx = order[k * rec["batch"]:(k + 1) * rec["batch"]][dist.rank::dist.world][:local_batch]
            if task == "router":
                x = torch.from_numpy(Xtr[idx])
                x, _ = augment_batch(x, None, aug, gen)
                brain = torch.from_numpy(ytr[idx] == 0) & (torch.rand(len(idx), generator=gen) < 0.3)
                if brain.any():
                    ch = torch.randint(0, 3, (len(idx),), generator=gen)
                    grey = _renorm(x[torch.arange(len(idx)), ch][:, None]).expand(-1, 3, -1, -1)
                    x = torch.where(brain.view(-1, 1, 1, 1), grey, x)
                target = torch.from_numpy(ytr[idx])
            else:
                xb, yb = random_crops(list(Xtr[idx]), list(Ytr[idx]), rec.get("crop"), rng, rec.get("fg_prob", 0.5))
                x, y = augment_batch(torch.from_numpy(xb), torch.from_numpy(yb[:, None].astype(np.float32)), aug, gen)
                target = y.to(tdev)
            x = x.contiguous(memory_format=torch.channels_last).to(tdev)
            target = target.to(tdev)
            for g in opt.param_groups:  # SWA: constant after the warm-up, so the averaged weights differ
                g["lr"] = (rec["lr"] * min(1.0, (step + 1) / warmup) if swa_model is not None
                           else _lr_at(step, total, rec["lr"], warmup))
            with autocast(dev, amp):
                logits = net(x)
            loss = (F.cross_entropy(logits.float(), target) if task == "router"
                    else dice_bce(logits, target, per_image=rec.get("loss") == "dice_bce_per_image"))
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            mark_step(dev)
            scaler.step(opt)
            scaler.update()
            mark_step(dev)
            losses.append(float(loss.detach()))
            step += 1
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.4f}", refresh=False)
        bar.close()
        train_loss = dist.all_mean(float(np.mean(losses)) if losses else float("nan"))
        last_epoch = epoch + 1 >= rec["epochs"] or step >= total
        if swa_model is not None:
            swa_model.update_parameters(model)
            if last_epoch:  # the average becomes the network: its BatchNorm statistics measured on training images
                update_swa_batchnorm(swa_model, Xtr, rec["batch"], tdev)
                model.load_state_dict(swa_model.module.state_dict())
        if dist.main and ((epoch + 1) % rec.get("val_every", 1) == 0 or last_epoch):
            if task == "router":
                score = evaluate_router(model, arrays["val"][0], arrays["val"][1], tdev)
            else:
                score = evaluate_seg(model, arrays["val"][0], arrays["val"][1], arrays["val"][2], tdev)
            if swa_model is not None:
                extra = {"swa_averaged_epochs": int(swa_model.n_averaged), "swa_final": bool(last_epoch)}
            else:
                extra = {}
            record = {"task": task, "epoch": epoch + 1, "step": step, "loss": round(train_loss, 5), **extra,
                      "lr": opt.param_groups[0]["lr"], "val_score": round(score, 5),
                      "val_in_training": "val" in rec.get("train_parts", ["train"]),
                      "elapsed_s": round(time.time() - t0, 1)}
            final = last_epoch and rec.get("select") == "last"
            if score >= best or final:
                best = max(best, score)
                _save(out / "best.pt", {"model": model.state_dict(), "epoch": epoch, "val_score": score})
                record["best"] = True
            _save(last, {"model": model.state_dict(), "opt": opt.state_dict(), "epoch": epoch, "step": step,
                         "best": best})
            log.write(json.dumps(record) + "\n")
            log.flush()
            print(json.dumps(record), flush=True)
        elif dist.main:
            _save(last, {"model": model.state_dict(), "opt": opt.state_dict(), "epoch": epoch, "step": step,
                         "best": best})
        dist.barrier()
        epoch += 1
    if log:
        log.close()
    dist.barrier()
    dist.close()
    return record


def update_swa_batchnorm(swa_model, X: np.ndarray, batch: int, tdev) -> None:
    """BatchNorm running statistics of the averaged network, from one pass over the training images (no
    augmentation; crops are not needed for statistics)."""
    from torch.optim.swa_utils import update_bn

    batches = (torch.from_numpy(np.ascontiguousarray(X[i:i + batch])).float()
               .contiguous(memory_format=torch.channels_last).to(tdev) for i in range(0, len(X), batch))
    update_bn(batches, swa_model)


def _balanced(y: np.ndarray, n: int, rng) -> np.ndarray:
    """n indices with every class equally likely (the router's class-balanced sampling)."""
    classes = np.unique(y)
    per = [np.flatnonzero(y == c) for c in classes]
    pick = rng.integers(0, len(classes), n)
    return np.array([per[c][rng.integers(len(per[c]))] for c in pick])
