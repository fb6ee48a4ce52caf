"""Segmentation and routing metrics (numpy)."""

from __future__ import annotations

import numpy as np


def counts(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    p, g = np.asarray(pred) > 0, np.asarray(gt) > 0
    tp = int(np.count_nonzero(p & g))
    return np.array([tp, int(np.count_nonzero(p)) - tp, int(np.count_nonzero(g)) - tp], dtype=np.int64)


def scores(c: np.ndarray) -> dict[str, float]:
    """tp, fp, fn -> dice, iou, sensitivity, precision (empty prediction of an empty truth scores 1)."""
    tp, fp, fn = (float(v) for v in c)
    if tp + fp + fn == 0:
        return {"dice": 1.0, "iou": 1.0, "sensitivity": 1.0, "precision": 1.0}
    return {
        "dice": 2 * tp / (2 * tp + fp + fn),
        "iou": tp / (tp + fp + fn),
        "sensitivity": tp / (tp + fn) if tp + fn else 1.0,
        "precision": tp / (tp + fp) if tp + fp else (1.0 if tp + fn == 0 else 0.0),
    }


def summarise(per_image: list[tuple[str, str, np.ndarray]]) -> dict:
    """per_image: (key, group, counts).  Reports the mean over images, the mean over groups (pooling each group's
    pixels, e.g. a patient's slices) and the dataset-wide pooled scores."""
    names = ("dice", "iou", "sensitivity", "precision")
    img = [scores(c) for _, _, c in per_image]
    groups: dict[str, np.ndarray] = {}
    for _, g, c in per_image:
        groups[g] = groups.get(g, 0) + c
    grp = {g: scores(c) for g, c in groups.items()}
    total = sum((c for _, _, c in per_image), np.zeros(3, np.int64))
    out = {
        "per_image": {k: float(np.mean([s[k] for s in img])) for k in names},
        "per_group": {k: float(np.mean([s[k] for s in grp.values()])) for k in names},
        "pooled": scores(total),
        "n_images": len(per_image),
        "n_groups": len(groups),
        "groups": {g: round(s["dice"], 4) for g, s in sorted(grp.items())},
    }
    return out
