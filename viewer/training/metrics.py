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


BOOTSTRAP_RESAMPLES = 2000


def summarise(per_image: list[tuple[str, str, np.ndarray]]) -> dict:
    """per_image: (key, group, counts).  Reports the mean over images, the mean over groups (pooling each group's
    pixels, e.g. a patient's slices) and the dataset-wide pooled scores, and a 95 % interval of both Dice means
    from a bootstrap over the groups (:func:`group_bootstrap_ci`)."""
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
    ci = group_bootstrap_ci([g for _, g, _ in per_image], [s["dice"] for s in img], groups)
    if ci:
        out["dice_ci95"] = ci
    return out


def group_bootstrap_ci(image_groups: list[str], image_dice: list[float], group_counts: dict, seed: int = 0,
                       n: int = BOOTSTRAP_RESAMPLES) -> dict | None:
    """How far the Dice means could move on other cases from the same sources: the 2.5th and 97.5th percentiles of
    the per-image and per-group means over ``n`` resamples of the groups (patients, video sequences) with
    replacement, all images of a drawn group together, as images of one group are not independent.  None for fewer
    than 2 groups.  With few groups (a test split of 4 patients or 5 sequences) the interval is wide: that is the
    honest size of what such a split can show."""
    names = sorted(group_counts)
    if len(names) < 2:
        return None
    idx = {g: i for i, g in enumerate(names)}
    sums = np.zeros(len(names))
    sizes = np.zeros(len(names))
    for g, d in zip(image_groups, image_dice):
        sums[idx[g]] += d
        sizes[idx[g]] += 1
    gdice = np.array([scores(group_counts[g])["dice"] for g in names])
    draw = np.random.default_rng(seed).integers(0, len(names), size=(n, len(names)))
    per_image = sums[draw].sum(1) / sizes[draw].sum(1)
    per_group = gdice[draw].mean(1)
    q = lambda v: [round(float(x), 4) for x in np.percentile(v, [2.5, 97.5])]  # noqa: E731
    return {"per_image": q(per_image), "per_group": q(per_group), "resamples": n, "unit": "group", "seed": seed}
