"""Batch fixtures: fake plugins as the user's plugin folder, and a mixed input folder of real and broken studies."""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import require_data
from tests.inference.fake_plugins import make_router_plugin, make_threshold_plugin


@pytest.fixture
def fake_plugins(tmp_path, monkeypatch):
    """Only the fake plugins are installed (built-in folder emptied, user folder = the fakes)."""
    import viewer.inference.registry as R

    d = tmp_path / "plugins"
    make_threshold_plugin(d / "brain_mri", "brain_mri", size=(64, 64), version="9.0.0", label="lesion")
    make_router_plugin(d / "router", logits=(5.0, 0.0, 0.0, 0.0), version="9.0.0")
    empty = tmp_path / "no_builtin"
    empty.mkdir()
    monkeypatch.setattr(R, "BUILTIN_DIR", empty)
    monkeypatch.setenv("MEDROUTE_PLUGIN_DIR", str(d))
    R.default_registry(refresh=True)
    yield d
    monkeypatch.undo()
    R.default_registry(refresh=True)


@pytest.fixture
def mixed_folder(tmp_path):
    """3 real brain PNGs (one in a sub-folder), a real 22-slice DICOM series, and four bad inputs."""
    brain = require_data("brain_mri", "images")
    series = require_data("dicom_series", "pgbm003_t1post")
    root = tmp_path / "in"
    (root / "sub").mkdir(parents=True)
    pngs = sorted(brain.glob("TCGA_CS_6186_20000601_1*.png"))[:3]
    shutil.copy(pngs[0], root / "a.png")
    shutil.copy(pngs[1], root / "b.png")
    shutil.copy(pngs[2], root / "sub" / "c.png")
    shutil.copytree(series, root / "series_t1post")
    data = pngs[0].read_bytes()
    (root / "truncated.png").write_bytes(data[: len(data) // 3])
    (root / "empty.nii.gz").write_bytes(b"")
    (root / "notes.txt").write_text("not an image\n")
    (root / "slices.csv").write_text("a,b\n")  # a sidecar: ignored
    return root
