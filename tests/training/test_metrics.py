"""Segmentation metrics: Dice per image / per group and the bootstrap interval over groups (numpy only)."""

from __future__ import annotations

import numpy as np
import pytest

from viewer.training.metrics import counts, group_bootstrap_ci, paired_difference_ci, summarise


def _rows(spec):
    """spec: {group: [(tp, fp, fn), ...]} -> summarise rows."""
    return [(f"{g}{i}", g, np.array(c)) for g, cs in spec.items() for i, c in enumerate(cs)]


def test_counts_and_the_three_dice_means():
    gt = np.zeros((8, 8), bool)
    gt[2:6, 2:6] = True
    pred = np.zeros_like(gt)
    pred[2:6, 2:4] = True
    assert counts(pred, gt).tolist() == [8, 0, 8]
    s = summarise(_rows({"a": [(8, 0, 8), (10, 0, 0)], "b": [(0, 5, 5)]}))
    assert s["per_image"]["dice"] == pytest.approx((16 / 24 + 1 + 0) / 3)
    assert s["per_group"]["dice"] == pytest.approx((36 / 44 + 0) / 2)  # group a pools its pixels: 2*18/(36+8)
    assert s["pooled"]["dice"] == pytest.approx(36 / 54)
    assert s["n_groups"] == 2 and s["groups"] == {"a": round(36 / 44, 4), "b": 0.0}


def test_the_bootstrap_interval_spans_the_groups_and_is_reproducible():
    spec = {f"s{i}": [(9, 1, 0)] * 3 for i in range(4)}
    spec["bad"] = [(1, 5, 5)] * 3  # one hard sequence, as polyp's seq01
    s = summarise(_rows(spec))
    lo, hi = s["dice_ci95"]["per_image"]
    assert lo < s["per_image"]["dice"] < hi  # the point estimate lies inside
    assert hi == pytest.approx(18 / 19, abs=1e-4)  # resamples without the hard group reach the easy groups' score
    assert lo < 0.7  # resamples with it drawn twice or more pull far down: 5 groups show little
    again = summarise(_rows(spec))["dice_ci95"]
    assert again == s["dice_ci95"] and again["resamples"] == 2000 and again["unit"] == "group"
    same = summarise(_rows({f"s{i}": [(9, 1, 0)] * 2 for i in range(3)}))["dice_ci95"]["per_group"]
    assert same[0] == same[1] == pytest.approx(18 / 19, abs=1e-4)  # identical groups: no spread


def test_one_group_has_no_interval():
    assert "dice_ci95" not in summarise(_rows({"only": [(5, 1, 1), (3, 0, 2)]}))
    assert group_bootstrap_ci(_rows({"a": [(1, 1, 1)]})) is None


def test_the_paired_difference_is_narrower_than_either_interval():
    """Two models on the same cases: a hard group pulls both down together, so their difference stays small and
    its paired interval excludes 0 when the new model is better on every group, although the two single-model
    intervals overlap widely."""
    base = {f"s{i}": [(8, 2, 2)] * 3 for i in range(4)} | {"hard": [(1, 6, 6)] * 3}
    new = {f"s{i}": [(9, 1, 1)] * 3 for i in range(4)} | {"hard": [(2, 5, 5)] * 3}
    rb, rn = _rows(base), _rows(new)
    cb, cn = summarise(rb)["dice_ci95"]["per_image"], summarise(rn)["dice_ci95"]["per_image"]
    assert cn[0] < cb[1]  # the single-model intervals overlap
    d = paired_difference_ci(rn, rb)
    assert 0 < d["per_image"][0] <= d["per_image"][1] and d["per_group"][0] > 0
    assert d["per_image"][1] - d["per_image"][0] < (cb[1] - cb[0]) / 3
    assert paired_difference_ci(rb, rb)["per_image"] == [0.0, 0.0]
    with pytest.raises(ValueError, match="same images"):
        paired_difference_ci(rn[:-1], rb[:-1] + rb[:1])
