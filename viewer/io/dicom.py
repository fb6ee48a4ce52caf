"""DICOM reader: single files, multi-frame files, folders (recursive) and DICOMDIR.

Slices are ordered by ImagePositionPatient projected on the slice normal (never by InstanceNumber alone);
RescaleSlope/Intercept (and Modality LUTs) are applied; MONOCHROME1 is inverted so that high always means bright;
colour (RGB, YBR, palette) becomes RGB uint8.  Non-uniform spacing and missing slices become warnings on the Study.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import CorruptFileError, InconsistentSeriesError, MissingDecoderError, UnsupportedFormatError
from ..model.geometry import Geometry, from_dicom
from ..model.study import SeriesInfo, Study
from . import _dicom_scan as scan_mod
from ._common import check_size, reading

# Non-identifying attributes kept on Study.metadata (names, IDs, dates and free text about the patient are not).
_KEEP = (
    "Modality", "Manufacturer", "ManufacturerModelName", "MagneticFieldStrength", "SeriesDescription",
    "StudyDescription", "BodyPartExamined", "SliceThickness", "SpacingBetweenSlices", "RepetitionTime", "EchoTime",
    "InversionTime", "FlipAngle", "KVP", "PhotometricInterpretation", "BitsStored", "BitsAllocated",
    "SOPClassUID", "StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID", "SeriesNumber",
    "ScanningSequence", "SequenceName", "ContrastBolusAgent", "PatientPosition",
)


def _series_info(g: scan_mod.SeriesGroup) -> SeriesInfo:
    desc = g.description or f"{g.modality} {g.rows}x{g.cols}"
    if g.split_reason:
        desc = f"{desc} [{g.split_reason}]"
    return SeriesInfo(
        uid=g.uid, description=desc, modality=g.modality, n_slices=len(g.frames),
        shape=(len(g.frames), g.rows, g.cols) + ((g.samples,) if g.samples > 1 else ()),
        files=sorted({f.path for f in g.frames}),
    )


def scan_dicom(path: Path) -> tuple[list[scan_mod.SeriesGroup], list[str]]:
    """Series found at a path (file, folder or DICOMDIR), headers read once."""
    if path.is_dir():
        files = scan_mod.collect_files(path)
    elif path.name.upper() == "DICOMDIR":
        files = scan_mod.expand_dicomdir(path)
    else:
        files = [path]
    if path.is_file() and path.name.upper() != "DICOMDIR":
        ds = scan_mod.read_header(path, force=not scan_mod.is_dicom_file(path))
        if str(getattr(getattr(ds, "file_meta", None), "get", lambda *_: "")("MediaStorageSOPClassUID", "")) == scan_mod.DICOMDIR_SOP:
            return scan_dicom_files(scan_mod.expand_dicomdir(path), path)
        frames = scan_mod.frames_of(ds, str(path))
        if not frames and _should_hold_image(ds):
            raise CorruptFileError(
                f"{path.name}: this DICOM file is an image object but holds no pixel data: it is incomplete (cut "
                "short by an interrupted copy or transfer?) or was exported without its pixels.", path)
        if not frames:
            raise UnsupportedFormatError(
                f"{path.name}: this DICOM file holds no image (it may be a report, structured document or presentation state).",
                path,
            )
        g = scan_mod.SeriesGroup(uid=str(ds.get("SeriesInstanceUID", "")) or path.name, key=(),
                                 description=str(ds.get("SeriesDescription", "") or ""), modality=str(ds.get("Modality", "") or "OT"),
                                 rows=int(ds.get("Rows", 0) or 0), cols=int(ds.get("Columns", 0) or 0),
                                 samples=int(ds.get("SamplesPerPixel", 1) or 1), frames=frames)
        return [g], []
    return scan_dicom_files(files, path)


def _should_hold_image(ds) -> bool:
    """True for a data set whose header says it is an image (image attributes, or an image / dose SOP class)."""
    from pydicom.uid import UID

    if ds.get("Rows") and ds.get("Columns") and ds.get("BitsAllocated"):
        return True
    meta = getattr(ds, "file_meta", None)
    sop = str(ds.get("SOPClassUID", "") or (meta.get("MediaStorageSOPClassUID", "") if meta is not None else ""))
    name = UID(sop).name if sop else ""
    return "Image Storage" in name or name == "RT Dose Storage"


def scan_dicom_files(files: list[Path], origin: Path):
    return scan_mod.scan_files(files, origin)


def pick_series(groups: list[scan_mod.SeriesGroup], series: str | int | None, path: Path) -> scan_mod.SeriesGroup:
    if series is None or series == "":
        return groups[0]  # the largest
    for i, g in enumerate(groups):
        if str(series) in (g.uid, str(i)):
            return g
    raise UnsupportedFormatError(
        f"{path.name}: there is no series '{series}' here; choose one of: " + ", ".join(g.uid for g in groups), path
    )


def _rescale(ds, k: int | None) -> tuple[float, float]:
    slope, inter = ds.get("RescaleSlope"), ds.get("RescaleIntercept")
    if str(ds.get("Modality", "")) == "RTDOSE" and ds.get("DoseGridScaling") not in (None, ""):
        slope, inter = ds.get("DoseGridScaling"), 0.0  # stored integers x DoseGridScaling = dose in DoseUnits (Gy)
    if k is not None:
        for seq_name, idx in (("SharedFunctionalGroupsSequence", 0), ("PerFrameFunctionalGroupsSequence", k)):
            seq = ds.get(seq_name)
            if seq and len(seq) > idx:
                pv = seq[idx].get("PixelValueTransformationSequence")
                if pv and len(pv):
                    slope = pv[0].get("RescaleSlope", slope)
                    inter = pv[0].get("RescaleIntercept", inter)
    try:
        s = float(slope) if slope not in (None, "") else 1.0
        i = float(inter) if inter not in (None, "") else 0.0
    except (TypeError, ValueError):
        return 1.0, 0.0
    if not np.isfinite(s) or s == 0:
        s = 1.0
    if not np.isfinite(i):
        i = 0.0
    return s, i


_NATIVE_LE = {"1.2.840.10008.1.2.1", "1.2.840.10008.1.2"}  # Explicit / Implicit VR Little Endian


def _native_plan(ds) -> tuple[np.dtype, int, int, int] | None:
    """(dtype, rows, cols, mask) when uncompressed single-frame grey pixels can be taken straight from the buffer.

    This is what pixel_array returns, without its per-file checks; None means "use pydicom's pixel_array".

    Only for the plain case: little-endian, 8/16/32 bits allocated, unsigned (the bits above BitsStored are masked
    off, as pydicom does: old CR/MR files keep overlay planes there, PS3.5 8.1.1) or signed with BitsStored ==
    BitsAllocated (no sign extension needed), and HighBit = BitsStored - 1.  Everything else goes through pydicom's
    pixel_array.
    """
    meta = getattr(ds, "file_meta", None)
    ts = str(meta.get("TransferSyntaxUID", "")) if meta is not None else ""
    if str(ds.get("PhotometricInterpretation", "")) not in ("MONOCHROME1", "MONOCHROME2"):
        return None
    if ts not in _NATIVE_LE or int(ds.get("SamplesPerPixel", 1) or 1) != 1 or int(ds.get("NumberOfFrames", 1) or 1) != 1:
        return None
    ba, bs = int(ds.get("BitsAllocated", 0) or 0), int(ds.get("BitsStored", 0) or 0)
    signed = int(ds.get("PixelRepresentation", 0) or 0) == 1
    if ba not in (8, 16, 32) or not 0 < bs <= ba or (signed and bs != ba) or "PixelData" not in ds:
        return None
    hb = ds.get("HighBit")
    if hb is not None and int(hb) != bs - 1:
        return None
    mask = (1 << bs) - 1 if bs < ba else 0
    return np.dtype(f"<{'i' if signed else 'u'}{ba // 8}"), int(ds.Rows), int(ds.Columns), mask


def _from_buffer(ds, plan) -> np.ndarray | None:
    dtype, rows, cols, mask = plan
    buf = ds.PixelData
    if not isinstance(buf, (bytes, bytearray)) or len(buf) < rows * cols * dtype.itemsize:
        return None
    # unmasked: the caller masks the bits above BitsStored (plan[3]) while copying into the volume, in one pass
    return np.frombuffer(buf, dtype=dtype, count=rows * cols).reshape(rows, cols).astype(dtype.newbyteorder("="), copy=False)


def _decode(ds, path: str) -> np.ndarray:
    """Decoded pixels of one dataset (pydicom's pixel_array: colour converted to RGB); the uncompressed grey fast
    path (:func:`_native_plan`, :func:`_from_buffer`) is taken by :func:`load_series` itself."""
    try:
        arr = ds.pixel_array
    except NotImplementedError as e:
        ts = getattr(getattr(ds, "file_meta", None), "get", lambda *_: None)("TransferSyntaxUID")
        name = getattr(ts, "name", str(ts))
        raise MissingDecoderError(
            f"{Path(path).name}: the images are compressed as '{name}', which no installed decoder can read; "
            "ask for an uncompressed export or install a decoder plugin for pydicom.",
            path,
        ) from e
    except (RuntimeError, ValueError) as e:
        msg = str(e).lower()
        if "plugin" in msg and "decod" in msg:
            ts = getattr(getattr(ds, "file_meta", None), "get", lambda *_: None)("TransferSyntaxUID")
            bits = ds.get("BitsStored")
            raise MissingDecoderError(
                f"{Path(path).name}: the images are compressed as '{getattr(ts, 'name', ts)}'"
                + (f" with {bits}-bit samples" if bits else "")
                + ", which none of the installed decoders can read; ask for an uncompressed or JPEG 2000 export.",
                path,
            ) from e
        raise
    pi = str(ds.get("PhotometricInterpretation", ""))
    if pi == "PALETTE COLOR":
        from pydicom.pixels import apply_color_lut

        arr = apply_color_lut(arr, ds)
        if arr.dtype != np.uint8:
            arr = (arr >> 8).astype(np.uint8) if arr.dtype == np.uint16 else arr
    return arr


def _modality(arr: np.ndarray, ds, k: int | None) -> np.ndarray:
    if "ModalityLUTSequence" in ds and arr.ndim == 2:
        from pydicom.pixels import apply_modality_lut

        return apply_modality_lut(arr, ds)
    s, i = _rescale(ds, k)
    if s == 1.0 and i == 0.0:
        return arr
    if float(s).is_integer() and float(i).is_integer() and arr.dtype.kind in "iu":
        return arr.astype(np.int32) * int(s) + int(i)
    return arr.astype(np.float32) * np.float32(s) + np.float32(i)


def _out_dtype(first_arr: np.ndarray, params: list[tuple[float, float]], ds, lut: bool) -> np.dtype:
    if first_arr.ndim == 3 and first_arr.shape[-1] in (3, 4) and first_arr.dtype == np.uint8:
        return np.dtype(np.uint8)
    if lut:
        return np.dtype(np.float32)
    if all(p == (1.0, 0.0) for p in params):
        return first_arr.dtype
    if first_arr.dtype.kind == "f" or not all(float(s).is_integer() and float(i).is_integer() for s, i in params):
        return np.dtype(np.float32)
    bits = int(ds.get("BitsStored", first_arr.dtype.itemsize * 8) or 16)
    signed = int(ds.get("PixelRepresentation", 0) or 0) == 1
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    ends = [v for s, i in params for v in (lo * s + i, hi * s + i)]
    if min(ends) >= -32768 and max(ends) <= 32767:
        return np.dtype(np.int16)
    if min(ends) >= -(2**31) and max(ends) < 2**31:
        return np.dtype(np.int32)
    return np.dtype(np.float32)


def load_series(g: scan_mod.SeriesGroup, origin: Path, all_groups: list[scan_mod.SeriesGroup], notes: list[str]) -> Study:
    frames, proj, sort_notes = scan_mod.sort_frames(g)
    warnings = list(notes) + sort_notes
    first = frames[0]
    ds0 = first.ds
    rows, cols, samples = g.rows, g.cols, g.samples
    if rows <= 0 or cols <= 0:
        raise CorruptFileError(f"{Path(first.path).name}: the header gives an image size of {rows} x {cols}.", first.path)
    colour = samples > 1 or str(ds0.get("PhotometricInterpretation", "")) == "PALETTE COLOR"
    shape = (len(frames), rows, cols) + ((3,) if colour else ())
    bits = int(ds0.get("BitsAllocated", 16) or 16)
    check_size(shape, np.dtype(f"u{max(1, min(bits, 64) // 8)}") if bits in (8, 16, 32, 64) else np.uint16, first.path)

    params = [_rescale(f.ds, f.index) for f in frames]
    lut = any("ModalityLUTSequence" in f.ds for f in frames)
    out = None
    cache_path, cache_arr = None, None
    sig0, plan0 = first.decode_sig, _native_plan(ds0)
    for z, fr in enumerate(frames):
        with reading(fr.path, "DICOM image"):
            mask = 0
            if fr.index is None:
                plan = plan0 if fr.ds is ds0 or fr.decode_sig == sig0 else _native_plan(fr.ds)
                arr = _from_buffer(fr.ds, plan) if plan is not None else None
                if arr is None:
                    arr = _decode(fr.ds, fr.path)
                else:
                    mask = plan[3]  # bits above BitsStored still to clear
            else:
                if cache_path != fr.path:
                    cache_path, cache_arr = fr.path, _decode(fr.ds, fr.path)
                    if cache_arr.ndim == (3 if colour else 2):
                        cache_arr = cache_arr[None]
                arr = cache_arr[fr.index]
            if arr.shape[:2] != (rows, cols):
                raise InconsistentSeriesError(
                    f"{Path(fr.path).name}: the pixel data is {arr.shape[:2]} but the header says {rows} x {cols}.", fr.path
                )
            plain = bool(mask) and "ModalityLUTSequence" not in fr.ds and params[z] == (1.0, 0.0)
            if mask and not plain:
                arr = arr & arr.dtype.type(mask)
            val = arr if plain else _modality(arr, fr.ds, fr.index)
            if out is None:
                dtype = _out_dtype(arr, params, ds0, lut)
                check_size(shape, dtype, first.path)  # rescaled values may need a wider type than the stored bits
                out = np.empty(shape, dtype=dtype)
            if val.ndim == 3 and out.ndim == 3:  # colour frame in a grey series
                raise InconsistentSeriesError(f"{Path(fr.path).name}: a colour image in a grey series.", fr.path)
            if plain and out.dtype == arr.dtype:
                np.bitwise_and(arr, arr.dtype.type(mask), out=out[z])  # mask while copying: one pass, no temporary
            else:
                out[z] = val & val.dtype.type(mask) if plain else val
            if fr.index is None and "PixelData" in fr.ds:
                del fr.ds.PixelData  # release the raw bytes as we go
    cache_arr = None
    if str(ds0.get("PhotometricInterpretation", "")) == "MONOCHROME1" and out.ndim == 3:
        lo, hi = out.min(), out.max()
        total = out.dtype.type(lo) + out.dtype.type(hi) if out.dtype.kind == "f" else int(lo) + int(hi)
        for z in range(out.shape[0]):
            out[z] = (total - out[z].astype(np.float64 if out.dtype.kind == "f" else np.int64)).astype(out.dtype)
        warnings.append("MONOCHROME1 images were inverted so that bright means high signal, as on a PACS.")

    # Geometry
    ps = first.pixel_spacing
    size_known = ps is not None
    if ps is None:
        ps = (1.0, 1.0)
        if g.modality not in ("US", "OT", "XC", "SM", "ES", "GM"):
            warnings.append("Pixel spacing is not given; distances are in pixels, not millimetres.")
    if proj is not None and first.orientation is not None:
        if len(frames) > 1:
            med, sp_notes = scan_mod.spacing_notes(proj)
            warnings.extend(sp_notes)
        else:
            med = 0.0
        if med <= 0:
            med = _thickness(ds0)
        geom = from_dicom(first.position, first.orientation, ps, med)
    else:
        geom = Geometry(origin=(0, 0, 0), spacing=(ps[1], ps[0], _thickness(ds0)))
        if g.modality in ("CT", "MR", "PT", "NM") and len(frames) > 1:
            warnings.append("Slice positions are missing; the 3D geometry is approximate.")
    meta = {k: _plain(ds0.get(k)) for k in _KEEP if k in ds0}
    meta["TransferSyntaxUID"] = str(getattr(getattr(ds0, "file_meta", None), "get", lambda *_: "")("TransferSyntaxUID", ""))
    meta["SOPInstanceUIDs"] = [str(f.ds.get("SOPInstanceUID", "")) for f in frames]
    meta["frame_indices"] = [f.index for f in frames]
    if not size_known:
        meta["pixel_size_mm_known"] = False  # no mL / mm in the statistics (the geometry checks stay as they are)
    wc, ww = ds0.get("WindowCenter"), ds0.get("WindowWidth")
    if wc is not None and ww is not None:
        try:
            wc0 = float(wc[0] if hasattr(wc, "__len__") and not isinstance(wc, str) else wc)
            ww0 = float(ww[0] if hasattr(ww, "__len__") and not isinstance(ww, str) else ww)
            meta["window"] = [wc0, ww0]
        except (TypeError, ValueError, IndexError):
            pass
    info = _series_info(g)
    sources = []
    seen = set()
    for f in frames:
        if f.path not in seen:
            seen.add(f.path)
            sources.append(f.path)
    return Study(
        voxels=out,
        geometry=geom,
        modality=g.modality or "OT",
        description=info.description,
        format="DICOM" + (" multi-frame" if first.index is not None else (" series" if len(frames) > 1 else "")),
        source=sources,
        metadata=meta,
        warnings=warnings,
        series=[_series_info(x) for x in all_groups] if len(all_groups) > 1 else [],
        series_uid=g.uid,
    )


def _thickness(ds) -> float:
    for key in ("SpacingBetweenSlices", "SliceThickness"):
        try:
            v = float(ds.get(key))
            if np.isfinite(v) and v > 0:
                return v
        except (TypeError, ValueError):
            continue
    return 1.0


def _plain(v):
    if v is None:
        return None
    if isinstance(v, (int, float, str)):
        return v
    try:
        if hasattr(v, "__len__") and not isinstance(v, (bytes, str)):
            return [float(x) if isinstance(x, (int, float)) else str(x) for x in v]
        return float(v) if isinstance(v, (int, float)) else str(v)
    except (TypeError, ValueError):
        return str(v)


def read_dicom(path: Path, series: str | int | None = None) -> Study:
    groups, notes = scan_dicom(path)
    g = pick_series(groups, series, path)
    return load_series(g, path, groups, notes)


def series_list(path: Path) -> list[SeriesInfo]:
    groups, _ = scan_dicom(path)
    return [_series_info(g) for g in groups]
