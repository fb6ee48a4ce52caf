"""Writing image / label files for export: PNG (2D, values as they are) and NIfTI (exact study geometry, clean header)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..io._common import atomic_path
from .deid import ExportError

PNG_DTYPES = (np.uint8, np.uint16)


def png_ok(arr: np.ndarray) -> bool:
    """True when a 2D slice can be stored losslessly as a grey PNG (8- or 16-bit, non-negative whole numbers)."""
    if arr.dtype in (np.uint8, np.uint16, np.bool_):
        return True
    if arr.dtype.kind in "iu" and arr.size:
        return int(arr.min()) >= 0 and int(arr.max()) <= 65535
    return False


def png_array(arr: np.ndarray) -> np.ndarray:
    if arr.dtype in PNG_DTYPES:
        return arr
    if not png_ok(arr):
        raise ExportError("This image holds negative or fractional values and cannot be stored as PNG; export as NIfTI.")
    return arr.astype(np.uint8 if arr.size == 0 or int(arr.max()) <= 255 else np.uint16)


def write_png(path: Path, arr2d: np.ndarray) -> None:
    from PIL import Image

    a = png_array(np.ascontiguousarray(arr2d))
    with atomic_path(path) as tmp:
        Image.fromarray(a).save(tmp, format="PNG")  # no text chunks: nothing but pixels


def nifti_image(data_zyx: np.ndarray, geometry, descrip: str = "MedRoute export"):
    """A NIfTI-1 image of ``(z, y, x)`` or ``(z, y, x, c)`` voxels with the study's geometry as sform and qform.

    Channels become the 4th NIfTI dimension (MSD convention).  The header holds nothing but geometry and
    ``descrip`` (no source name, no dates).
    """
    import nibabel as nib

    a = np.asarray(data_zyx)
    data = a.transpose(2, 1, 0) if a.ndim == 3 else a.transpose(2, 1, 0, 3)
    if data.dtype == np.bool_:
        data = data.astype(np.uint8)
    affine = geometry.to_nifti_affine()
    img = nib.Nifti1Image(np.ascontiguousarray(data), affine)
    img.set_sform(affine, code=1)
    img.set_qform(affine, code=1)
    img.header.set_xyzt_units("mm")
    img.header["descrip"] = descrip.encode()[:79]
    img.header["aux_file"] = b""
    img.header["intent_name"] = b""
    img.header["db_name"] = b""
    return img


def write_nifti(path: Path, data_zyx: np.ndarray, geometry, descrip: str = "MedRoute export") -> None:
    import nibabel as nib

    img = nifti_image(data_zyx, geometry, descrip)
    with atomic_path(path) as tmp:
        nib.save(img, str(tmp))


def read_nifti_grid(path: Path) -> tuple[tuple[int, ...], np.ndarray]:
    """(shape, affine) of a NIfTI file (header only)."""
    import nibabel as nib

    img = nib.load(str(path))
    return tuple(int(v) for v in img.shape), np.asarray(img.affine)


def header_text(path: Path) -> str:
    """The free-text fields of a NIfTI header (what de-identification checks)."""
    import nibabel as nib

    h = nib.load(str(path)).header
    return " ".join(bytes(h[k]).decode("latin-1", "replace") for k in ("descrip", "aux_file", "intent_name", "db_name"))


from ..io._common import sha256_file  # noqa: E402,F401 - re-exported for the export modules
