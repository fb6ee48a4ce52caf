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
    ci = group_bootstrap_ci(per_image)
    if ci:
        out["dice_ci95"] = ci
    return out


def _group_arrays(rows):
    """Group names (sorted), per group: the sum of the images' Dice, the image count, the pooled Dice."""
    names = sorted({g for _, g, _ in rows})
    idx = {g: i for i, g in enumerate(names)}
    sums, sizes = np.zeros(len(names)), np.zeros(len(names))
    pooled = [np.zeros(3, np.int64) for _ in names]
    for _, g, c in rows:
        sums[idx[g]] += scores(c)["dice"]
        sizes[idx[g]] += 1
        pooled[idx[g]] = pooled[idx[g]] + c
    return names, sums, sizes, np.array([scores(c)["dice"] for c in pooled])


def _draws(n_groups: int, seed: int, n: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n_groups, size=(n, n_groups))


def _means(arrays, draw):
    _, sums, sizes, gdice = arrays
    return {"per_image": sums[draw].sum(1) / sizes[draw].sum(1), "per_group": gdice[draw].mean(1)}


def _pct(v) -> list[float]:
    return [round(float(x), 4) for x in np.percentile(v, [2.5, 97.5])]


def group_bootstrap_ci(rows, seed: int = 0, n: int = BOOTSTRAP_RESAMPLES) -> dict | None:
    """How far the Dice means could move on other cases from the same sources: the 2.5th and 97.5th percentiles of
    the per-image and per-group means over ``n`` resamples of the groups (patients, video sequences) with
    replacement, all images of a drawn group together, as images of one group are not independent.  ``rows``: as
    :func:`summarise`.  None for fewer than 2 groups.  With few groups (a test split of 4 patients or 5 sequences)
    the interval is wide, and if anything too narrow (few distinct resamples, never past the best or worst group)."""
    arrays = _group_arrays(rows)
    if len(arrays[0]) < 2:
        return None
    m = _means(arrays, _draws(len(arrays[0]), seed, n))
    return {"per_image": _pct(m["per_image"]), "per_group": _pct(m["per_group"]), "resamples": n, "unit": "group",
            "seed": seed}


def paired_difference_ci(rows_new, rows_base, seed: int = 0, n: int = BOOTSTRAP_RESAMPLES) -> dict | None:
    """Whether one model beats another on the same test cases: the 95 % interval of (new − base) for both Dice means,
    the same group resamples applied to both (paired), so what the cases share cancels out.  Both row lists must
    score the same images.  None for fewer than 2 groups."""
    if [(k, g) for k, g, _ in rows_new] != [(k, g) for k, g, _ in rows_base]:
        raise ValueError("paired_difference_ci: the two models were not scored on the same images")
    a, b = _group_arrays(rows_new), _group_arrays(rows_base)
    if len(a[0]) < 2:
        return None
    draw = _draws(len(a[0]), seed, n)
    ma, mb = _means(a, draw), _means(b, draw)
    return {k: _pct(ma[k] - mb[k]) for k in ("per_image", "per_group")} | {"resamples": n, "unit": "group",
                                                                            "seed": seed}
