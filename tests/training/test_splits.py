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


def test_hippocampus_split_keeps_both_crops_of_a_scan_together_and_the_pairing_is_real():
    """MSD Task04 numbers the two crops of one scan 2k+1 / 2k+2; the data must bear that out (shared exact voxel
    values), and the split must keep each pair in one part."""
    import nibabel as nib

    from viewer.training.hippocampus import list_cases, make_split, subject_of

    cases = list_cases(require_data("nifti", "msd_task04_hippocampus"))
    split = make_split(cases, seed=0)
    part = {c: p for p, cs in split.items() for c in cs}
    assert sorted(part) == sorted(c for c, _, _ in cases) and make_split(cases, seed=0) == split
    scans: dict[str, set] = {}
    for c in part:
        scans.setdefault(subject_of(c), set()).add(part[c])
    assert all(len(ps) == 1 for ps in scans.values())
    paths = {c: img for c, img, _ in cases}

    def values(c):
        a = np.asarray(nib.load(str(paths[c])).dataobj)
        return set(np.unique(a).tolist()) if a.dtype.kind == "f" else None

    pairs = [(a, b) for a in paths for b in paths if a < b and subject_of(a) == subject_of(b)]
    shared, unrelated = [], []
    for a, b in pairs[:8]:
        va, vb = values(a), values(b)
        if va and vb:
            shared.append(len(va & vb) / len(va | vb))
    names = sorted(paths)
    for a, b in zip(names[::7], names[3::7]):
        va, vb = values(a), values(b)
        if va and vb and subject_of(a) != subject_of(b):
            unrelated.append(len(va & vb) / len(va | vb))
    assert shared and unrelated and min(shared) > 0.3 > 0.05 > max(unrelated)


def test_router_other_split_groups_re_encodings_and_drops_blank_inputs():
    from viewer.training.router_data import near_duplicate_pairs, pydicom_other_files, split_other

    items = [(n, n.split("#")[0], a) for n, a in pydicom_other_files()]
    blank = np.zeros((64, 64, 4), np.uint8)  # an icon whose shape was only in its alpha channel
    items += [("blank_icon_a.png", "blank_icon_a.png", blank), ("blank_icon_b.png", "blank_icon_b.png", blank)]
    out = split_other(items, seed=0)
    names = [n for _, n, _ in out]
    assert not any(n.startswith("blank_icon") for n in names)
    part = {n: p for p, n, _ in out}
    family = [n for n in names if n.startswith("MR2_")]  # one image as UNCI / UNCR / J2KI / J2KR
    assert len(family) >= 4 and len({part[n] for n in family}) == 1
    X = np.stack([x for _, _, x in out])
    for i, j in near_duplicate_pairs(X):
        assert out[i][0] == out[j][0]  # no near-copy across parts
