"""NRRD and MetaImage (MHA/MHD) through SimpleITK: what Slicer users hand around."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import CorruptFileError, EmptyInputError
from ..model.geometry import Geometry
from ..model.study import Study
from ._common import check_size, reading

ITK_EXTS = {".nrrd", ".nhdr", ".mha", ".mhd"}
# MetaImage writes its modality as MET_MOD_<name>: the DICOM modality names the rest of MedRoute uses
_MET_MODALITIES = {"MET_MOD_CT": "CT", "MET_MOD_MR": "MR", "MET_MOD_NM": "NM", "MET_MOD_US": "US",
                   "MET_MOD_OTHER": "OT", "MET_MOD_UNKNOWN": "OT"}


def _component_bytes(reader) -> int:
    """Bytes per pixel component of the file's pixel type (uint8 1, int16 2, float 4, double 8, ...)."""
    import SimpleITK as sitk

    name = sitk.GetPixelIDValueAsString(reader.GetPixelID()).lower()
    for bits, n in (("64", 8), ("double", 8), ("32", 4), ("float", 4), ("16", 2), ("8", 1)):
        if bits in name:
            return n
    return 4


def read_itk(path: Path) -> Study:
    import SimpleITK as sitk

    if path.stat().st_size == 0:
        raise EmptyInputError(f"{path.name}: the file is empty (0 bytes).", path)
    with reading(path, "image"):
        reader = sitk.ImageFileReader()
        reader.SetFileName(str(path))
        try:
            reader.ReadImageInformation()
        except RuntimeError as e:
            raise CorruptFileError(f"{path.name}: the header cannot be read; the file is damaged or not an image.", path) from e
        size = reader.GetSize()
        ncomp = reader.GetNumberOfComponents()
        dim = reader.GetDimension()
        if dim not in (2, 3):
            raise CorruptFileError(f"{path.name}: {dim}-dimensional images are not supported (only 2D and 3D).", path)
        check_size((*size, ncomp), np.dtype(f"u{_component_bytes(reader)}"), path)
        img = reader.Execute()
        arr = sitk.GetArrayFromImage(img)  # (z, y, x[, c]) already
        spacing = list(img.GetSpacing())
        origin = list(img.GetOrigin())
        direction = np.array(img.GetDirection(), dtype=float).reshape(dim, dim)
    if dim == 2:
        arr = arr[None]
        spacing = [*spacing, 1.0]
        origin = [*origin, 0.0]
        d3 = np.eye(3)
        d3[:2, :2] = direction
        direction = d3
    if arr.ndim == 4 and arr.shape[3] == 1:
        arr = arr[..., 0]
    modality = "OT"
    meta = {}
    if arr.ndim == 4 and not (arr.shape[3] in (3, 4) and arr.dtype == np.uint8):
        # vector pixels that are not 8-bit RGB(A): displacement fields, tensors, multi-echo ... not colours
        meta["components_as_channels"] = int(arr.shape[3])
    for key in ("Modality", "modality"):
        if reader.HasMetaDataKey(key):
            modality = reader.GetMetaData(key).strip() or modality
    modality = _MET_MODALITIES.get(modality.upper(), modality)
    return Study(
        voxels=np.ascontiguousarray(arr),
        geometry=Geometry(origin, spacing, direction),
        modality=modality,
        description=path.name,
        format="NRRD" if path.suffix.lower() in (".nrrd", ".nhdr") else "MetaImage",
        source=[str(path)],
        metadata=meta,
    )
