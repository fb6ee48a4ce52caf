"""Leak-free, deterministic splits and the two dataset layouts."""

from __future__ import annotations

import numpy as np
import pytest

from viewer.training import data as D
from tests.conftest import require_data


@pytest.mark.parametrize("task,unit", [("brain_mri", "patient"), ("polyp", "sequence"), ("nuclei", "image")])
def test_shared_data_split_has_no_leak(task, unit):
    root = require_data(task)
    samples = D.list_samples(task, root)
    split = D.make_split(samples, seed=0)
    parts = [set(split[p]) for p in ("train", "val", "test")]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    assert set.union(*parts) == {s.group for s in samples}
    assert all(split[p] for p in ("train", "val", "test"))
    assert D.make_split(samples, seed=0) == split  # deterministic
    n = {p: len(D.select(samples, split, p)) for p in split}
    assert sum(n.values()) == len(samples)
    if task == "polyp":
        import csv

        seq = {r["file"]: r["sequence"] for r in csv.DictReader(open(root / "frames.csv"))}
        for a in ("train", "val", "test"):
            for b in ("train", "val", "test"):
                if a < b:
                    sa = {seq[s.key] for s in D.select(samples, split, a)}
                    sb = {seq[s.key] for s in D.select(samples, split, b)}
                    assert not sa & sb
    if task == "brain_mri":
        keys = {p: {s.key.rsplit("_", 1)[0] for s in D.select(samples, split, p)} for p in split}
        assert not (keys["train"] & keys["test"])


def test_nnunet_layout_reader_and_group_split(synthetic_dataset):
    samples = D.list_samples("brain_mri", synthetic_dataset)
    assert len(samples) == 12 and samples[0].image.name == "case000_0000.png"
    img, mask = D.read_sample(samples[0])
    assert img.shape == (64, 64) and set(np.unique(mask)) <= {0, 1}
    split = D.make_split(samples, seed=0)
    groups = {p: {s.group for s in D.select(samples, split, p)} for p in split}
    assert not (groups["train"] & groups["test"]) and not (groups["val"] & groups["test"])
    for s in samples:  # both cases of a 'patient' land in the same split
        assert sum(s.group in split[p] for p in split) == 1


def test_missing_folder_is_a_clear_error(tmp_path):
    from viewer.errors import MedRouteError

    with pytest.raises(MedRouteError, match="does not exist"):
        D.list_samples("polyp", tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(MedRouteError, match="nnU-Net"):
        D.list_samples("polyp", tmp_path / "empty")
