"""NIfTI variants made with nibabel: dtypes, scaling, 4D, 2D, NIfTI-2, orientations - against nibabel itself."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from viewer.io import open_study, save_labels


def _affine(codes: str) -> np.ndarray:
    """An affine with 1.5 x 2 x 3 mm voxels whose axes point to the given RAS letters."""
    axis = {"R": (0, 1), "L": (0, -1), "A": (1, 1), "P": (1, -1), "S": (2, 1), "I": (2, -1)}
    a = np.zeros((4, 4))
    for col, (c, sp) in enumerate(zip(codes, (1.5, 2.0, 3.0))):
        row, sign = axis[c]
        a[row, col] = sign * sp
    a[:3, 3] = (-40.0, 12.0, 7.5)
    a[3, 3] = 1
    return a


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.uint16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("gz", [True, False])
def test_dtypes(tmp_path, dtype, gz):
    rng = np.random.default_rng(0)
    data = (rng.random((9, 7, 5)) * 100).astype(dtype)
    f = tmp_path / ("v.nii.gz" if gz else "v.nii")
    nib.save(nib.Nifti1Image(data, _affine("RAS")), f)
    st = open_study(f)
    np.testing.assert_allclose(st.voxels, nib.load(f).get_fdata().transpose(2, 1, 0), rtol=1e-6)
    if np.dtype(dtype).kind in "iu":
        assert st.voxels.dtype == dtype  # integers with identity scaling keep their type


@pytest.mark.parametrize("gz", [True, False])
def test_slope_intercept(tmp_path, gz):
    data = np.arange(60, dtype=np.int16).reshape(5, 4, 3)
    img = nib.Nifti1Image(data, _affine("LPS"))
    img.header.set_slope_inter(0.5, -10)
    f = tmp_path / ("s.nii.gz" if gz else "s.nii")
    nib.save(img, f)
    st = open_study(f)
    assert st.voxels.dtype == np.float32
    np.testing.assert_allclose(st.voxels, nib.load(f).get_fdata().transpose(2, 1, 0), rtol=1e-6)


@pytest.mark.parametrize("codes", ["RAS", "LPS", "LAS", "PIR", "ASL", "IRP"])
def test_orientations(tmp_path, codes):
    data = np.random.default_rng(1).integers(0, 1000, (6, 5, 4)).astype(np.int16)
    f = tmp_path / "o.nii.gz"
    aff = _affine(codes)
    nib.save(nib.Nifti1Image(data, aff), f)
    st = open_study(f)
    assert st.geometry.nifti_axcodes() == codes == "".join(nib.aff2axcodes(aff))
    for ijk in ([0, 0, 0], [5, 4, 3], [2, 1, 3]):
        ras = aff @ np.r_[ijk, 1]
        np.testing.assert_allclose(st.geometry.index_to_world(ijk), [-ras[0], -ras[1], ras[2]], atol=1e-6)
    # label round trip keeps the affine exactly
    out = save_labels((st.voxels > 500).astype(np.uint8), st, tmp_path / "lab.nii.gz")
    np.testing.assert_allclose(nib.load(out).affine, aff, atol=1e-6)


def test_4d_as_channels_or_volume(tmp_path):
    data = np.random.default_rng(2).random((8, 6, 4, 3)).astype(np.float32)
    f = tmp_path / "d4.nii.gz"
    nib.save(nib.Nifti1Image(data, np.eye(4)), f)
    st = open_study(f)
    assert st.voxels.shape == (4, 6, 8, 3)
    np.testing.assert_allclose(st.voxels, data.transpose(2, 1, 0, 3))
    assert any("4D" in w for w in st.warnings)
    one = open_study(f, volume=1)
    np.testing.assert_allclose(one.voxels, data[..., 1].transpose(2, 1, 0))


def test_2d_and_trailing_singleton(tmp_path):
    d2 = np.arange(12, dtype=np.uint8).reshape(4, 3)
    nib.save(nib.Nifti1Image(d2, np.eye(4)), tmp_path / "a.nii")
    assert open_study(tmp_path / "a.nii").shape == (1, 3, 4)
    d4 = np.arange(24, dtype=np.int16).reshape(4, 3, 2, 1)
    nib.save(nib.Nifti1Image(d4, np.eye(4)), tmp_path / "b.nii.gz")
    st = open_study(tmp_path / "b.nii.gz")
    assert st.voxels.shape == (2, 3, 4) and not st.warnings


def test_nifti2(tmp_path):
    data = np.arange(120, dtype=np.int32).reshape(6, 5, 4)
    for name in ("n2.nii", "n2.nii.gz"):
        nib.save(nib.Nifti2Image(data, _affine("RAS")), tmp_path / name)
        st = open_study(tmp_path / name)
        assert st.format == "NIfTI-2"
        np.testing.assert_array_equal(st.voxels, data.transpose(2, 1, 0))


def test_big_endian(tmp_path):
    data = np.arange(60, dtype=">i2").reshape(5, 4, 3)
    img = nib.Nifti1Image(data, np.eye(4))
    img.set_data_dtype(">i2")
    nib.save(img, tmp_path / "be.nii.gz")
    st = open_study(tmp_path / "be.nii.gz")
    assert st.voxels.dtype.isnative
    np.testing.assert_array_equal(st.voxels, data.astype(np.int16).transpose(2, 1, 0))
