"""The fourth task (hippocampus, 3D NIfTI, 3 classes): data, split, metrics, a tiny train + INT8 packaging that the
viewer's registry and pipeline accept, and the shipped plugin's recorded target."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import require_data

pytestmark = pytest.mark.filterwarnings("ignore")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def hip_dir() -> Path:
    return require_data("nifti", "msd_task04_hippocampus")


def test_cases_and_split_by_case(hip_dir):
    from viewer.training.hippocampus import list_cases, make_split

    cases = list_cases(hip_dir)
    assert len(cases) >= 100 and all(img.is_file() and lab.is_file() for _, img, lab in cases)
    s1, s2 = make_split(cases, 0), make_split(cases, 0)
    assert s1 == s2
    parts = [set(s1[p]) for p in ("train", "val", "test")]
    assert not (parts[0] & parts[1]) and not (parts[0] & parts[2]) and not (parts[1] & parts[2])
    assert sum(map(len, parts)) == len(cases) and len(parts[2]) >= 0.15 * len(cases)


def test_slices_follow_the_study_grid(hip_dir):
    from viewer.io import open_study
    from viewer.training.hippocampus import list_cases, load_case, slice_arrays
    from viewer.training.tasks import recipe

    rec = recipe("hippocampus")
    cases = list_cases(hip_dir)[:2]
    v, m = load_case(cases[0][1], cases[0][2])
    assert v.shape == m.shape == open_study(cases[0][1]).voxels.shape  # what `medroute segment` slices
    assert set(np.unique(m)) == {0, 1, 2}
    X, Y, groups = slice_arrays(rec, cases, [c for c, _, _ in cases])
    h, w = rec["input"]["size"]
    assert X.shape[1:] == (3, h, w) and X.dtype == np.float32 and 0 <= X.min() and X.max() <= 1
    assert Y.shape[1:] == (h, w) and set(np.unique(Y)) == {0, 1, 2}
    assert len(X) == len(groups) == sum(load_case(i, lab)[0].shape[0] for _, i, lab in cases)


def test_resize_labels_keeps_thin_labels():
    from viewer.training.hippocampus import resize_labels

    m = np.zeros((51, 35), np.uint8)
    m[10:40, 17] = 1  # one voxel wide
    m[40:45, 10:20] = 2
    r = resize_labels(m, (64, 48))
    assert r.shape == (64, 48) and (r == 1).any() and (r == 2).any()


def test_dice_per_label():
    from viewer.training.hippocampus import dice_per_label

    gt = np.zeros((4, 8, 8), np.uint8)
    gt[1:3, 2:4, 2:4] = 1
    gt[1:3, 5:7, 5:7] = 2
    assert dice_per_label(gt, gt) == [1.0, 1.0]
    pred = gt.copy()
    pred[pred == 2] = 0
    assert dice_per_label(pred, gt) == [1.0, 0.0]
    assert dice_per_label(np.zeros_like(gt), np.zeros_like(gt)) == [1.0, 1.0]


def test_tiny_train_quantize_and_segment(hip_dir, tmp_path):
    from viewer.inference.engine import get_engine
    from viewer.inference.pipeline import run
    from viewer.inference.registry import Registry
    from viewer.io import open_study
    from viewer.training.hippocampus import list_cases, quantize, train

    rec = train(tmp_path / "run", hip_dir, max_steps=2, batch=8, limit=2, threads=1, progress=False)
    assert rec["step"] == 2 and np.isfinite(rec["loss"])
    pdir = tmp_path / "plugins" / "hippocampus"
    m = quantize(tmp_path / "run", pdir, calibration=8, latency_runs=5, progress=lambda *_: None)
    assert m["test_int8"]["n_cases"] == 2 and 0 <= m["primary_int8"] <= 1
    man = tomllib.loads((pdir / "plugin.toml").read_text())
    assert man["output"]["activation"] == "softmax" and [lab["value"] for lab in man["labels"]] == [1, 2]
    reg = Registry.scan(builtin=False, user_dirs=[tmp_path / "plugins"], entry_points=False)
    assert not reg.problems and reg.task("hippocampus").activation == "softmax"
    st = open_study(list_cases(hip_dir)[0][1])
    res = run(st.voxels, task="hippocampus", registry=reg, engine=get_engine("CPU"))
    assert res.labels.shape == st.voxels.shape and set(np.unique(res.labels)) <= {0, 1, 2}


def test_transfer_init_loads_all_but_the_head(tmp_path):
    import torch

    from viewer.training.hippocampus import load_init
    from viewer.training.model import build_model

    brain = build_model("unet", 3, 1, [16, 32, 64, 128])
    torch.save({"model": brain.state_dict()}, tmp_path / "best.pt")
    hip = build_model("unet", 3, 3, [16, 32, 64, 128])
    msg = load_init(hip, tmp_path)
    n = len(hip.state_dict())
    assert msg.startswith(f"{n - 2}/{n}")
    assert torch.equal(hip.state_dict()["down.0.0.weight"], brain.state_dict()["down.0.0.weight"])


def test_shipped_plugin_meets_target(hip_dir):
    pdir = ROOT / "plugins" / "hippocampus"
    if not (pdir / "plugin.toml").is_file():
        pytest.skip("plugins/hippocampus is not built (python -m viewer.training.hippocampus train/quantize)")
    from viewer.inference.manifest import load_manifest

    p = load_manifest(pdir)
    assert p.activation == "softmax" and [lab.name for lab in p.labels] == ["anterior", "posterior"]
    m = json.loads((pdir / "metrics.json").read_text())
    assert m["meets_target"] and m["primary_int8"] >= 0.85 and m["primary_fp32"] >= 0.85
    assert m["test_int8"]["n_cases"] >= 20
    train, test = set(m["split"]["train"]), set(m["split"]["test"])
    assert not train & test
