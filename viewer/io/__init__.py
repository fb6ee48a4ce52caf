"""Study loading and label saving.  One entry point: :func:`open_study`.  No Qt.

Formats: NIfTI-1/2, DICOM (file, multi-frame, folder, DICOMDIR), PNG/JPEG/BMP/TIFF (file or folder stack),
NRRD and MetaImage; any of these inside a .zip, a tar archive or a gzip file (:mod:`viewer.io.archive`).  Every failure raises a :class:`viewer.errors.StudyLoadError` subclass with a readable sentence.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import EmptyInputError, NotFoundError, StudyLoadError, UnsupportedFormatError
from ..model.study import Study
from ._common import atomic_path, check_readable, max_study_bytes, reading
from .labels import load_labels, save_labels

__all__ = ["open_study", "scan", "save_labels", "load_labels", "detect_format", "atomic_path", "max_study_bytes"]

_NIFTI = (".nii", ".nii.gz")


def _sniff(path: Path) -> str | None:
    try:
        with open(path, "rb") as f:
            head = f.read(352)
    except OSError:
        return None
    if len(head) >= 132 and head[128:132] == b"DICM":
        return "dicom"
    if head.startswith(b"\x89PNG") or head.startswith(b"\xff\xd8\xff") or head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+") or head.startswith(b"BM"):
        return "raster"
    if head.startswith(b"\x1f\x8b") and ".nii" in path.name.lower():
        return "nifti"
    from .archive import archive_kind

    if archive_kind(path, head):  # zip, or gzip that is not .nii.gz
        return "archive"
    if len(head) >= 348 and head[344:348] in (b"n+1\x00", b"ni1\x00"):
        return "nifti"
    if len(head) >= 8 and head[4:8] in (b"n+2\x00",):
        return "nifti"
    if head.startswith(b"NRRD"):
        return "itk"
    return None


def detect_format(path: Path) -> str:
    """'dicom', 'nifti', 'raster', 'itk', 'folder', 'archive' for a path, or raise UnsupportedFormatError."""
    from ._dicom_scan import _looks_like_raw_dicom
    from .itk import ITK_EXTS
    from .raster import RASTER_EXTS

    if path.is_dir():
        return "folder"
    low = path.name.lower()
    if path.name.upper() == "DICOMDIR":
        return "dicom"
    if low.endswith(_NIFTI):
        return "nifti"
    if path.suffix.lower() in ITK_EXTS:
        return "itk"
    sniffed = _sniff(path)
    if sniffed:
        return sniffed
    if path.suffix.lower() in RASTER_EXTS:
        return "raster"
    if path.suffix.lower() in (".dcm", ".dicom", ".ima") or _looks_like_raw_dicom(path):
        return "dicom"
    raise UnsupportedFormatError(
        f"{path.name}: this is not an image MedRoute can open (supported: DICOM, NIfTI, PNG, JPEG, TIFF, NRRD, MHA, "
        "and these inside .zip, .tar or .gz).",
        path,
    )


def _check_path(path) -> Path:
    p = Path(path).expanduser()
    if not p.exists():
        raise NotFoundError(f"{p}: no such file or folder.", p)
    check_readable(p)
    if p.is_file() and p.stat().st_size == 0:
        raise EmptyInputError(f"{p.name}: the file is empty (0 bytes); it was probably not copied completely.", p)
    return p


def _open_folder(p: Path, series) -> Study:
    from . import _dicom_scan
    from .dicom import read_dicom
    from .raster import RASTER_EXTS, read_raster_stack

    files = _dicom_scan.collect_files(p)
    if any(_dicom_scan.is_dicom_file(f) or f.suffix.lower() == ".dcm" for f in files) or (p / "DICOMDIR").exists():
        return read_dicom(p, series)
    images = [f for f in sorted(p.iterdir()) if f.is_file() and f.suffix.lower() in RASTER_EXTS and not f.name.startswith(".")]
    headers = [f for f in sorted(p.iterdir()) if f.is_file() and f.suffix.lower() in (".mhd", ".nhdr", ".mha", ".nrrd")
               and not f.name.startswith(".")]
    if len(headers) == 1 and not images:  # a MetaImage / NRRD volume, with its detached .raw beside it
        from .itk import read_itk

        return read_itk(headers[0])
    if images:
        return read_raster_stack(images, p, series)
    niftis = [f for f in p.iterdir() if f.name.lower().endswith(_NIFTI)]
    if niftis:
        raise UnsupportedFormatError(
            f"{p}: the folder holds {len(niftis)} NIfTI file(s), each a study of its own; open one of them.", p
        )
    if files:  # files without extension that are not DICOM: give the DICOM reader the chance to say why
        return read_dicom(p, series)
    raise EmptyInputError(f"{p}: the folder holds no images.", p)


def open_study(path, series: str | int | None = None, volume: int | None = None) -> Study:
    """Open a study from a file or folder.

    ``series`` picks a series (UID or index in :func:`scan` order) when a DICOM folder holds several; by default
    the largest is opened and the others are listed in ``Study.series``.  ``volume`` picks one volume of a 4D
    NIfTI (by default all volumes become channels).
    """
    p = _check_path(path)
    kind = detect_format(p)
    if kind == "archive":
        try:
            study = open_study(_archive_content(p), series, volume)
        except StudyLoadError as e:  # name the archive the user opened, not its unpacked copy in the cache
            from .archive import cache_dir, mark_refused

            if isinstance(e, (EmptyInputError, UnsupportedFormatError)) and series is None and volume is None:
                mark_refused(p)  # what it holds is no study: its unpacked copy goes at the next clean-up
            msg = re.sub(re.escape(str(cache_dir())) + r"[/\\][^/\\\s]+-[0-9a-f]{16}", lambda _m: p.name, str(e))
            raise type(e)(msg if msg != str(e) or msg.startswith(p.name) else f"{p.name}: {e}", p) from e
        study.metadata["archive"] = str(p)
        return study
    with reading(p, "study"):
        if kind == "folder":
            return _open_folder(p, series)
        if kind == "dicom":
            from .dicom import read_dicom

            return read_dicom(p, series)
        if kind == "nifti":
            from .nifti import read_nifti

            return read_nifti(p, volume)
        if kind == "itk":
            from .itk import read_itk

            return read_itk(p)
        from .raster import read_raster

        return read_raster(p)


def _archive_content(p: Path) -> Path:
    """The unpacked file or folder of an archive (cached; see :mod:`viewer.io.archive`)."""
    from .archive import unpacked_root

    with reading(p, "archive"):
        inner = unpacked_root(p)
    if inner.is_file() and detect_format(inner) == "archive":
        raise UnsupportedFormatError(f"{p.name}: it holds another archive ({inner.name}); unpack the outer one first.", p)
    return inner


def scan(path) -> dict:
    """What is at a path, without decoding pixels where the format allows (DICOM): format and series list."""
    p = _check_path(path)
    kind = detect_format(p)
    if kind == "archive":
        try:
            return {**scan(_archive_content(p)), "archive": str(p)}
        except (EmptyInputError, UnsupportedFormatError):
            from .archive import mark_refused

            mark_refused(p)
            raise
    if kind == "dicom" or (kind == "folder" and _is_dicom_folder(p)):
        from .dicom import series_list

        with reading(p, "study"):
            series = series_list(p)
        return {"format": "DICOM", "source": str(p), "series": [s.to_dict() for s in series]}
    return open_study(p).summary()


def _is_dicom_folder(p: Path) -> bool:
    from . import _dicom_scan

    return (p / "DICOMDIR").exists() or any(
        _dicom_scan.is_dicom_file(f) or f.suffix.lower() == ".dcm" for f in _dicom_scan.collect_files(p)
    )
