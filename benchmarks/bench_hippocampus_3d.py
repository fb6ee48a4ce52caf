"""2D slice-wise vs a small 3D U-Net for the hippocampus task: the 3D side of the comparison (time-boxed, CPU).

    .venv/bin/python benchmarks/bench_hippocampus_3d.py --minutes 15 --threads 1 [--json OUT.json]

Same data, same case split (seed 0), same metric as viewer/training/hippocampus.py (3D Dice per test case on the
original grid, mean over cases and both labels), but a 3D U-Net [16, 32, 64] on whole volumes zero-padded to
48x60x48 (per-volume 0.5/99.5 percentile normalisation), cross-entropy + Dice, AdamW 3e-3 with cosine decay over a
fixed wall-clock budget.  FP32 torch only (the viewer's engine runs 2D slices; a 3D plugin would need a 3D path).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from viewer.training.hippocampus import ce_dice, dice_per_label, list_cases, load_case, make_split  # noqa: E402

SHAPE = (48, 60, 48)  # >= the largest crop (47 x 58 x 42), divisible by 4


def block(cin, cout):
    return nn.Sequential(nn.Conv3d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm3d(cout), nn.ReLU(inplace=True),
                         nn.Conv3d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm3d(cout), nn.ReLU(inplace=True))


class UNet3D(nn.Module):
    def __init__(self, widths=(16, 32, 64), n_classes=3):
        super().__init__()
        self.down = nn.ModuleList()
        c = 1
        for w in widths:
            self.down.append(block(c, w))
            c = w
        self.up = nn.ModuleList()
        for w in reversed(widths[:-1]):
            self.up.append(block(c + w, w))
            c = w
        self.head = nn.Conv3d(c, n_classes, 1)

    def forward(self, x):
        skips = []
        for i, b in enumerate(self.down):
            if i:
                x = F.max_pool3d(x, 2)
            x = b(x)
            skips.append(x)
        skips.pop()
        for b in self.up:
            x = F.interpolate(x, scale_factor=2.0, mode="trilinear", align_corners=False)
            x = b(torch.cat([x, skips.pop()], 1))
        return self.head(x)


def pad(v, value=0):
    out = np.full(SHAPE, value, v.dtype)
    s = tuple(slice(0, min(a, b)) for a, b in zip(v.shape, SHAPE))
    out[s] = v[s]
    return out


def norm(v):
    lo, hi = np.percentile(v, [0.5, 99.5])
    return np.clip((v - lo) / max(hi - lo, 1e-6), 0, 1).astype(np.float32)


def load(cases, names):
    keep = set(names)
    X, Y, orig = [], [], []
    for c, img, lab in cases:
        if c in keep:
            v, m = load_case(img, lab)
            X.append(pad(norm(v))[None])
            Y.append(pad(m))
            orig.append((c, v.shape, m))
    return np.stack(X), np.stack(Y).astype(np.int64), orig


@torch.no_grad()
def score(model, X, orig):
    model.eval()
    d = []
    for i, (_, shape, m) in enumerate(orig):
        p = model(torch.from_numpy(X[i:i + 1])).argmax(1)[0].numpy()
        d.append(dice_per_label(p[: shape[0], : shape[1], : shape[2]].astype(np.uint8), m))
    model.train()
    a = np.array(d)
    return float(a.mean()), a.mean(0).tolist()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=15)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--json")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    cases = list_cases()
    split = make_split(cases, 0)
    Xtr, Ytr, _ = load(cases, split["train"])
    Xva, _, ova = load(cases, split["val"])
    Xte, _, ote = load(cases, split["test"])
    model = UNet3D()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    budget, t0, step, best, log = a.minutes * 60, time.time(), 0, (-1.0, None), []
    steps_per_epoch = len(Xtr) // a.batch
    epoch = 0
    while time.time() - t0 < budget:
        order = rng.permutation(len(Xtr))
        for k in range(steps_per_epoch):
            frac = min(1.0, (time.time() - t0) / budget)
            for g in opt.param_groups:
                g["lr"] = 3e-3 * (0.02 + 0.98 * 0.5 * (1 + np.cos(np.pi * frac)))
            idx = order[k * a.batch:(k + 1) * a.batch]
            x = torch.from_numpy(Xtr[idx])
            x = (x * torch.empty(len(idx), 1, 1, 1, 1).uniform_(0.85, 1.15)).clamp(0, 1)
            loss = ce_dice(model(x), torch.from_numpy(Ytr[idx]))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
        epoch += 1
        v, _ = score(model, Xva, ova)
        log.append({"epoch": epoch, "step": step, "val": round(v, 4), "elapsed_s": round(time.time() - t0, 1)})
        print(json.dumps(log[-1]), flush=True)
        if v >= best[0]:
            best = (v, {k: t.clone() for k, t in model.state_dict().items()})
    model.load_state_dict(best[1])
    test_mean, per_label = score(model, Xte, ote)
    t1 = time.perf_counter()
    score(model, Xte[:5], ote[:5])
    res = {"model": "3D U-Net [16,32,64]", "params": sum(p.numel() for p in model.parameters()),
           "input": list(SHAPE), "epochs": epoch, "steps": step, "minutes": a.minutes, "threads": a.threads,
           "best_val": round(best[0], 4), "test_mean_dice_fp32": round(test_mean, 4),
           "test_dice_per_label_fp32": {"anterior": round(per_label[0], 4), "posterior": round(per_label[1], 4)},
           "torch_cpu_ms_per_volume": round((time.perf_counter() - t1) / 5 * 1000, 1), "log": log,
           "n_test": len(ote)}
    print(json.dumps({k: v for k, v in res.items() if k != "log"}, indent=1))
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
