"""DICOM features on pydicom's bundled files: DICOMDIR, multi-frame geometry, MONOCHROME1, colour, mixed series."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest

from viewer.io import open_study, scan

T = Path(pydicom.__file__).parent / "data" / "test_files"


def _data_store(name: str) -> Path:
    p = T / name
    if p.exists():
        return p
    import data_store

    return Path(data_store.__file__).parent / "data" / name


def test_dicomdir_lists_and_opens_series():
    info = scan(T / "dicomdirtests" / "DICOMDIR")
    assert len(info["series"]) > 5
    st = open_study(T / "dicomdirtests" / "DICOMDIR")
    assert st.shape[0] == max(s["slices"] for s in info["series"])
    assert st.modality == "CT"
    # a series that mixes orientations/sizes is split and named so
    assert any("part 1 of" in s["description"] for s in info["series"])


def test_rt_dose_grid_frame_offsets_become_slices():
    st = open_study(T / "rtdose.dcm")
    ds = pydicom.dcmread(T / "rtdose.dcm")
    assert st.shape == (int(ds.NumberOfFrames), int(ds.Rows), int(ds.Columns))
    offsets = [float(v) for v in ds.GridFrameOffsetVector]
    assert st.geometry.spacing[2] == pytest.approx(float(np.median(np.diff(offsets))))


def test_enhanced_multiframe_positions_from_functional_groups():
    path = _data_store("liver.dcm")
    st = open_study(path)
    ds = pydicom.dcmread(path)
    per = ds.PerFrameFunctionalGroupsSequence
    pos = np.array([[float(v) for v in f.PlanePositionSequence[0].ImagePositionPatient] for f in per])
    assert st.shape[0] == len(per)
    # the first voxel of the volume sits at the lowest position along the slice normal
    ori = [float(v) for v in ds.SharedFunctionalGroupsSequence[0].PlaneOrientationSequence[0].ImageOrientationPatient]
    n = np.cross(ori[:3], ori[3:])
    np.testing.assert_allclose(st.geometry.origin, pos[np.argmin(pos @ n)], atol=1e-3)


def test_cine_frames_keep_their_order():
    st = open_study(_data_store("emri_small.dcm"))
    ref = pydicom.dcmread(_data_store("emri_small.dcm")).pixel_array
    np.testing.assert_array_equal(st.voxels, ref)


def test_monochrome1_is_inverted():
    path = _data_store("MR_small.dcm")
    ds = pydicom.dcmread(path)
    ds.PhotometricInterpretation = "MONOCHROME1"
    import tempfile

    with tempfile.TemporaryDirectory() as td:
        f = Path(td) / "m1.dcm"
        ds.save_as(f)
        st = open_study(f)
    raw = ds.pixel_array.astype(np.int64)
    np.testing.assert_array_equal(st.voxels[0].astype(np.int64), raw.min() + raw.max() - raw)
    assert any("MONOCHROME1" in w for w in st.warnings)


def test_ybr_colour_becomes_rgb():
    path = _data_store("SC_rgb_jpeg_dcmtk.dcm")  # YBR_FULL_422 JPEG baseline
    st = open_study(path)
    assert st.voxels.shape[-1] == 3 and st.voxels.dtype == np.uint8
    ref = pydicom.dcmread(path).pixel_array  # pydicom converts YBR to RGB
    np.testing.assert_array_equal(st.voxels[0], ref)


def test_ct_rescale_applied():
    path = T / "CT_small.dcm"
    ds = pydicom.dcmread(path)
    st = open_study(path)
    exp = ds.pixel_array.astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    np.testing.assert_array_equal(st.voxels[0].astype(np.float64), exp)
    assert st.voxels.dtype.kind == "i"


def test_metadata_is_deidentified():
    st = open_study(T / "CT_small.dcm")
    text = repr(st.metadata) + st.description
    ds = pydicom.dcmread(T / "CT_small.dcm")
    for key in ("PatientName", "PatientID", "PatientBirthDate"):
        val = str(ds.get(key, "") or "")
        if val:
            assert val not in text, key


def test_dicom_without_pixel_spacing_reports_no_millimetres(tmp_path):
    """No PixelSpacing: the study opens (1 mm assumed for display, with a warning) but says its size in mm is
    unknown, so voxel counts are reported without a made-up volume; a normal MR keeps its mL."""
    ds = pydicom.dcmread(_data_store("MR_small.dcm"))
    assert open_study(_data_store("MR_small.dcm")).size_in_mm_known
    del ds.PixelSpacing
    f = tmp_path / "nospacing.dcm"
    ds.save_as(f)
    st = open_study(f)
    assert not st.size_in_mm_known
    assert any("Pixel spacing is not given" in w for w in st.warnings)
    from viewer.editing import label_statistics
    from viewer.model.labels import LabelMap

    lm = LabelMap.empty_like(st)
    lm.data[0, :3, :3] = 1
    rows = label_statistics(lm, st.size_in_mm_known)
    assert rows[0]["voxels"] == 9 and rows[0]["ml"] is None


def test_label_file_of_a_study_without_pixel_spacing_keeps_saying_so(tmp_path):
    """The NIfTI labels of such a study carry 'no mm' (units unknown + our description), so a resumed batch that
    reads its statistics back from the label file alone reports no mL either; an MR with PixelSpacing keeps mm."""
    from viewer.batch.runner import stats_from_file
    from viewer.io import save_labels

    ds = pydicom.dcmread(_data_store("MR_small.dcm"))
    del ds.PixelSpacing
    ds.save_as(tmp_path / "nospacing.dcm")
    for src, known in ((tmp_path / "nospacing.dcm", False), (_data_store("MR_small.dcm"), True)):
        st = open_study(src)
        lab = np.zeros(st.shape, np.uint8)
        lab[0, 10:20, 10:20] = 1
        out = save_labels(lab, st, tmp_path / f"{Path(src).stem}_labels.nii.gz")
        back = open_study(out)
        assert back.size_in_mm_known is known and back.metadata["xyzt_units"][0] == ("mm" if known else "unknown")
        stats = stats_from_file(out)  # no source given: the label file alone decides
        assert stats["label 1"]["voxels"] == 100
        assert (stats["label 1"]["ml"] is None) is (not known)
        if known:
            assert stats["label 1"]["ml"] == round(100 * float(np.prod(st.geometry.spacing)) / 1000, 4)
