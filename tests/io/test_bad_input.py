"""Bad input gets the project's error with a sentence a radiologist understands; nothing else escapes."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest

from viewer.cli import main as cli_main
from viewer.errors import (
    CorruptFileError,
    EmptyInputError,
    MedRouteError,
    MissingDecoderError,
    NotFoundError,
    PermissionDeniedError,
    TooLargeError,
    UnsupportedFormatError,
)
from viewer.io import open_study

TEST_FILES = Path(pydicom.__file__).parent / "data" / "test_files"


def test_zero_byte_file(tmp_path):
    for name in ("empty.dcm", "empty.nii.gz", "empty.png", "empty"):
        (tmp_path / name).write_bytes(b"")
        with pytest.raises(EmptyInputError, match="empty"):
            open_study(tmp_path / name)


def test_empty_folder(tmp_path):
    with pytest.raises(EmptyInputError, match="no images"):
        open_study(tmp_path)


def test_missing_path(tmp_path):
    with pytest.raises(NotFoundError):
        open_study(tmp_path / "nope.nii.gz")


def test_text_file_is_not_an_image(tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("patient was fine\n")
    with pytest.raises(UnsupportedFormatError, match="not an image"):
        open_study(f)


def test_truncated_dicom(tmp_path):
    src = (TEST_FILES / "CT_small.dcm").read_bytes()
    f = tmp_path / "ct.dcm"
    f.write_bytes(src[: len(src) - 3000])
    with pytest.raises(CorruptFileError, match="damaged or incomplete"):
        open_study(f)


def test_truncated_nifti(tmp_path):
    img = nib.Nifti1Image(np.arange(40 * 40 * 40, dtype=np.int16).reshape(40, 40, 40), np.eye(4))
    full = tmp_path / "full.nii"
    nib.save(img, full)
    cut = tmp_path / "cut.nii"
    cut.write_bytes(full.read_bytes()[:20000])
    with pytest.raises(CorruptFileError):
        open_study(cut)


def test_truncated_png(tmp_path):
    from PIL import Image

    Image.fromarray((np.random.default_rng(0).random((64, 64)) * 255).astype(np.uint8)).save(tmp_path / "a.png")
    data = (tmp_path / "a.png").read_bytes()
    (tmp_path / "b.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptFileError):
        open_study(tmp_path / "b.png")


def test_unreadable_permissions(tmp_path, monkeypatch):
    f = tmp_path / "x.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((4, 4, 4), np.uint8), np.eye(4)), f)
    import viewer.io._common as common

    monkeypatch.setattr(common.os, "access", lambda p, mode: False)
    with pytest.raises(PermissionDeniedError, match="permissions"):
        open_study(f)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_unreadable_permissions_real(tmp_path):
    f = tmp_path / "x.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((4, 4, 4), np.uint8), np.eye(4)), f)
    f.chmod(0)
    with pytest.raises(PermissionDeniedError):
        open_study(f)


def test_nifti_header_claiming_huge_size(tmp_path, monkeypatch):
    hdr = nib.Nifti1Header()
    hdr.set_data_shape((4000, 4000, 4000))
    hdr.set_data_dtype(np.float32)
    f = tmp_path / "huge.nii"
    with open(f, "wb") as fh:
        hdr.write_to(fh)
        fh.write(b"\0" * 1024)
    with pytest.raises(TooLargeError, match="memory limit"):
        open_study(f)


def test_dicom_header_claiming_huge_size(tmp_path, monkeypatch):
    ds = pydicom.dcmread(TEST_FILES / "CT_small.dcm")
    ds.Rows, ds.Columns = 60000, 60000
    ds.save_as(tmp_path / "huge.dcm")
    monkeypatch.setenv("MEDROUTE_MAX_STUDY_BYTES", "1G")
    with pytest.raises(TooLargeError, match="MEDROUTE_MAX_STUDY_BYTES"):
        open_study(tmp_path / "huge.dcm")


def test_limit_is_configurable(tmp_path, monkeypatch):
    f = tmp_path / "v.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((64, 64, 64), np.int16), np.eye(4)), f)
    monkeypatch.setenv("MEDROUTE_MAX_STUDY_BYTES", "100K")
    with pytest.raises(TooLargeError):
        open_study(f)
    monkeypatch.setenv("MEDROUTE_MAX_STUDY_BYTES", "10M")
    assert open_study(f).shape == (64, 64, 64)


def test_png_bomb_header_checked_before_decoding(tmp_path, monkeypatch):
    import zlib

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 200000, 200000, 8, 0, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b"")
    (tmp_path / "bomb.png").write_bytes(png)
    monkeypatch.setenv("MEDROUTE_MAX_STUDY_BYTES", "1G")
    with pytest.raises(TooLargeError):
        open_study(tmp_path / "bomb.png")


def test_unsupported_transfer_syntax(tmp_path):
    f = TEST_FILES / "JPGExtended.dcm"  # 12-bit JPEG extended: no permissively licensed decoder installed
    with pytest.raises(MissingDecoderError, match="JPEG Extended"):
        open_study(f)


def test_dicom_without_pixels():
    with pytest.raises(UnsupportedFormatError, match="holds no image"):
        open_study(TEST_FILES / "rtplan.dcm")


@pytest.mark.parametrize("name", ["JPEG2000.dcm", "JPEG-LL.dcm", "SC_rgb_rle.dcm", "JPEGLSNearLossless_16.dcm", "SC_rgb_jpeg_dcmtk.dcm"])
def test_compressed_dicom_decodes(name):
    path = TEST_FILES / name
    if not path.exists():
        import data_store

        path = Path(data_store.__file__).parent / "data" / name
    st = open_study(path)
    ref = pydicom.dcmread(path).pixel_array
    assert st.voxels.size == ref.size


def test_cli_bad_input_is_one_line_exit_2(tmp_path, capsys):
    f = tmp_path / "junk.dcm"
    f.write_bytes(b"\0" * 128 + b"DICM" + b"\xff" * 50)
    rc = cli_main(["info", str(f)])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err


def test_every_error_is_a_medroute_error():
    for cls in (CorruptFileError, EmptyInputError, MissingDecoderError, TooLargeError, UnsupportedFormatError):
        assert issubclass(cls, MedRouteError)
