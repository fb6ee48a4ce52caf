"""Loading the real studies in ../shared/data and checking them against nibabel / pydicom."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pydicom
import pytest

from tests.conftest import require_data
from viewer.cli import main as cli_main
from viewer.io import open_study, save_labels, scan
from viewer.model.geometry import slice_normal


@pytest.mark.parametrize("name,n", [("sag_anon_t1_mprage", 192), ("pgbm003_t1post", 22)])
def test_dicom_series_sorted_by_position(name, n):
    folder = require_data("dicom_series", name)
    st = open_study(folder)
    assert st.shape[0] == n
    assert st.modality == "MR"
    files = sorted(folder.glob("*.dcm"))
    dss = [pydicom.dcmread(f) for f in files]
    normal = slice_normal(dss[0].ImageOrientationPatient[:3], dss[0].ImageOrientationPatient[3:])
    dss.sort(key=lambda d: float(np.dot(d.ImagePositionPatient, normal)))
    proj = np.array([float(np.dot(d.ImagePositionPatient, normal)) for d in dss])
    assert np.all(np.diff(proj) > 0), "positions must be strictly monotonic"
    # Voxels in position order, equal to pydicom's own pixels
    expected = np.stack([d.pixel_array for d in dss])
    np.testing.assert_array_equal(st.voxels, expected)
    # Spacing: pixel spacing and the distance between slice positions
    sy, sx = (float(v) for v in dss[0].PixelSpacing)
    assert st.geometry.spacing[0] == pytest.approx(sx)
    assert st.geometry.spacing[1] == pytest.approx(sy)
    assert st.geometry.spacing[2] == pytest.approx(float(np.median(np.diff(proj))), abs=1e-4)
    # Origin is the first slice's position; index_to_world of the last slice hits the last position
    np.testing.assert_allclose(st.geometry.origin, [float(v) for v in dss[0].ImagePositionPatient], atol=1e-4)
    np.testing.assert_allclose(
        st.geometry.index_to_world([0, 0, n - 1]), [float(v) for v in dss[-1].ImagePositionPatient], atol=0.05
    )
    assert not any("missing" in w for w in st.warnings)


def test_sag_series_is_sagittal_and_spacing():
    st = open_study(require_data("dicom_series", "sag_anon_t1_mprage"))
    assert st.geometry.spacing == pytest.approx((0.859375, 0.859375, 0.9), abs=1e-4)
    # slice normal points along patient left-right: a sagittal series
    assert st.geometry.orientation_code()[2] in "LR"
    st2 = open_study(require_data("dicom_series", "pgbm003_t1post"))
    assert st2.geometry.orientation_code()[2] in "SI"  # axial
    assert st2.geometry.spacing[2] == pytest.approx(6.5, abs=1e-3)


def test_folder_with_two_series_lists_both():
    root = require_data("dicom_series")
    info = scan(root)
    assert info["format"] == "DICOM"
    slices = sorted(s["slices"] for s in info["series"])
    assert slices == [22, 192]
    st = open_study(root)  # the largest by default
    assert st.shape[0] == 192 and len(st.series) == 2
    small = next(s for s in info["series"] if s["slices"] == 22)
    assert open_study(root, series=small["uid"]).shape[0] == 22


def test_missing_slice_is_reported(tmp_path):
    folder = require_data("dicom_series", "pgbm003_t1post")
    files = sorted(folder.glob("*.dcm"))
    dss = [pydicom.dcmread(f) for f in files]
    normal = slice_normal(dss[0].ImageOrientationPatient[:3], dss[0].ImageOrientationPatient[3:])
    dss.sort(key=lambda d: float(np.dot(d.ImagePositionPatient, normal)))
    for i, d in enumerate(dss):
        if i == 10:
            continue  # drop one slice from the middle
        d.save_as(tmp_path / f"s{i:03d}.dcm")
    st = open_study(tmp_path)
    assert st.shape[0] == 21
    assert any("missing" in w for w in st.warnings), st.warnings


def test_nifti_orientation_and_shape_match_nibabel():
    images = require_data("nifti", "msd_task04_hippocampus", "images")
    for f in sorted(images.glob("*.nii.gz"))[:12]:
        img = nib.load(f)
        st = open_study(f)
        data = np.asanyarray(img.dataobj)
        assert st.shape == tuple(reversed(img.shape[:3]))
        np.testing.assert_array_equal(st.voxels, data.transpose(2, 1, 0))
        assert st.geometry.nifti_axcodes() == "".join(nib.aff2axcodes(img.affine))
        # the same voxel maps to the same point: RAS from nibabel == LPS from us with x, y negated
        ijk = np.array([3, 5, 7])
        ras = img.affine @ np.r_[ijk, 1]
        lps = st.geometry.index_to_world(ijk)
        np.testing.assert_allclose(lps, [-ras[0], -ras[1], ras[2]], atol=1e-5)


def test_nifti_labels_roundtrip_exact_geometry(tmp_path):
    img_path = require_data("nifti", "msd_task04_hippocampus", "images", "hippocampus_001.nii.gz")
    lab_path = require_data("nifti", "msd_task04_hippocampus", "labels", "hippocampus_001.nii.gz")
    st = open_study(img_path)
    lab = open_study(lab_path).voxels.astype(np.uint8)
    assert set(np.unique(lab)) <= {0, 1, 2}
    out = save_labels(lab, st, tmp_path / "out.nii.gz")
    back = nib.load(out)
    np.testing.assert_allclose(back.affine, nib.load(img_path).affine, atol=1e-5)
    np.testing.assert_array_equal(np.asanyarray(back.dataobj).transpose(2, 1, 0), lab)
    assert not list(tmp_path.glob(".*tmp*")), "no temporary files left behind"


@pytest.mark.parametrize("folder,pattern", [("brain_mri", "images/*.png"), ("nuclei", "images/*.png"), ("polyp", "images/*.png")])
def test_pngs_load(folder, pattern):
    root = require_data(folder)
    from PIL import Image

    for f in sorted(root.glob(pattern))[:8]:
        st = open_study(f)
        ref = np.asarray(Image.open(f))
        if ref.ndim == 3 and ref.shape[2] == 4:
            ref = ref[..., :3]
        assert st.is_2d
        np.testing.assert_array_equal(st.voxels[0], ref)


def test_png_mask_labels_saved_as_values(tmp_path):
    img = require_data("polyp", "images", "cvcclinicdb_0001.png")
    st = open_study(img)
    lab = np.zeros(st.shape, np.uint8)
    lab[0, 10:20, 30:40] = 2
    out = save_labels(lab, st, tmp_path / "lab.png")
    from PIL import Image

    arr = np.asarray(Image.open(out))
    assert arr.max() == 2 and arr.shape == st.shape[1:]


def test_png_folder_stack_natural_order(tmp_path):
    src = sorted(require_data("nuclei", "images").glob("*.png"))
    from PIL import Image

    same = [f for f in src if Image.open(f).size == (256, 256) and Image.open(f).mode == "L"][:11]
    for i, f in enumerate(same):
        (tmp_path / f"img{i + 1}.png").write_bytes(f.read_bytes())
    st = open_study(tmp_path)
    assert st.shape == (len(same), 256, 256)
    np.testing.assert_array_equal(st.voxels[9], np.asarray(Image.open(same[9])))  # img10 after img9, not after img1


def test_cli_info_on_every_kind(capsys):
    paths = [
        require_data("dicom_series", "sag_anon_t1_mprage"),
        require_data("dicom_series"),
        require_data("nifti", "msd_task04_hippocampus", "images", "hippocampus_003.nii.gz"),
        require_data("brain_mri", "images", "TCGA_CS_5393_19990606_10.png"),
        require_data("nuclei", "images"),
    ]
    for p in paths:
        rc = cli_main(["info", str(p), "--json"])
        out = capsys.readouterr().out
        assert rc == 0
        info = json.loads(out)
        assert info["shape"] and info["orientation"]


def test_brain_png_rgb():
    st = open_study(require_data("brain_mri", "images", "TCGA_CS_5393_19990606_10.png"))
    assert st.voxels.shape == (1, 256, 256, 3) and st.is_rgb
