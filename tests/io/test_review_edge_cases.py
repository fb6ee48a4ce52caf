"""Loader edge cases found in review, on real DICOM files from pydicom / pydicom-data and ../shared/data: overlay
bits above BitsStored, multi-echo series, zero pixel spacing, data sets without file meta, RT dose scaling and
absolute frame offsets, cut-short DICOM and TIFF, the memory guard after rescaling, EXIF orientation."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from tests.conftest import require_data
from viewer.errors import CorruptFileError, TooLargeError
from viewer.io import open_study, scan


def test_bits_above_bits_stored_are_masked_as_pydicom_does(tmp_path):
    ds = pydicom.dcmread(get_testdata_file("RG3_UNCI.dcm"))  # real CR, 10 of 16 bits stored
    a = ds.pixel_array.copy()
    a[:50, :50] |= 1 << 12  # an old-style overlay plane in the unused high bits
    ds.PixelData, ds.PhotometricInterpretation = a.tobytes(), "MONOCHROME2"
    ds.save_as(tmp_path / "overlay_bits.dcm")
    s = open_study(tmp_path / "overlay_bits.dcm")
    assert int(s.voxels.max()) <= 1023
    assert np.array_equal(s.voxels[0], pydicom.dcmread(tmp_path / "overlay_bits.dcm").pixel_array)


def _copy_series(src, dst, edit):
    dst.mkdir()
    for i, f in enumerate(sorted(src.glob("*.dcm"))):
        d = pydicom.dcmread(f)
        edit(d, i)
        d.save_as(dst / f"{d.SOPInstanceUID}.dcm")  # files named by UID, as many PACS exports do


def test_the_echoes_of_a_series_are_separate_volumes_and_never_mixed(tmp_path):
    src = require_data("dicom_series", "pgbm003_t1post")
    ref = open_study(src)
    folder = tmp_path / "dual_echo"
    folder.mkdir()
    for echo in (1, 2):
        def edit(d, i, echo=echo):
            d.EchoNumbers = echo
            d.SOPInstanceUID = d.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
            if echo == 2:
                d.PixelData = (d.pixel_array // 4).astype(d.pixel_array.dtype).tobytes()
        _copy_series(src, folder / f"e{echo}", edit)
    series = scan(folder)["series"]
    assert [g["slices"] for g in series] == [ref.shape[0]] * 2
    assert ["echo 1 (1 of 2 echoes)" in series[0]["description"], "echo 2 (2 of 2 echoes)" in series[1]["description"]] == [True] * 2
    assert np.array_equal(open_study(folder).voxels, ref.voxels)  # the default is echo 1, whole
    assert np.array_equal(open_study(folder, series=series[1]["uid"]).voxels, ref.voxels // 4)


def test_at_a_shared_position_the_first_acquisition_is_shown_whatever_the_file_names(tmp_path):
    src = require_data("dicom_series", "pgbm003_t1post")
    ref = open_study(src)

    def edit(d, i):
        d.AcquisitionNumber = 1
    _copy_series(src, tmp_path / "a1", edit)

    def edit2(d, i):
        d.AcquisitionNumber = 2
        d.SOPInstanceUID = d.file_meta.MediaStorageSOPInstanceUID = "1.2.3." + str(i)  # sorts before the first
        d.PixelData = np.zeros_like(d.pixel_array).tobytes()
    _copy_series(src, tmp_path / "a2", edit2)
    for f in (tmp_path / "a2").iterdir():
        f.rename(tmp_path / "a1" / ("0_" + f.name))
    s = open_study(tmp_path / "a1")
    assert np.array_equal(s.voxels, ref.voxels) and any("first (by time point" in w for w in s.warnings)


def test_zero_pixel_spacing_means_unknown_not_zero(tmp_path):
    s = open_study(get_testdata_file("RG1_UNCI.dcm"))  # real CR with PixelSpacing 0\0
    assert all(v > 0 for v in s.geometry.spacing) and s.metadata.get("pixel_size_mm_known") is False
    s.geometry.world_to_index(np.array([[10.0, 10.0, 0.0]]))  # invertible


def test_a_data_set_without_file_meta_opens(tmp_path):
    from pydicom.filebase import DicomFileLike

    ds = pydicom.dcmread(get_testdata_file("MR_small_implicit.dcm"))
    out = tmp_path / "acr_nema_style.dcm"
    with open(out, "wb") as f:
        fp = DicomFileLike(f)
        fp.is_little_endian, fp.is_implicit_VR = True, True
        pydicom.filewriter.write_dataset(fp, ds)
    assert np.array_equal(open_study(out).voxels[0], ds.pixel_array)
    assert open_study(get_testdata_file("OT-PAL-8-face.dcm")).shape == (1, 480, 640)


def test_rt_dose_is_in_gray_and_absolute_frame_offsets_are_not_added_twice(tmp_path):
    f = get_testdata_file("rtdose.dcm")
    ds = pydicom.dcmread(f)
    s = open_study(f)
    assert np.allclose(s.voxels, ds.pixel_array * float(ds.DoseGridScaling), rtol=1e-6)
    z0 = float(ds.ImagePositionPatient[2])
    step = float(ds.GridFrameOffsetVector[1]) - float(ds.GridFrameOffsetVector[0])
    ds.GridFrameOffsetVector = [z0 + step * k for k in range(int(ds.NumberOfFrames))]  # PS3.3 C.8.8.3.2 form 2
    ds.save_as(tmp_path / "rtdose_absolute.dcm")
    s2 = open_study(tmp_path / "rtdose_absolute.dcm")
    assert np.allclose(s2.geometry.origin, s.geometry.origin) and np.allclose(s2.geometry.spacing, s.geometry.spacing)


@pytest.mark.parametrize("name, keep", [("JPEG2000.dcm", 0.7), ("JPEG2000.dcm", 0.98), ("SC_rgb_rle_2frame.dcm", 0.5)])
def test_a_cut_short_compressed_dicom_is_called_incomplete(tmp_path, name, keep):
    data = open(get_testdata_file(name), "rb").read()
    (tmp_path / name).write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(CorruptFileError, match="incomplete|damaged|cut short"):
        open_study(tmp_path / name)


def test_the_memory_guard_counts_the_rescaled_type(monkeypatch):
    f = get_testdata_file("CT_small.dcm")  # 128 x 128 stored in 16 bits, rescaled to a wider type
    monkeypatch.setenv("MEDROUTE_MAX_STUDY_BYTES", str(128 * 128 * 2 + 100))
    with pytest.raises(TooLargeError):
        open_study(f)


def test_a_cut_short_tiff_stack_is_refused_not_shown_with_fewer_pages(tmp_path):
    import tifffile

    stack = np.random.default_rng(0).integers(0, 60000, (5, 64, 64), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "stack.tif", stack)
    assert np.array_equal(open_study(tmp_path / "stack.tif").voxels, stack)
    data = (tmp_path / "stack.tif").read_bytes()
    (tmp_path / "cut.tif").write_bytes(data[: int(len(data) * 0.98)])
    with pytest.raises(CorruptFileError, match="cut short"):
        open_study(tmp_path / "cut.tif")


def test_a_jpeg_photo_is_shown_upright_as_its_exif_says(tmp_path):
    from PIL import Image

    img = np.zeros((30, 40, 3), np.uint8)
    img[:5, :, 0] = 255  # a red band along the stored top
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to view"
    Image.fromarray(img).save(tmp_path / "photo.jpg", exif=exif, quality=100)
    s = open_study(tmp_path / "photo.jpg")
    assert s.shape[1:3] == (40, 30)
    assert s.voxels[0, :, -5:, 0].mean() > 200 and s.voxels[0, :, :5, 0].mean() < 50  # the top band is now on the right


def test_a_2d_rgb_nifti_is_one_colour_slice_and_4d_rgb_is_refused_clearly(tmp_path):
    import nibabel as nib

    from viewer.errors import UnsupportedFormatError

    rgb = np.dtype([("R", "u1"), ("G", "u1"), ("B", "u1")])
    a = np.zeros((40, 30), dtype=rgb)  # (i, j)
    a["R"][5, 7], a["G"][:, :], a["B"][0, 29] = 200, 10, 50
    nib.save(nib.Nifti1Image(a, np.eye(4)), tmp_path / "rgb2d.nii")
    s = open_study(tmp_path / "rgb2d.nii")
    assert s.shape == (1, 30, 40) and s.is_rgb
    assert tuple(s.voxels[0, 7, 5]) == (200, 10, 0) and tuple(s.voxels[0, 29, 0]) == (0, 10, 50)
    nib.save(nib.Nifti1Image(np.zeros((4, 3, 2, 2), dtype=rgb), np.eye(4)), tmp_path / "rgb4d.nii")
    with pytest.raises(UnsupportedFormatError, match="one colour volume per file"):
        open_study(tmp_path / "rgb4d.nii")


# --- second review round: label files, MetaImage / NRRD, orientation letters, info -----------------------------

def test_a_dicom_seg_opened_as_a_label_file_keeps_every_segment(tmp_path):
    from viewer.export.dicom_seg import write_dicom_seg
    from viewer.io import load_labels

    study = open_study(require_data("dicom_series", "pgbm003_t1post"))
    labels = np.zeros(study.shape, np.uint8)
    labels[10, 100:130, 100:120] = 1
    labels[12, 50:60, 50:60] = 2  # segment 2's frames lie at the same positions as segment 1's
    seg = write_dicom_seg(study, labels, tmp_path / "seg.dcm", {1: "a", 2: "b"})
    assert np.array_equal(load_labels(seg, study), labels)


def test_label_values_outside_0_to_65535_and_multichannel_labels_are_refused(tmp_path):
    import nibabel as nib

    from viewer.errors import GeometryMismatchError, SaveError
    from viewer.io import load_labels, save_labels

    study = open_study(require_data("nifti", "msd_task04_hippocampus", "images", "hippocampus_001.nii.gz"))
    affine = nib.load(study.source[0]).affine
    grid = study.voxels.transpose(2, 1, 0).shape
    for value, dtype in ((-1, np.int16), (70000, np.int32)):
        nib.save(nib.Nifti1Image(np.full(grid, value, dtype), affine), tmp_path / "bad.nii.gz")
        with pytest.raises(GeometryMismatchError, match="between 0 and 65535"):
            load_labels(tmp_path / "bad.nii.gz", study)
    with pytest.raises(SaveError, match="65535"):
        save_labels(np.full(study.shape, 70000, np.int32), study, tmp_path / "big.nii.gz")
    onehot = np.zeros((*grid, 2), np.uint8)
    onehot[..., 1] = 1
    nib.save(nib.Nifti1Image(onehot, affine), tmp_path / "onehot.nii.gz")
    with pytest.raises(GeometryMismatchError, match="channels that differ"):
        load_labels(tmp_path / "onehot.nii.gz", study)


def test_labels_of_a_nifti_whose_sform_and_qform_differ_land_where_itk_puts_the_image(tmp_path):
    import nibabel as nib
    import SimpleITK as sitk

    from viewer.io import load_labels, save_labels

    src = nib.load(require_data("nifti", "msd_task04_hippocampus", "images", "hippocampus_001.nii.gz"))
    sform = src.affine.copy()
    qform = sform.copy()
    qform[:3, 3] += (20.0, -10.0, 5.0)  # scanner space vs registered space
    img = nib.Nifti1Image(np.asarray(src.dataobj), sform)
    img.set_sform(sform, code=2)
    img.set_qform(qform, code=1)
    nib.save(img, tmp_path / "img.nii.gz")
    study = open_study(tmp_path / "img.nii.gz")
    labels = np.zeros(study.shape, np.uint8)
    labels[5, 5:10, 5:10] = 1
    save_labels(labels, study, tmp_path / "lab.nii.gz")
    a, b = sitk.ReadImage(str(tmp_path / "img.nii.gz")), sitk.ReadImage(str(tmp_path / "lab.nii.gz"))
    assert np.allclose(a.GetOrigin(), b.GetOrigin()) and np.allclose(a.GetDirection(), b.GetDirection())
    assert np.array_equal(load_labels(tmp_path / "lab.nii.gz", study), labels)


def test_metaimage_with_detached_data_opens_from_a_folder_and_a_zip_with_its_modality(tmp_path):
    import zipfile

    import SimpleITK as sitk

    vol = np.arange(3 * 4 * 5, dtype=np.int16).reshape(3, 4, 5)
    img = sitk.GetImageFromArray(vol)
    img.SetSpacing((0.5, 0.6, 2.0))
    (tmp_path / "scan").mkdir()
    sitk.WriteImage(img, str(tmp_path / "scan" / "vol.mhd"))
    hdr = (tmp_path / "scan" / "vol.mhd").read_text()
    (tmp_path / "scan" / "vol.mhd").write_text(hdr.replace("ElementType", "Modality = MET_MOD_CT\nElementType"))
    with zipfile.ZipFile(tmp_path / "scan.zip", "w") as zf:
        for f in (tmp_path / "scan").iterdir():
            zf.write(f, f"scan/{f.name}")
    for p in (tmp_path / "scan", tmp_path / "scan.zip"):
        s = open_study(p)
        assert np.array_equal(s.voxels, vol) and s.modality == "CT" and s.geometry.spacing == (0.5, 0.6, 2.0)


def test_orientation_letters_match_nibabel_and_itk_on_oblique_grids():
    import nibabel as nib
    import SimpleITK as sitk

    from viewer.model.geometry import Geometry

    rng = np.random.default_rng(1)
    for t in range(400):
        q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
        if t % 2:
            q = q @ np.diag([1, 1, -1])
        g = Geometry(rng.normal(size=3) * 100, rng.uniform(0.3, 5, 3), q)
        assert g.orientation_code() == sitk.DICOMOrientImageFilter_GetOrientationFromDirectionCosines(tuple(q.ravel()))
        assert g.nifti_axcodes() == "".join(nib.aff2axcodes(g.to_nifti_affine()))


def test_info_names_the_archive_and_scan_only_lists_a_single_series(tmp_path, capsys):
    import zipfile

    from viewer.cli import main

    with zipfile.ZipFile(tmp_path / "ct.zip", "w") as zf:
        zf.write(get_testdata_file("CT_small.dcm"), "CT_small.dcm")
    assert main(["info", str(tmp_path / "ct.zip")]) == 0
    out = capsys.readouterr().out
    assert f"Archive               {tmp_path / 'ct.zip'}" in out
    assert main(["info", str(require_data("dicom_series", "pgbm003_t1post")), "--scan-only"]) == 0
    out = capsys.readouterr().out
    assert "Series (1):" in out and "22 slices" in out and "Shape" not in out


def test_contiguous_tiff_stacks_with_one_ifd_still_open(tmp_path):
    """ImageJ virtual stacks and ``truncate=True`` files keep all images behind one page: not 'cut short'."""
    import tifffile

    stack = np.random.default_rng(1).integers(0, 4000, (10, 32, 32), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "one_ifd.tif", stack, truncate=True)
    assert np.array_equal(open_study(tmp_path / "one_ifd.tif").voxels, stack)
    data = (tmp_path / "one_ifd.tif").read_bytes()
    (tmp_path / "one_ifd_cut.tif").write_bytes(data[: len(data) - 4000])
    with pytest.raises(CorruptFileError, match="cut short"):
        open_study(tmp_path / "one_ifd_cut.tif")


def test_a_damaged_tiff_read_in_another_thread_does_not_refuse_a_good_one(tmp_path):
    import threading

    import tifffile

    stack = np.random.default_rng(2).integers(0, 4000, (6, 32, 32), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "good.tif", stack)
    tifffile.imwrite(tmp_path / "bad.tif", stack)
    data = (tmp_path / "bad.tif").read_bytes()
    (tmp_path / "bad.tif").write_bytes(data[: int(len(data) * 0.97)])
    stop, errors = threading.Event(), []

    def damaged():
        while not stop.is_set():
            try:
                open_study(tmp_path / "bad.tif")
            except CorruptFileError:
                pass

    t = threading.Thread(target=damaged)
    t.start()
    try:
        for _ in range(40):
            try:
                open_study(tmp_path / "good.tif")
            except CorruptFileError as e:
                errors.append(str(e))
    finally:
        stop.set()
        t.join()
    assert not errors


def test_a_folder_of_slices_with_a_segmentation_file_beside_them_opens_the_slices(tmp_path):
    import shutil

    import SimpleITK as sitk

    for p in sorted(require_data("brain_mri", "images").glob("TCGA_CS_6186_20000601_1*.png"))[:5]:
        shutil.copy(p, tmp_path / p.name)
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((5, 256, 256), np.uint8)), str(tmp_path / "segmentation.nrrd"))
    s = open_study(tmp_path)
    assert s.format == "image stack" and s.shape[0] == 5 and s.voxels.max() > 0
