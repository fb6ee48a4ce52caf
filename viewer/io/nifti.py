"""NIfTI-1/2 reader (nibabel).  RAS -> LPS happens in viewer.model.geometry.from_nifti_affine, nowhere else."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import CorruptFileError, EmptyInputError, UnsupportedFormatError
from ..model.geometry import from_nifti_affine
from ..model.study import Study
from ._common import check_size, reading
from .labels import LABEL_DESCRIP_NO_MM

def _gzip_open(path: Path):
    """ISA-L's gzip (about 2x faster than zlib's) when installed, else the standard library's."""
    try:
        from isal import igzip

        return igzip.open(path, "rb")
    except ImportError:
        import gzip

        return gzip.open(path, "rb")


def _read_gz_direct(path: Path):
    """(image, raw header, unscaled F-order array) for a .nii.gz, inflated straight into the final array.

    nibabel would inflate into a buffer and copy it again; this reads the header, skips the extensions and
    ``readinto``s the voxel block, so a study costs one array.  Returns None for anything unusual (then nibabel
    reads the file and reports problems itself).
    """
    import nibabel as nib

    with _gzip_open(path) as f:
        first = f.read(4)
        if len(first) < 4:
            return None
        size = int.from_bytes(first, "little")
        if size not in (348, 540):
            size = int.from_bytes(first, "big")
        if size not in (348, 540):
            return None
        cls = nib.Nifti1Image if size == 348 else nib.Nifti2Image
        block = first + f.read(size - 4)
        if len(block) < size:
            raise CorruptFileError(f"{path.name}: the NIfTI header is cut short; the file is incomplete.", path)
        hdr = cls.header_class(binaryblock=block, check=False)
        shape = tuple(int(v) for v in hdr.get_data_shape())
        dtype = hdr.get_data_dtype()
        if dtype.names is not None or dtype.kind == "c" or not shape or any(v <= 0 for v in shape):
            return None
        offset = int(hdr["vox_offset"])
        if offset < size:
            return None
        check_size(shape, dtype, path)
        if offset > size:
            f.read(offset - size)
        arr = np.empty(int(np.prod(shape)), dtype=dtype)
        view = memoryview(arr.view(np.uint8))
        got = 0
        while got < arr.nbytes:
            n = f.readinto(view[got:])
            if not n:
                raise CorruptFileError(
                    f"{path.name}: the file ends after {got} of {arr.nbytes} bytes of image data; it is incomplete.", path
                )
            got += n
    arr = arr.reshape(shape, order="F")
    return cls(arr, hdr.get_best_affine(), header=hdr), hdr, arr


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
        direct = _read_gz_direct(path) if path.name.lower().endswith(".gz") else None
        if direct is not None:
            img, hdr, unscaled = direct
        else:
            try:
                img = nib.load(str(path))
            except nib.filebasedimages.ImageFileError as e:
                raise CorruptFileError(f"{path.name}: this is not a readable NIfTI file ({e}).", path) from e
            if not isinstance(img, (nib.Nifti1Image, nib.Nifti2Image)):
                raise UnsupportedFormatError(f"{path.name}: {type(img).__name__} files are not supported; convert to NIfTI.", path)
            hdr = img.header
            unscaled = None
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
        if direct is None and hasattr(img.dataobj, "slope"):  # nibabel moves the scaling into the array proxy
            slope, inter = float(img.dataobj.slope), float(img.dataobj.inter)
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
            raise UnsupportedFormatError(f"{path.name}: volume {volume} was asked for but the file has {n_vol} "
                                         f"(numbered 0 to {n_vol - 1}).", path)
        spatial = shape[:3] if len(shape) >= 3 else (*shape, 1)
        alloc = (*spatial, 1 if volume is not None else n_vol)
        check_size(alloc, out_dtype, path)

        dataobj = img.dataobj
        if raw_dtype.names is not None:
            if len(shape) == 4:
                raise UnsupportedFormatError(f"{path.name}: a series of colour (RGB) volumes {shape} cannot be shown; "
                                             "save one colour volume per file.", path)
            raw = np.reshape(np.asanyarray(dataobj), shape, order="F")
            data = np.stack([raw[n] for n in raw_dtype.names[:3]], axis=-1).astype(np.uint8)
            if data.ndim == 3:  # a 2-D colour image (i, j, c): one slice
                data = data[:, :, None, :]
        else:
            if unscaled is None:
                unscaled = dataobj.get_unscaled() if hasattr(dataobj, "get_unscaled") else np.asanyarray(dataobj)
            data = np.reshape(unscaled, shape, order="F")  # drops trailing singleton dimensions (a view)
            if data.ndim == 4 and volume is not None:
                data = data[..., volume]
            if scaled:
                data = data.astype(np.float32)
                data *= np.float32(1.0 if slope is None or np.isnan(slope) else slope)
                data += np.float32(0.0 if inter is None or np.isnan(inter) else inter)
            elif data.dtype.kind == "f" and data.dtype != np.float32:
                data = data.astype(np.float32)
            del unscaled
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
    units = list(hdr.get_xyzt_units())
    extra = {}
    if description == LABEL_DESCRIP_NO_MM and units[0] == "unknown":  # our label file of a study without mm
        extra["pixel_size_mm_known"] = False
    if n_vol > 1 and volume is None:  # the 4th axis holds volumes (time points, gradients, echoes), not colours
        extra["volumes_as_channels"] = n_vol
    qaff, qcode = hdr.get_qform(coded=True)
    if qaff is not None and qcode and not np.allclose(qaff, affine, atol=1e-4):
        # sform and qform disagree (e.g. after registration): the grid is the sform's, but ITK tools place the
        # image by its qform; a label file written for it keeps this qform so that both land in the same place
        extra["nifti_qform"] = np.round(np.asarray(qaff, dtype=float), 6).tolist()
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
            "xyzt_units": units,
            **extra,
        },
        warnings=warnings,
    )
