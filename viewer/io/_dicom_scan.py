"""DICOM discovery: read each header once, group into series, split mixed series, sort slices.

Headers are parsed with ``defer_size`` so the pixel data is not read during the scan; the parsed datasets are
kept and their pixels decoded later from the same objects (one parse per file, never a second folder scan).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import EmptyInputError, UnsupportedFormatError
from ..model.geometry import slice_normal
from ._common import check_readable, reading

DICOMDIR_SOP = "1.2.840.10008.1.3.10"
_SKIP_EXTS = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".txt", ".csv", ".json", ".md", ".xml", ".html",
              ".nii", ".gz", ".zip", ".tar", ".tgz", ".bz2", ".tbz2", ".xz", ".txz", ".py", ".sha256", ".nrrd", ".mha", ".mhd", ".raw", ".pdf"}


@dataclass
class Frame:
    """One 2D image: a single-frame file, or frame ``index`` of a multi-frame file."""

    ds: object                   # pydicom Dataset (pixels deferred)
    path: str
    index: int | None            # frame number inside a multi-frame file, None for single-frame
    position: np.ndarray | None  # ImagePositionPatient
    orientation: np.ndarray | None
    pixel_spacing: tuple[float, float] | None
    instance: int
    decode_sig: tuple = ()       # raw values of the attributes that decide pixel decoding (see decode_signature)


@dataclass
class SeriesGroup:
    uid: str
    key: tuple
    frames: list[Frame] = field(default_factory=list)
    description: str = ""
    modality: str = ""
    rows: int = 0
    cols: int = 0
    samples: int = 1
    split_reason: str = ""

    @property
    def n_files(self) -> int:
        return len({f.path for f in self.frames})


def _head(path: Path, n: int = 132) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(n)
    except OSError:
        return b""


def _has_magic(head: bytes) -> bool:
    return len(head) >= 132 and head[128:132] == b"DICM"


_RAW_GROUP8 = (b"\x05\x00", b"\x08\x00", b"\x16\x00", b"\x00\x05", b"\x00\x16", b"\x12\x00", b"\x00\x12", b"\x20\x00", b"\x01\x00")


def _is_raw(head: bytes) -> bool:
    """Files written without preamble/meta (old ACR-NEMA style) start with a group 0x0008 tag."""
    return len(head) >= 8 and head[:2] in (b"\x08\x00", b"\x00\x08") and head[2:4] in _RAW_GROUP8


def is_dicom_file(path: Path) -> bool:
    """Cheap check: the DICM magic at offset 128 (files without a preamble are tried by the reader later)."""
    return _has_magic(_head(path))


def _looks_like_raw_dicom(path: Path) -> bool:
    return _is_raw(_head(path, 8))


# Below this many bytes in a folder, files are read whole in the scan (one open per file, pixels decoded from
# memory later); above it pixel data is deferred and read per file when the chosen series is loaded.
EAGER_FOLDER_BYTES = 1 << 30


def read_header(path: Path, force: bool = False, defer: bool = True):
    import pydicom

    with reading(path, "DICOM file"):
        try:
            ds = pydicom.dcmread(str(path), defer_size="4 KB" if defer else None, force=force)
        except pydicom.errors.InvalidDicomError as e:
            raise UnsupportedFormatError(f"{path.name}: this is not a DICOM file.", path) from e
    _infer_transfer_syntax(ds)
    return ds


def _infer_transfer_syntax(ds) -> None:
    """A data set without file meta (ACR-NEMA style, or written without a preamble) gets the transfer syntax it
    was actually read with, so that its uncompressed pixels can be decoded."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

    meta = getattr(ds, "file_meta", None)
    if meta is not None and "TransferSyntaxUID" in meta:
        return
    implicit, little = getattr(ds, "original_encoding", (None, None))
    if implicit is None or little is None:
        return
    if meta is None:
        ds.file_meta = meta = FileMetaDataset()
    meta.TransferSyntaxUID = (ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian) if little \
        else ExplicitVRBigEndian


def _floats(v, n):
    try:
        a = np.array([float(x) for x in v], dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return a if a.size == n and np.all(np.isfinite(a)) else None


_TAG_IPP, _TAG_IOP, _TAG_PS = 0x00200032, 0x00200037, 0x00280030


def _ds_floats(ds, tag: int, n: int):
    """A multi-valued DS attribute as floats, parsed straight from the raw bytes when still unconverted.

    pydicom's DS conversion (validation, DSfloat objects) dominates folder scans; the raw text is plain ASCII
    numbers separated by backslashes.  Anything unusual falls back to pydicom's own conversion.
    """
    try:
        elem = ds.get_item(tag)
    except (KeyError, TypeError):
        return None
    if elem is None:
        return None
    raw = getattr(elem, "value", None)
    if isinstance(raw, (bytes, bytearray)) and getattr(elem, "VR", None) in ("DS", None):
        try:
            a = np.array(raw.decode("ascii").strip(" \x00").split("\\"), dtype=np.float64)
            if a.size == n and np.all(np.isfinite(a)):
                return a
        except (ValueError, UnicodeDecodeError):
            pass
    try:
        return _floats(ds[tag].value, n)
    except Exception:  # noqa: BLE001 - malformed values mean "no geometry", reported later
        return None


def _frame_attrs(ds, k: int | None):
    """Position, orientation and pixel spacing for a frame (functional groups for enhanced multi-frame)."""
    pos = _ds_floats(ds, _TAG_IPP, 3)
    ori = _ds_floats(ds, _TAG_IOP, 6)
    ps = _ds_floats(ds, _TAG_PS, 2)
    if k is not None:
        for seq_name, idx in (("SharedFunctionalGroupsSequence", 0), ("PerFrameFunctionalGroupsSequence", k)):
            seq = ds.get(seq_name)
            if not seq or len(seq) <= idx:
                continue
            item = seq[idx]
            pp = item.get("PlanePositionSequence")
            if pp and len(pp):
                pos = _floats(pp[0].get("ImagePositionPatient"), 3) if pp[0].get("ImagePositionPatient") else pos
            po = item.get("PlaneOrientationSequence")
            if po and len(po):
                ori = _floats(po[0].get("ImageOrientationPatient"), 6) if po[0].get("ImageOrientationPatient") else ori
            pm = item.get("PixelMeasuresSequence")
            if pm and len(pm) and pm[0].get("PixelSpacing"):
                ps = _floats(pm[0].get("PixelSpacing"), 2)
    if ps is None or not np.all(ps > 0):  # 0\\0 (seen on real CR files) means "not known", like no value
        ps = _floats(ds.get("ImagerPixelSpacing"), 2)
    if ps is None or not np.all(ps > 0):
        ps = None
    return pos, ori, (None if ps is None else (float(ps[0]), float(ps[1])))


def frames_of(ds, path: str) -> list[Frame]:
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        return []
    try:
        n = int(ds.get("NumberOfFrames", 1) or 1)
    except (TypeError, ValueError):
        n = 1
    inst = ds.get("InstanceNumber")
    try:
        inst = int(inst) if inst is not None and str(inst) != "" else 0
    except (TypeError, ValueError):
        inst = 0
    sig = decode_signature(ds)  # before anything converts these elements, so all frames compare raw to raw
    if n <= 1:
        pos, ori, ps = _frame_attrs(ds, None)
        return [Frame(ds, path, None, pos, ori, ps, inst, sig)]
    out = []
    for k in range(n):
        pos, ori, ps = _frame_attrs(ds, k)
        out.append(Frame(ds, path, k, pos, ori, ps, inst, sig))
    positions = [f.position for f in out]
    if all(p is not None for p in positions) and all(np.allclose(p, positions[0]) for p in positions):
        # One position for every frame: an RT dose grid (GridFrameOffsetVector gives each frame's offset along the
        # normal), or frames that are not spatially distinct (cine, time) and keep their order.
        offsets = ds.get("GridFrameOffsetVector")
        ori = out[0].orientation
        try:
            offsets = [float(v) for v in offsets] if offsets is not None else None
        except (TypeError, ValueError):
            offsets = None
        if offsets is not None and len(offsets) == n and ori is not None:
            normal = slice_normal(ori[:3], ori[3:])
            if offsets[0] != 0 and abs(offsets[0] - float(np.dot(positions[0], normal))) < 1e-3:
                offsets = [o - offsets[0] for o in offsets]  # the "absolute" form: the offsets are positions along z
            for f, off in zip(out, offsets):
                f.position = positions[0] + off * normal
        else:
            for f in out:
                f.position = None
    return out


# Attributes that decide how pixel bytes are decoded; frames whose raw values match reuse one decoding plan.
_DECODE_TAGS = (0x00280002, 0x00280004, 0x00280008, 0x00280010, 0x00280011, 0x00280100, 0x00280101, 0x00280103)


def decode_signature(ds) -> tuple:
    meta = getattr(ds, "file_meta", None)
    ts = str(meta.get("TransferSyntaxUID", "")) if meta is not None else ""
    return (ts, *(raw_value(ds, t) for t in _DECODE_TAGS))


def raw_value(ds, tag: int):
    """An element's value as stored (raw bytes when pydicom has not converted it yet): cheap and hashable."""
    try:
        elem = ds.get_item(tag)
    except (KeyError, TypeError):
        return None
    if elem is None:
        return None
    v = elem.value
    if isinstance(v, (bytes, bytearray, str, int, float)) or v is None:
        return bytes(v) if isinstance(v, bytearray) else v
    return str(v)


_TAG_SERIES_UID, _TAG_ROWS, _TAG_COLS, _TAG_SPP = 0x0020000E, 0x00280010, 0x00280011, 0x00280002
# EchoNumbers, AcquisitionNumber, TemporalPositionIdentifier
_TAG_ECHO, _TAG_ACQ, _TAG_TEMPORAL = 0x00180086, 0x00200012, 0x00200100


def _number(v) -> float:
    """A raw IS/DS value as a number for ordering (bytes or text; the first of several); 0 when absent or odd."""
    try:
        text = v.decode("ascii", "replace") if isinstance(v, (bytes, bytearray)) else str(v if v is not None else "")
        return float(text.strip(" \x00").split("\\")[0] or 0)
    except ValueError:
        return 0.0


def _group_key(fr: Frame) -> tuple:
    """Frames with equal keys stack into one volume.  Raw values avoid converting every header."""
    ds = fr.ds
    ori = None if fr.orientation is None else tuple(np.round(fr.orientation, 3))
    return (
        raw_value(ds, _TAG_SERIES_UID) or f"file:{fr.path}",
        ori,
        raw_value(ds, _TAG_ROWS),
        raw_value(ds, _TAG_COLS),
        raw_value(ds, _TAG_SPP),
        None if fr.pixel_spacing is None else tuple(np.round(fr.pixel_spacing, 4)),
        _number(raw_value(ds, _TAG_ECHO)),  # the echoes of a multi-echo series are separate volumes (as dcm2niix)
    )


def _uid_text(v) -> str:
    if isinstance(v, bytes):
        return v.decode("ascii", "replace").strip(" \x00")
    return str(v or "")


def expand_dicomdir(path: Path) -> list[Path]:
    """Files referenced by a DICOMDIR."""
    import pydicom
    from pydicom.fileset import FileSet

    with reading(path, "DICOMDIR"):
        ds = pydicom.dcmread(str(path))
        fs = FileSet(ds)
        files = [Path(inst.path) for inst in fs]
    return [f for f in files if f.exists()]


def collect_files(root: Path) -> list[Path]:
    """All candidate DICOM files under a folder (recursive), following a DICOMDIR when there is one."""
    dicomdir = next((root / n for n in ("DICOMDIR", "dicomdir") if (root / n).is_file()), None)
    if dicomdir is not None:
        files = expand_dicomdir(dicomdir)
        if files:
            return files
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith(".") or name.upper() == "DICOMDIR":
                continue
            if Path(name).suffix.lower() in _SKIP_EXTS and not name.lower().endswith(".dcm"):
                continue
            out.append(Path(dirpath) / name)
    return out


def scan_files(files: list[Path], origin: Path) -> tuple[list[SeriesGroup], list[str]]:
    """Read each header once and group frames into series.  Returns (series, notes about skipped files)."""
    groups: dict[tuple, SeriesGroup] = {}
    notes: list[str] = []
    skipped = 0
    sizes = {}
    for f in files:
        try:
            sizes[f] = f.stat().st_size
        except OSError:
            sizes[f] = 0
    defer = sum(sizes.values()) > EAGER_FOLDER_BYTES
    for f in files:
        try:
            if sizes[f] == 0:
                skipped += 1
                continue
            head = _head(f)  # one read decides: DICM magic, or a raw (no preamble) data set
            magic = _has_magic(head)
            if not magic and not (f.suffix.lower() == ".dcm" or _is_raw(head)):
                skipped += 1
                continue
            check_readable(f)
            ds = read_header(f, force=not magic, defer=defer)
        except Exception:  # noqa: BLE001 - a folder scan skips unreadable files and reports how many
            skipped += 1
            continue
        for fr in frames_of(ds, str(f)):
            key = _group_key(fr)
            g = groups.get(key)
            if g is None:
                g = groups[key] = SeriesGroup(
                    uid=_uid_text(key[0]), key=key,
                    description=str(ds.get("SeriesDescription", "") or ds.get("StudyDescription", "") or ""),
                    modality=str(ds.get("Modality", "") or "OT"),
                    rows=int(ds.get("Rows", 0) or 0), cols=int(ds.get("Columns", 0) or 0),
                    samples=int(ds.get("SamplesPerPixel", 1) or 1),
                )
            g.frames.append(fr)
    if skipped:
        notes.append(f"{skipped} file(s) in {origin.name} were not readable DICOM images and were ignored.")
    series = list(groups.values())
    # Name the parts of a series that had to be split (mixed orientation or size).
    by_uid: dict[str, list[SeriesGroup]] = {}
    for g in series:
        by_uid.setdefault(g.uid, []).append(g)
    for uid, parts in by_uid.items():
        if len(parts) > 1:
            if len({p.key[:-1] for p in parts}) == 1:  # the parts differ only in their echo number
                for i, g in enumerate(sorted(parts, key=lambda p: p.key[-1]), start=1):
                    g.split_reason = f"echo {g.key[-1]:g} ({i} of {len(parts)} echoes)"
                    g.uid = f"{uid}#{i}"
                continue
            for i, g in enumerate(sorted(parts, key=lambda p: -len(p.frames)), start=1):
                g.split_reason = f"part {i} of {len(parts)} (the series mixes orientations, image sizes or echoes)"
                g.uid = f"{uid}#{i}"
    series.sort(key=lambda g: (-len(g.frames), g.uid))
    if not series:
        raise EmptyInputError(
            f"{origin}: no DICOM images were found here"
            + (f" ({skipped} file(s) were not readable DICOM images)." if skipped else "."),
            origin,
        )
    return series, notes


def sort_frames(g: SeriesGroup) -> tuple[list[Frame], np.ndarray | None, list[str]]:
    """Sort by ImagePositionPatient projected on the slice normal.  Returns (frames, positions along normal, notes)."""
    notes: list[str] = []
    frames = g.frames
    have_geo = all(f.position is not None and f.orientation is not None for f in frames)
    if not have_geo:
        if len(frames) > 1:
            notes.append("Slice positions are missing; slices are ordered by instance and frame number.")
        frames = sorted(frames, key=lambda f: (f.instance, f.index or 0, f.path))
        return frames, None, notes
    n = slice_normal(frames[0].orientation[:3], frames[0].orientation[3:])
    proj = np.array([float(np.dot(f.position, n)) for f in frames])
    # At one position, the earliest time point / acquisition / instance first, whatever the files are called
    order = sorted(range(len(frames)), key=lambda i: (proj[i], _number(raw_value(frames[i].ds, _TAG_TEMPORAL)),
                                                      _number(raw_value(frames[i].ds, _TAG_ACQ)), frames[i].instance,
                                                      frames[i].index or 0, frames[i].path))
    frames = [frames[i] for i in order]
    proj = proj[order]
    # Duplicate positions: several acquisitions / time points in one series.  Keep the first of each position.
    if len(proj) > 1:
        keep = np.concatenate([[True], np.diff(proj) > 1e-3])
        if not keep.all():
            dup = int((~keep).sum())
            notes.append(
                f"{dup} slice(s) share a position with another slice (several acquisitions or time points); "
                "at each position only the first (by time point, acquisition and instance number) is shown."
            )
            frames = [f for f, k in zip(frames, keep) if k]
            proj = proj[keep]
    return frames, proj, notes


def spacing_notes(proj: np.ndarray) -> tuple[float, list[str]]:
    """Median slice spacing and warnings for non-uniform spacing and missing slices."""
    d = np.diff(proj)
    if d.size == 0:
        return 0.0, []
    med = float(np.median(d))
    notes = []
    gaps = d > 1.5 * med
    if gaps.any():
        missing = int(np.sum(np.round(d[gaps] / med) - 1))
        first = int(np.argmax(gaps))
        notes.append(
            f"About {max(missing, 1)} slice(s) appear to be missing (a gap of {d[gaps].max():.2f} mm where "
            f"{med:.2f} mm is usual, first after slice {first + 1}); distances across the gap are not true."
        )
    elif np.max(np.abs(d - med)) > max(0.01 * med, 1e-3):
        notes.append(
            f"Slice spacing is not uniform ({d.min():.3f} to {d.max():.3f} mm); the volume uses the median "
            f"{med:.3f} mm, so distances along the slice axis are approximate."
        )
    return med, notes
