"""viewer.inference.preprocess: the numpy preprocessing shared by training and inference."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from viewer.inference import preprocess as P

SPEC = {"channels": 3, "size": [256, 256], "resize": "bilinear", "normalisation": "percentile",
        "percentile_low": 0.5, "percentile_high": 99.5, "grey_policy": "replicate", "colour_policy": "luminance",
        "layout": "NCHW"}


def test_module_imports_only_numpy():
    tree = ast.parse(Path(P.__file__).read_text())
    names = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert names <= {"numpy", "__future__", "dataclasses", "typing"}


@pytest.mark.parametrize("shape", [(300, 200), (300, 200, 3), (300, 200, 4), (300, 200, 2)])
def test_channel_policies_give_model_shape(shape):
    img = np.random.default_rng(0).integers(0, 255, shape, dtype=np.uint8)
    x, info = P.preprocess(img, SPEC)
    assert x.shape == (1, 3, 256, 256) and x.dtype == np.float32
    assert info.original_size == (300, 200)
    assert 0.0 <= x.min() and x.max() <= 1.0


def test_grey_is_replicated_and_colour_becomes_luminance():
    grey = np.arange(64 * 64, dtype=np.uint16).reshape(64, 64)
    x, _ = P.preprocess(grey, SPEC)
    assert np.array_equal(x[0, 0], x[0, 1]) and np.array_equal(x[0, 0], x[0, 2])
    rgb = np.zeros((8, 8, 3), np.uint8)
    rgb[..., 0] = 255
    g = P.to_channels(rgb, 1)
    assert g.shape == (1, 8, 8) and np.allclose(g, 255 * 0.299, atol=1e-3)


def test_percentile_normalisation_is_robust_to_bit_depth_and_sign():
    rng = np.random.default_rng(1)
    a8 = rng.integers(0, 256, (128, 128)).astype(np.uint8)
    a16 = a8.astype(np.int32) * 16 - 1024  # same picture as signed 12-bit DICOM
    x8, _ = P.preprocess(a8, SPEC)
    x16, _ = P.preprocess(a16.astype(np.int16), SPEC)
    assert np.allclose(x8, x16, atol=1e-5)
    assert not np.any(P.preprocess(np.full((10, 10), 7.0), SPEC)[0])  # flat image -> zeros, no NaN


def test_bilinear_resize_matches_half_pixel_convention():
    a = np.arange(16, dtype=np.float32).reshape(1, 4, 4)
    up = P.resize_chw(a, (8, 8))
    assert up.shape == (1, 8, 8)
    assert up[0, 0, 0] == a[0, 0, 0] and up[0, -1, -1] == a[0, -1, -1]
    assert np.isclose(up[0, 0, 1], 0.25)  # x = (1 + 0.5) / 2 - 0.5 = 0.25
    down = P.resize_chw(a, (2, 2))
    assert np.allclose(down[0], [[2.5, 4.5], [10.5, 12.5]])


def test_restore_mask_returns_original_grid():
    img = np.zeros((300, 200), np.uint8)
    x, info = P.preprocess(img, SPEC)
    logits = np.full((1, 1, 256, 256), -5, np.float32)
    logits[..., 64:192, 64:192] = 5
    m = P.restore_mask(logits, info)
    assert m.shape == (300, 200) and m.dtype == np.uint8
    assert m[150, 100] == 1 and m[0, 0] == 0
    assert abs(m.mean() - 0.25) < 0.02


def test_resize_mask_and_router_input():
    m = np.zeros((100, 100), np.uint8)
    m[25:75, 25:75] = 255
    r = P.resize_mask(m, (50, 50))
    assert r.dtype == bool and 25 * 25 <= r.sum() <= 26 * 26  # ties on the edge (exactly 0.5) may go either way
    x = P.router_input(np.random.default_rng(0).random((512, 512)))
    assert x.shape == (1, 3, 64, 64) and x.dtype == np.float32
    assert P.router_input(np.zeros((80, 80, 4), np.uint8)).shape == (1, 3, 64, 64)


def _real_grey_slices():
    """Slices of the DICOM series (uint16/int16 MR) and the hippocampus volumes (uint8/float), via the loaders."""
    from tests.conftest import require_data
    from viewer.io import open_study

    root = require_data("dicom_series").parent
    require_data("nifti")
    out = []
    for series in sorted(p for p in (root / "dicom_series").iterdir() if p.is_dir()):
        v = open_study(series).voxels
        out += [v[i] for i in range(0, v.shape[0], max(1, v.shape[0] // 6))]
    for f in sorted((root / "nifti").rglob("*.nii.gz"))[:2]:
        v = open_study(f).voxels
        out += [v[i] for i in (0, v.shape[0] // 2)]
        out.append(v[v.shape[0] // 2].astype(np.float32) * 0.37)  # non-integer float slice: np.percentile path
    return out


@pytest.mark.parametrize("spec", [
    SPEC,
    {**SPEC, "size": [128, 128]},
    {**SPEC, "channels": 1, "size": [64, 48]},
    {**SPEC, "normalisation": "minmax", "size": [100, 90]},
    {**SPEC, "normalisation": "percentile_channel"},
    P.ROUTER_SPEC,
])
def test_grey_fast_path_equals_replicate_then_normalise(spec):
    """The grey fast path (one channel normalised, then broadcast) must give bit-identical inputs to the general
    path that the models were trained with (replicate into C channels, pooled percentiles, normalise)."""
    slices = _real_grey_slices()
    assert len(slices) >= 10
    for a in slices + [np.zeros((40, 30), np.int16), np.full((70, 70), 3.0)]:
        fast = P._preprocess_grey(np.asarray(a), P.InputSpec.from_manifest(spec))
        assert fast is not None, a.dtype
        x, info = fast
        ref, ref_info = P._preprocess_general(a, P.InputSpec.from_manifest(spec))
        assert info == ref_info
        assert x.dtype == np.float32 and x.shape == ref.shape
        assert np.array_equal(x, ref), (a.dtype, a.shape, float(np.abs(x - ref).max()))


def test_grey_fast_path_declines_what_it_cannot_copy():
    spec = P.InputSpec.from_manifest(SPEC)
    nan = np.ones((64, 64), np.float32)
    nan[3, 3] = np.nan
    assert P._preprocess_grey(nan, spec) is None
    assert P._preprocess_grey(np.zeros((8, 8, 3), np.uint8), spec) is None
    assert np.isfinite(P.preprocess(nan, spec)[0]).all()
