"""Studies inside .zip and gzip archives (viewer.io.archive): unpacked once into the cache, safely."""

from __future__ import annotations

import gzip
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import require_data
from viewer.errors import CorruptFileError, EmptyInputError, TooLargeError, UnsupportedFormatError
from viewer.io import open_study, scan


@pytest.fixture
def cache(tmp_path, monkeypatch):
    c = tmp_path / "cache"
    monkeypatch.setenv("MEDROUTE_ARCHIVE_DIR", str(c))
    return c


def _zip(folder: Path, dst: Path, prefix: str = "") -> Path:
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(folder.rglob("*")):
            if f.is_file():
                zf.write(f, prefix + f.relative_to(folder).as_posix())
        zf.writestr("__MACOSX/._junk", b"resource fork")  # what a Mac adds; ignored
    return dst


def test_a_zipped_dicom_series_opens_like_its_folder(cache, tmp_path):
    series = require_data("dicom_series", "pgbm003_t1post")
    z = _zip(series, tmp_path / "pgbm003 export.zip", prefix="DICOM/ST0001/")  # nested, as PACS exports are
    ref = open_study(series)
    st = open_study(z)
    assert np.array_equal(st.voxels, ref.voxels) and st.geometry == ref.geometry
    assert st.name == "pgbm003 export" and st.metadata["archive"] == str(z) and st.format == ref.format
    assert scan(z)["series"] and scan(z)["archive"] == str(z)
    # unpacked once: a second open reuses the cache folder (same source paths, so autosave and sessions match)
    assert [p.name for p in cache.iterdir()] == [Path(st.source[0]).relative_to(cache).parts[0]]
    again = open_study(z)
    assert again.source == st.source and len(list(cache.iterdir())) == 1


def test_a_gzipped_dicom_file_opens(cache):
    from pydicom.data import get_testdata_file

    st = open_study(get_testdata_file("zipMR.gz"))  # pydicom's gzip-compressed MR file
    ref = open_study(get_testdata_file("MR_small.dcm"))
    assert st.format.startswith("DICOM") and st.name == "zipMR" and st.voxels.shape == ref.voxels.shape


def test_damaged_and_hostile_archives_are_refused_and_leave_nothing(cache, tmp_path, monkeypatch):
    from pydicom.data import get_testdata_file

    mr = Path(get_testdata_file("MR_small.dcm"))
    good = tmp_path / "one.zip"
    with zipfile.ZipFile(good, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(mr, "a/MR_small.dcm")
    cut = tmp_path / "cut.zip"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CorruptFileError, match="damaged or incomplete"):
        open_study(cut)
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("../../escaped.dcm", mr.read_bytes())
    with pytest.raises(CorruptFileError, match="outside its folder"):
        open_study(evil)
    assert not any(tmp_path.rglob("escaped.dcm"))
    empty = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty, "w") as zf:
        zf.writestr("__MACOSX/._x", b"")
    with pytest.raises(EmptyInputError, match="holds no files"):
        open_study(empty)
    inner = tmp_path / "inner.zip"
    shutil.copy(good, inner)
    outer = tmp_path / "outer.zip"
    with zipfile.ZipFile(outer, "w") as zf:
        zf.write(inner, "inner.zip")
    with pytest.raises(UnsupportedFormatError, match="another archive"):
        open_study(outer)
    bomb = tmp_path / "bomb.zip"  # 64 MB of zeros deflate to ~64 KB
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros.dcm", bytes(64 << 20))
    monkeypatch.setenv("MEDROUTE_MAX_STUDY_BYTES", "16M")
    with pytest.raises(TooLargeError, match="unpacks to"):
        open_study(bomb)
    monkeypatch.delenv("MEDROUTE_MAX_STUDY_BYTES")
    gz = tmp_path / "cut.dcm.gz"
    gz.write_bytes(gzip.compress(mr.read_bytes())[:300])
    with pytest.raises(CorruptFileError, match="gzip file is damaged"):
        open_study(gz)
    # nothing half-unpacked is left behind; outer.zip (unpacked fine, refused after) is dated back for the clean-up
    left = list(cache.iterdir())
    assert len(left) == 1 and left[0].name.startswith("outer.zip-") and left[0].stat().st_mtime == 0
    open_study(good)  # the next unpack cleans up
    assert [q.name.split("-")[0] for q in cache.iterdir()] == ["one.zip"]


def test_a_batch_folder_with_a_zipped_series(cache, tmp_path, fake_plugins):  # noqa: F811
    from viewer.batch.executor import exit_status, run_batch

    series = require_data("dicom_series", "pgbm003_t1post")
    src = tmp_path / "in"
    src.mkdir()
    _zip(series, src / "case7.zip")
    rows, _ = run_batch(src, tmp_path / "out", task="brain_mri", progress=False)
    assert exit_status(rows) == 0 and rows[0]["status"] == "ok", rows
    lab = open_study(tmp_path / "out" / "case7.nii.gz")
    assert lab.shape == open_study(series).shape


from tests.batch.conftest import fake_plugins  # noqa: E402,F401 - fixture


def test_clean_up_touches_only_its_own_old_entries(cache, tmp_path):
    import os
    import time

    from pydicom.data import get_testdata_file

    from viewer.io.archive import COMPLETE

    cache.mkdir(parents=True)
    old = time.time() - 40 * 86400
    mine = cache / ("old.zip-" + "0" * 16)
    (mine / "a").mkdir(parents=True)
    (mine / COMPLETE).write_text("x")
    crashed = cache / (".old.zip-" + "1" * 16 + ".tmp-123-abcdef01")
    crashed.mkdir()
    foreign = cache / "my_project_notes"  # someone else's folder in the same place: never touched
    foreign.mkdir()
    no_marker = cache / ("half.zip-" + "2" * 16)
    no_marker.mkdir()
    for d in (mine, crashed, foreign, no_marker):
        os.utime(d, (old, old))
    open_study(get_testdata_file("zipMR.gz"))
    left = {p.name for p in cache.iterdir()}
    assert "my_project_notes" in left and no_marker.name in left
    assert mine.name not in left and crashed.name not in left


def test_names_that_would_leave_the_folder_on_any_system_are_refused(cache, tmp_path):
    for bad in ("d/C:Users/x.dcm", "/etc/x.dcm", "a/../../x.dcm", "C:\\x.dcm"):
        z = tmp_path / "bad.zip"
        with zipfile.ZipFile(z, "w") as zf:
            zf.writestr(bad, b"DICM")
        with pytest.raises(CorruptFileError, match="outside its folder"):
            open_study(z)


def test_a_gzip_that_inflates_past_its_trailer_is_stopped(cache, tmp_path, monkeypatch):
    data = bytearray(gzip.compress(bytes(64 << 20)))
    data[-4:] = (10).to_bytes(4, "little")  # the trailer claims 10 bytes
    bomb = tmp_path / "small.dcm.gz"
    bomb.write_bytes(bytes(data))
    monkeypatch.setenv("MEDROUTE_MAX_STUDY_BYTES", "16M")
    with pytest.raises(TooLargeError, match="more than it declares"):
        open_study(bomb)
    assert not any(cache.rglob("small.dcm"))


def test_another_process_finishing_first_is_not_an_error(cache, tmp_path, monkeypatch):
    from pydicom.data import get_testdata_file

    import viewer.io.archive as A

    src = Path(get_testdata_file("zipMR.gz"))
    real = A._gunzip

    def slow_twin(path, out):  # while this one unpacks, another process completes the same archive
        real(path, out)
        other = out.parent / out.name.split(".tmp-")[0].lstrip(".")
        shutil.copytree(out, other)
        (other / A.COMPLETE).write_text("other")

    monkeypatch.setattr(A, "_gunzip", slow_twin)
    st = open_study(src)
    assert st.voxels.shape == (1, 64, 64)
    assert [p.name for p in cache.iterdir()] == [Path(st.source[0]).relative_to(cache).parts[0]]  # no temp left


def test_sidecars_are_not_studies_and_errors_name_the_archive(cache, tmp_path):
    import nibabel as nib

    img = nib.Nifti1Image(np.arange(60, dtype=np.int16).reshape(3, 4, 5), np.eye(4))
    nib.save(img, tmp_path / "sub-01_T1w.nii.gz")
    z = tmp_path / "bids.zip"
    with zipfile.ZipFile(z, "w") as zf:  # dcm2niix / BIDS: a NIfTI and its JSON sidecar
        zf.write(tmp_path / "sub-01_T1w.nii.gz", "sub-01/anat/sub-01_T1w.nii.gz")
        zf.writestr("sub-01/anat/sub-01_T1w.json", "{}")
    st = open_study(z)
    assert st.shape == (5, 4, 3) and st.name == "bids"
    two = tmp_path / "two niftis.zip"
    with zipfile.ZipFile(two, "w") as zf:
        zf.write(tmp_path / "sub-01_T1w.nii.gz", "a.nii.gz")
        zf.write(tmp_path / "sub-01_T1w.nii.gz", "b.nii.gz")
    with pytest.raises(UnsupportedFormatError) as e:
        open_study(two)
    assert "two niftis.zip" in str(e.value) and str(cache) not in str(e.value)


def test_a_session_finds_its_zipped_study_after_the_cache_was_cleaned(cache, tmp_path):
    from pydicom.data import get_testdata_file

    from viewer.editing.session import Session, study_reference

    z = tmp_path / "mr.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.write(get_testdata_file("MR_small.dcm"), "MR_small.dcm")
    st = open_study(z)
    assert study_reference(st)["path"] == str(z)
    s = Session(st)
    s.labelmap.data[0, 10:20, 10:20] = 1
    s.save(tmp_path / "work.mrsession")
    shutil.rmtree(cache)  # cleaned up (30 days unused, or by the user)
    back = Session.load(tmp_path / "work.mrsession")
    assert back.study.name == "mr" and int(back.labelmap.data.sum()) == 100


def _tar(folder: Path, dst: Path, mode: str, prefix: str = "") -> Path:
    import tarfile

    with tarfile.open(dst, mode) as tf:
        for f in sorted(folder.rglob("*")):
            if f.is_file():
                tf.add(f, prefix + f.relative_to(folder).as_posix())
    return dst


@pytest.mark.parametrize("name,mode", [("series.tar", "w"), ("series.tar.gz", "w:gz"), ("series.tgz", "w:gz"),
                                       ("series.tar.bz2", "w:bz2"), ("series.tar.xz", "w:xz")])
def test_a_tarred_dicom_series_opens_like_its_folder(cache, tmp_path, name, mode):
    series = require_data("dicom_series", "pgbm003_t1post")
    t = _tar(series, tmp_path / name, mode, prefix="PGBM-003/T1post/")
    ref = open_study(series)
    st = open_study(t)
    assert np.array_equal(st.voxels, ref.voxels) and st.geometry == ref.geometry
    assert st.name == "series" and st.metadata["archive"] == str(t)
    assert len(scan(t)["series"]) == 1


@pytest.mark.parametrize("name", ["export", "export.gz"])
def test_a_tar_named_like_something_else_is_still_a_tar(cache, tmp_path, name):
    """The content decides: a .tar.gz renamed .gz (or with no extension) is unpacked as a tar, not as one file."""
    from pydicom.data import get_testdata_file

    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(get_testdata_file("MR_small.dcm"), src / "IM0001")
    t = _tar(src, tmp_path / name, "w:gz")
    st = open_study(t)
    assert st.voxels.shape == (1, 64, 64) and st.format.startswith("DICOM")
    assert st.name == "export" and [q.name for q in cache.rglob("IM0001")]


def test_a_damaged_gzip_that_is_not_nifti_is_a_typed_error(cache, tmp_path):
    bad = tmp_path / "scan.dcm.gz"
    bad.write_bytes(b"\x1f\x8b\x08\x00" + bytes(6) + b"\xff" * 300)  # gzip header, then no valid deflate data
    with pytest.raises(CorruptFileError, match="damaged or incomplete"):
        open_study(bad)
    with pytest.raises(CorruptFileError):
        scan(bad)


def test_hostile_and_damaged_tars_are_refused_and_links_are_not_followed(cache, tmp_path):
    import io
    import tarfile

    from pydicom.data import get_testdata_file

    mr = Path(get_testdata_file("MR_small.dcm")).read_bytes()

    def make(dst, entries, mode="w:gz"):
        with tarfile.open(dst, mode) as tf:
            for name, kind, payload in entries:
                ti = tarfile.TarInfo(name)
                if kind == "file":
                    ti.size = len(payload)
                    tf.addfile(ti, io.BytesIO(payload))
                else:
                    ti.type = tarfile.SYMTYPE if kind == "symlink" else tarfile.LNKTYPE
                    ti.linkname = payload
                    tf.addfile(ti)
        return dst

    for bad in ("../../escaped.dcm", "/tmp/escaped.dcm", "d/C:x/escaped.dcm"):
        with pytest.raises(CorruptFileError, match="outside its folder"):
            open_study(make(tmp_path / "evil.tar.gz", [(bad, "file", mr)]))
    assert not any(tmp_path.rglob("escaped.dcm")) and not Path("/tmp/escaped.dcm").exists()
    # links are skipped: the study opens from its one regular file, and no link lands in the cache
    st = open_study(make(tmp_path / "links.tar.gz", [("MR.dcm", "file", mr), ("passwd", "symlink", "/etc/passwd"),
                                                      ("hard", "hardlink", "/etc/passwd")]))
    assert st.voxels.shape == (1, 64, 64)
    assert not [p for p in cache.rglob("*") if p.is_symlink() or p.name in ("passwd", "hard")]
    with pytest.raises(EmptyInputError, match="holds no files"):
        open_study(make(tmp_path / "only links.tar", [("x", "symlink", "/etc/passwd")], mode="w"))
    whole = make(tmp_path / "whole.tar.gz", [("MR.dcm", "file", mr)])
    for n, cut in ((2, "cut.tar.gz"), (3, "cut.tar")):
        data = whole.read_bytes() if n == 2 else gzip.decompress(whole.read_bytes())
        (tmp_path / cut).write_bytes(data[: len(data) // n])
        with pytest.raises(CorruptFileError, match="damaged or incomplete"):
            open_study(tmp_path / cut)
    bz = tmp_path / "bad.tar.bz2"  # a bzip2 stream that breaks after its first block header
    import bz2
    good_bz = bz2.compress(gzip.decompress(whole.read_bytes()))
    bz.write_bytes(good_bz[:len(good_bz) // 2])
    with pytest.raises(CorruptFileError, match="damaged or incomplete"):
        open_study(bz)
    assert all(not p.name.startswith(".") for p in cache.iterdir())  # no temporary folder left behind


def test_a_tiny_tar_declaring_terabytes_is_refused_at_its_header(cache, tmp_path):
    """Declared sizes are checked header by header, before the data is inflated (a bzip2 stream of zeros shrinks a
    million times): the refusal names the size, it does not wait for the stream to be read through."""
    import tarfile

    big = tarfile.TarInfo("huge.dcm")
    big.size = 1 << 40  # 1 TiB declared
    raw = big.tobuf(tarfile.GNU_FORMAT) + bytes(4096)  # the data would follow; the file ends long before
    small = tarfile.TarInfo("after.dcm")
    small.size = 3
    raw += small.tobuf(tarfile.GNU_FORMAT) + b"abc"
    t = tmp_path / "tiny.tar.gz"
    t.write_bytes(gzip.compress(raw))
    assert t.stat().st_size < 2000
    with pytest.raises(TooLargeError, match="unpacks to 1024.0 GiB"):
        open_study(t)
    assert list(cache.iterdir()) == []


@pytest.mark.parametrize("kind", ["zip", "tar"])
def test_an_archive_of_too_many_files_is_refused(cache, tmp_path, monkeypatch, kind):
    import viewer.io.archive as A

    src = tmp_path / "many"
    src.mkdir()
    for i in range(5):
        (src / f"f{i}.dcm").write_bytes(b"x")
    a = _zip(src, tmp_path / "many.zip") if kind == "zip" else _tar(src, tmp_path / "many.tar", "w")
    monkeypatch.setattr(A, "MAX_MEMBERS", 3)
    with pytest.raises(TooLargeError, match="more than MedRoute unpacks"):
        open_study(a)


def test_names_that_collide_or_that_windows_cannot_store_are_refused(cache, tmp_path, monkeypatch):
    import io
    import tarfile

    import viewer.io.archive as A

    def tar(dst, names):
        with tarfile.open(dst, "w") as tf:
            for n in names:
                ti = tarfile.TarInfo(n)
                ti.size = 4
                tf.addfile(ti, io.BytesIO(b"DICM"))
        return dst

    for i, names in enumerate((["a", "a/b.dcm"], ["a/b.dcm", "a"])):
        with pytest.raises(CorruptFileError, match="cannot be unpacked side by side"):
            open_study(tar(tmp_path / f"clash{i}.tar", names))
    monkeypatch.setattr(A, "_WINDOWS", True)
    for bad in ("series/CON.dcm", "nul", "series./x.dcm", "x.dcm "):
        with pytest.raises(CorruptFileError, match="Windows cannot store"):
            open_study(tar(tmp_path / "win.tar", [bad]))
    assert all(not q.name.startswith(".") for q in cache.iterdir())


def test_a_wrong_series_keeps_the_unpacked_archive(cache, tmp_path):
    from pydicom.data import get_testdata_file

    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(get_testdata_file("MR_small.dcm"), src / "MR.dcm")
    t = _tar(src, tmp_path / "mr.tar", "w")
    open_study(t)
    entry = next(cache.iterdir())
    with pytest.raises(Exception):
        open_study(t, series="no such series")
    assert entry.is_dir() and entry.stat().st_mtime > 0  # still cached, not dated back


def test_a_tar_bomb_is_refused_before_unpacking(cache, tmp_path, monkeypatch):
    import io
    import tarfile

    bomb = tmp_path / "bomb.tar.gz"  # 64 MB of zeros compress to ~64 KB
    with tarfile.open(bomb, "w:gz") as tf:
        ti = tarfile.TarInfo("zeros.dcm")
        ti.size = 64 << 20
        tf.addfile(ti, io.BytesIO(bytes(64 << 20)))
    monkeypatch.setenv("MEDROUTE_MAX_STUDY_BYTES", "16M")
    with pytest.raises(TooLargeError, match="unpacks to"):
        open_study(bomb)
    assert not any(cache.rglob("zeros.dcm"))


def test_a_batch_folder_with_a_tarred_series(cache, tmp_path, fake_plugins):  # noqa: F811
    from viewer.batch.executor import exit_status, run_batch

    series = require_data("dicom_series", "pgbm003_t1post")
    src = tmp_path / "in"
    src.mkdir()
    _tar(series, src / "case8.tar.gz", "w:gz")
    rows, _ = run_batch(src, tmp_path / "out", task="brain_mri", progress=False)
    assert exit_status(rows) == 0 and rows[0]["status"] == "ok", rows
    assert open_study(tmp_path / "out" / "case8.nii.gz").shape == open_study(series).shape
