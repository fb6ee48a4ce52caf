"""NIfTI-1/2 reader (nibabel).  RAS -> LPS happens in viewer.model.geometry.from_nifti_affine, nowhere else."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import CorruptFileError, EmptyInputError, UnsupportedFormatError
from ..model.geometry import from_nifti_affine
from ..model.study import Study
from ._common import check_size, reading

_MODALITY_HINTS = {"ct": "CT", "mr": "MR", "t1": "MR", "t2": "MR", "flair": "MR", "pet": "PT"}


def read_nifti(path: Path, volume: int | None = None) -> Study:
    """Open a .nii / .nii.gz file.

    3D images give (z, y, x).  4D images give (z, y, x, c) with the 4th dimension as channels, or one volume when
    ``volume`` is given.  Scaling (scl_slope / scl_inter) is applied: integer data with identity scaling keeps its
    dtype, anything else becomes float32.
    """
    import nibabel as nib

    if path.stat().st_size == 0:
        raise EmptyInputError(f"{path.name}: the file is empty (0 bytes); it was probably not copied completely.", path)
    with reading(path, "NIfTI file"):
        try:
            img = nib.load(str(path))
        except nib.filebasedimages.ImageFileError as e:
            raise CorruptFileError(f"{path.name}: this is not a readable NIfTI file ({e}).", path) from e
        if not isinstance(img, (nib.Nifti1Image, nib.Nifti2Image)):
            raise UnsupportedFormatError(f"{path.name}: {type(img).__name__} files are not supported; convert to NIfTI.", path)
        hdr = img.header
        shape = tuple(int(s) for s in img.shape)
        if len(shape) < 2 or any(s <= 0 for s in shape):
            raise CorruptFileError(f"{path.name}: the header gives an invalid image size {shape}.", path)
        # Drop trailing singleton dimensions beyond 3 (e.g. x, y, z, 1).
        while len(shape) > 3 and shape[-1] == 1:
            shape = shape[:-1]
        if len(shape) > 4:
            raise UnsupportedFormatError(
                f"{path.name}: {len(shape)}-dimensional NIfTI images ({shape}) are not supported; only 2D, 3D and 4D.",
                path,
            )
        slope, inter = hdr.get_slope_inter()
        scaled = not (slope in (None, 1.0) and inter in (None, 0.0)) or np.isnan(slope if slope is not None else 1.0)
        raw_dtype = hdr.get_data_dtype()
        out_dtype = np.dtype(np.float32) if (scaled or raw_dtype.kind == "f") else raw_dtype
        if raw_dtype.kind == "c" or raw_dtype.names is not None:
            if raw_dtype.names is not None and len(raw_dtype.names) in (3, 4):  # RGB24 / RGBA32
                out_dtype = np.dtype(np.uint8)
            else:
                raise UnsupportedFormatError(f"{path.name}: complex-valued NIfTI data cannot be displayed.", path)
        n_vol = shape[3] if len(shape) == 4 else 1
        if volume is not None and not (0 <= volume < n_vol):
            raise UnsupportedFormatError(f"{path.name}: volume {volume} was asked for but the file has {n_vol}.", path)
        spatial = shape[:3] if len(shape) >= 3 else (*shape, 1)
        alloc = (*spatial, 1 if volume is not None else n_vol)
        check_size(alloc, out_dtype, path)

        dataobj = img.dataobj
        if raw_dtype.names is not None:
            raw = np.asanyarray(dataobj)
            data = np.stack([raw[n] for n in raw_dtype.names[:3]], axis=-1).astype(np.uint8)
            shape = (*shape, 3)
        elif volume is not None:
            data = np.asarray(dataobj[..., volume], dtype=out_dtype) if scaled else np.asarray(dataobj[..., volume])
        elif scaled or raw_dtype.kind == "f":
            data = img.get_fdata(dtype=np.float32) if out_dtype == np.float32 else np.asanyarray(dataobj)
        else:
            data = np.asanyarray(dataobj)
        if data.ndim == 2:
            data = data[:, :, None]
        if not data.dtype.isnative:
            data = data.astype(data.dtype.newbyteorder("="))
        # nibabel indexes (i, j, k[, t]); we store (k, j, i[, c]).  A transpose is a view; make it contiguous once.
        if data.ndim == 3:
            vox = np.ascontiguousarray(data.transpose(2, 1, 0))
        else:
            vox = np.ascontiguousarray(data.transpose(2, 1, 0, 3))
        del data
        affine = img.affine
        if affine is None or not np.all(np.isfinite(affine)):
            raise CorruptFileError(f"{path.name}: the header's orientation matrix is invalid.", path)
        geom = from_nifti_affine(affine)
        descrip = hdr.get("descrip")
        description = ""
        if descrip is not None:
            description = bytes(np.asarray(descrip)).split(b"\x00")[0].decode("latin-1", "replace").strip()
    warnings = []
    if n_vol > 1 and volume is None:
        warnings.append(f"4D image: its {n_vol} volumes are shown as channels.")
    name = path.name.lower()
    modality = next((m for k, m in _MODALITY_HINTS.items() if k in name), "OT")
    sform_code = int(hdr["sform_code"]) if "sform_code" in hdr else 0
    qform_code = int(hdr["qform_code"]) if "qform_code" in hdr else 0
    return Study(
        voxels=vox,
        geometry=geom,
        modality=modality,
        description=description or path.name,
        format="NIfTI-2" if isinstance(img, nib.Nifti2Image) else "NIfTI-1",
        source=[str(path)],
        metadata={
            "nifti_axcodes": "".join(nib.aff2axcodes(affine)),
            "sform_code": sform_code,
            "qform_code": qform_code,
            "source_dtype": str(raw_dtype),
            "scl_slope": None if slope is None else float(slope),
            "scl_inter": None if inter is None else float(inter),
            "xyzt_units": list(hdr.get_xyzt_units()),
        },
        warnings=warnings,
    )
