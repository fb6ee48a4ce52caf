"""2D raster images (PNG, JPEG, BMP, TIFF) and folders of them as a stack."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import CorruptFileError, EmptyInputError, InconsistentSeriesError, UnsupportedFormatError
from ..model.geometry import Geometry
from ..model.study import SeriesInfo, Study
from ._common import check_size, natural_key, reading

RASTER_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}
_TIFF_EXTS = {".tif", ".tiff"}


def _pil_array(path: Path) -> tuple[np.ndarray, list[str]]:
    from PIL import Image

    warnings: list[str] = []
    Image.MAX_IMAGE_PIXELS = None  # we apply our own limit below, before decoding
    with Image.open(path) as im:
        w, h = im.size
        bands = len(im.getbands())
        check_size((h, w, max(bands, 1)), np.uint16 if im.mode.startswith("I") else np.uint8, path)
        if im.getexif().get(0x0112, 1) not in (1, None):  # EXIF Orientation: show the photo upright, as a camera meant
            from PIL import ImageOps

            im = ImageOps.exif_transpose(im)
            warnings.append("The photo was turned upright as its EXIF orientation tag says.")
        mode = im.mode
        if mode == "P" or mode == "PA":
            im = im.convert("RGBA" if "transparency" in im.info or mode == "PA" else "RGB")
        elif mode in ("1",):
            im = im.convert("L")
        elif mode == "LA":
            im = im.convert("RGBA")
        elif mode == "CMYK" or mode == "YCbCr":
            im = im.convert("RGB")
        elif mode == "I":
            pass
        im.load()
        arr = np.asarray(im)
    if arr.dtype == np.int32:  # PIL "I" mode for 16-bit PNGs
        lo, hi = int(arr.min()), int(arr.max())
        arr = arr.astype(np.uint16) if lo >= 0 and hi < 65536 else arr
    if arr.ndim == 3 and arr.shape[2] == 4:
        alpha = arr[..., 3]
        if alpha.min() != alpha.max():
            warnings.append("The image has a transparency channel; it was dropped.")
        arr = arr[..., :3]
    if arr.ndim == 3 and arr.shape[2] == 2:
        arr = arr[..., 0]
    return np.ascontiguousarray(arr), warnings


def _tiff_array(path: Path) -> tuple[np.ndarray, list[str]]:
    import tifffile

    warnings: list[str] = []
    with _tifffile_complaints() as complaints, tifffile.TiffFile(path) as tif:
        len(tif.pages)  # walks the whole page chain: a file cut short breaks it, and tifffile logs that
        series = tif.series[0]
        first = tif.pages.first
        # images in the series (a contiguous stack, e.g. an ImageJ virtual stack, has one page for all its images)
        images = int(np.prod(series.shape)) // max(1, int(np.prod(first.shape))) if first is not None else 0
        declared = _declared_pages(tif)
        offset, size = getattr(series, "dataoffset", None), path.stat().st_size
        short = offset is not None and offset + int(series.nbytes) > size  # contiguous data past the end of the file
        if complaints or (declared and declared > images) or short:
            why = (complaints[0] if complaints else
                   f"{declared} images are announced but only {images} can be read" if declared and declared > images
                   else f"its image data needs {offset + int(series.nbytes)} bytes but the file has {size}")
            raise CorruptFileError(f"{path.name}: this TIFF is damaged or cut short (an incomplete copy?): {why}.", path)
        check_size(series.shape, series.dtype, path)
        arr = series.asarray()
    axes = series.axes
    arr = np.asarray(arr)
    if arr.ndim == 3 and axes.endswith("S") and arr.shape[-1] == 4:
        a = arr[..., 3]
        if a.min() != a.max():
            warnings.append("The image has a transparency channel; it was dropped.")
        arr = arr[..., :3]
    if arr.ndim == 3 and axes[0] in "SC" and arr.shape[0] in (3, 4) and not axes.endswith("S"):
        arr = np.moveaxis(arr[:3], 0, -1)
    return np.ascontiguousarray(arr), warnings


def _declared_pages(tif) -> int:
    """How many pages the writer announced (ImageJ ``images=``, tifffile's ``shape`` JSON), 0 when unknown."""
    try:
        if tif.is_imagej and tif.imagej_metadata:
            return int(tif.imagej_metadata.get("images", 0) or 0)
        meta = tif.shaped_metadata
        if meta and meta[0].get("shape") and len(tif.series) == 1:
            shape = [int(v) for v in meta[0]["shape"]]
            first = tif.pages.first
            per_page = int(np.prod(first.shape)) if first is not None else 0
            return int(np.prod(shape)) // per_page if per_page else 0
    except (TypeError, ValueError, AttributeError, IndexError, KeyError):
        return 0
    return 0


_BROKEN_CHAIN = ("page offset", "invalid offset", "truncat", "corrupt")  # tifffile's words for a damaged file


class _tifffile_complaints:
    """Collects tifffile's log messages about a broken page chain while this thread parses a file (it logs them
    instead of raising, and reads the pages before the break as if they were the whole file).  Only records of the
    calling thread count: batch workers and GUI loaders read other files at the same time."""

    def __enter__(self) -> list[str]:
        import logging
        import threading

        self.messages: list[str] = []
        outer, me = self, threading.get_ident()

        class Keep(logging.Handler):
            def emit(self, record):
                msg = record.getMessage().split(">", 1)[-1].strip()
                if record.thread == me and record.levelno >= logging.WARNING and \
                        any(w in msg.lower() for w in _BROKEN_CHAIN):
                    outer.messages.append(msg)

        self.logger, self.handler = logging.getLogger("tifffile"), Keep()
        self.logger.addHandler(self.handler)
        return self.messages

    def __exit__(self, *exc) -> None:
        self.logger.removeHandler(self.handler)


def read_image_array(path: Path) -> tuple[np.ndarray, list[str]]:
    """Pixels of one raster file: (y, x), (y, x, 3), or for multi-page TIFF (z, y, x[, 3])."""
    if path.stat().st_size == 0:
        raise EmptyInputError(f"{path.name}: the file is empty (0 bytes); it was probably not copied completely.", path)
    with reading(path, "image"):
        if path.suffix.lower() in _TIFF_EXTS:
            try:
                return _tiff_array(path)
            except (ValueError, KeyError, IndexError, TypeError):
                pass  # fall back to Pillow for TIFF variants tifffile refuses
        from PIL import UnidentifiedImageError

        try:
            return _pil_array(path)
        except UnidentifiedImageError as e:
            raise UnsupportedFormatError(f"{path.name}: this file is not an image MedRoute can read.", path) from e


def _to_study(arr: np.ndarray, sources: list[str], warnings: list[str], description: str, fmt: str, stack: bool) -> Study:
    if arr.ndim == 2:
        vox = arr[None]
    elif arr.ndim == 3 and not stack and arr.shape[2] in (3, 4) and arr.shape[0] > 4:
        vox = arr[None]
    else:
        vox = arr
    if vox.ndim == 4 and vox.shape[3] == 1:
        vox = vox[..., 0]
    return Study(
        voxels=np.ascontiguousarray(vox),
        geometry=Geometry(),
        modality="OT",
        description=description,
        format=fmt,
        source=sources,
        warnings=warnings,
        metadata={"pixel_spacing_known": False},
    )


def read_raster(path: Path) -> Study:
    arr, warnings = read_image_array(path)
    fmt = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP"}.get(path.suffix.lower(), "TIFF")
    stack = path.suffix.lower() in _TIFF_EXTS and arr.ndim >= 3 and not (arr.ndim == 3 and arr.shape[2] in (3, 4))
    return _to_study(arr, [str(path)], warnings, path.name, fmt, stack=stack)


def _image_key(path: Path) -> tuple:
    """(height, width, mode) from the header only, to group a folder of images without decoding them."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            return (im.size[1], im.size[0], im.mode)
    except Exception:  # noqa: BLE001 - unreadable files form their own group and fail with a clear error on load
        return (0, 0, f"unreadable:{path.name}")


def read_raster_stack(files: list[Path], folder: Path, series: str | int | None = None) -> Study:
    """A folder of same-size 2D images as a stack, in natural sort order.

    A folder mixing image sizes is split into groups (like DICOM series): the largest group (or the one named by
    ``series``, e.g. ``"256x320 L"`` or its index) is opened and all groups are listed in ``Study.series``.
    """
    files = sorted(files, key=natural_key)
    if not files:
        raise EmptyInputError(f"{folder}: the folder holds no images.", folder)
    groups: dict[tuple, list[Path]] = {}
    for f in files:
        groups.setdefault(_image_key(f), []).append(f)
    ordered = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0][2], kv[0][:2]))
    infos = [
        SeriesInfo(uid=f"{w}x{h} {mode}", description=f"{len(fs)} image(s) of {w}x{h} ({mode})", modality="OT",
                   n_slices=len(fs), shape=(len(fs), h, w), files=[str(x) for x in fs])
        for (h, w, mode), fs in ordered
    ]
    pick = 0
    if series not in (None, ""):
        pick = next((i for i, s in enumerate(infos) if str(series) in (s.uid, str(i))), -1)
        if pick < 0:
            raise UnsupportedFormatError(
                f"{folder.name}: there is no image group '{series}'; choose one of: " + ", ".join(s.uid for s in infos), folder
            )
    files = ordered[pick][1]
    first, warnings = read_image_array(files[0])
    if first.ndim == 3 and first.shape[2] not in (3, 4):
        raise InconsistentSeriesError(
            f"{files[0].name}: a multi-page image cannot be stacked with others; open it on its own.", files[0]
        )
    check_size((len(files), *first.shape), first.dtype, folder)
    out = np.empty((len(files), *first.shape), dtype=first.dtype)
    out[0] = first
    for k, f in enumerate(files[1:], start=1):
        arr, w = read_image_array(f)
        if arr.shape != first.shape or arr.dtype != first.dtype:
            raise InconsistentSeriesError(
                f"{folder.name}: the images differ in size or type ({files[0].name} is {first.shape} {first.dtype}, "
                f"{f.name} is {arr.shape} {arr.dtype}); open them one at a time.",
                folder,
            )
        out[k] = arr
        warnings.extend(x for x in w if x not in warnings)
    if len(infos) > 1:
        warnings.append(
            f"The folder mixes {len(infos)} image sizes; showing the {len(files)} image(s) of {infos[pick].uid}. "
            "Pick another group in the series list."
        )
    if out.ndim == 4 and out.shape[3] == 1:
        out = out[..., 0]
    return Study(
        voxels=out,
        geometry=Geometry(),
        modality="OT",
        description=f"{folder.name} ({len(files)} images)",
        format="image stack",
        source=[str(f) for f in files],
        warnings=warnings,
        metadata={"pixel_spacing_known": False},
        series=infos if len(infos) > 1 else [],
        series_uid=infos[pick].uid,
    )
