"""Saving and loading label maps with exactly the study's geometry."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import GeometryMismatchError, SaveError
from ..model.study import Study
from ._common import atomic_path

LABEL_EXTS = (".nii.gz", ".nii", ".png", ".nrrd", ".mha")
# NIfTI label files written for a study without a pixel size in mm (PNG/TIFF, DICOM without PixelSpacing) say so:
# spatial units "unknown" and this description, which the NIfTI reader turns back into ``size_in_mm_known = False``
# (a resumed batch then reports voxel counts without a made-up volume).  Only our own description counts: many
# foreign NIfTI files leave the units unset although their spacing is in mm.
LABEL_DESCRIP = "MedRoute label map"
LABEL_DESCRIP_NO_MM = "MedRoute label map; pixel size not in mm"


def _label_dtype(labels: np.ndarray) -> np.dtype:
    if labels.size and labels.dtype.itemsize > 1 and int(labels.max()) > 255:
        return np.dtype(np.uint16)
    return np.dtype(np.uint8)


def save_labels(labels: np.ndarray, study: Study, path) -> Path:
    """Write a label map (z, y, x) on the study's grid.

    NIfTI (.nii/.nii.gz) carries the study's exact geometry (RAS affine as sform and qform).  PNG is for 2D studies
    and stores label values 0..N as they are (not scaled to 0/255).  NRRD/MHA go through SimpleITK.  The write is
    atomic: a temporary file is fsynced and renamed over the target.
    """
    path = Path(path)
    labels = np.asarray(labels)
    if labels.shape != study.shape:
        raise GeometryMismatchError(
            f"The label map is {labels.shape} but the study is {study.shape}; labels must share the study's grid.", path
        )
    if labels.dtype.kind not in "biu":
        raise SaveError("Label maps must hold whole numbers (label values), not intensities.", path)
    if labels.size and labels.dtype.kind == "i" and labels.min() < 0:
        raise SaveError("Label maps cannot hold negative values.", path)
    if labels.size and labels.dtype.itemsize > 2 and int(labels.max()) > 65535:
        raise SaveError(f"Label values go up to 65535; this map holds {int(labels.max())}.", path)
    dt = _label_dtype(labels)
    low = path.name.lower()
    if low.endswith((".nii", ".nii.gz")):
        import nibabel as nib

        # (x, y, z) view of the C-ordered (z, y, x) array: Fortran-contiguous, which is NIfTI's own byte order, so
        # nibabel writes it straight out without a transposed copy
        data = labels.astype(dt, copy=False).transpose(2, 1, 0)
        affine = study.geometry.to_nifti_affine()
        img = nib.Nifti1Image(data, affine)
        sform = int(study.metadata.get("sform_code", 1) or 1)
        qform = int(study.metadata.get("qform_code", 1) or 1)
        img.set_sform(affine, code=sform)
        qaff = study.metadata.get("nifti_qform")  # the source's own qform when it differs from its sform
        img.set_qform(np.asarray(qaff, dtype=float) if qaff is not None else affine, code=qform)
        if study.size_in_mm_known:
            img.header.set_xyzt_units("mm")
            img.header["descrip"] = LABEL_DESCRIP.encode()
        else:
            img.header.set_xyzt_units("unknown")
            img.header["descrip"] = LABEL_DESCRIP_NO_MM.encode()
        with atomic_path(path) as tmp:
            nib.save(img, str(tmp))
    elif low.endswith(".png"):
        if not study.is_2d:
            raise SaveError(f"{path.name}: PNG holds one 2D slice; this study has {study.shape[0]} slices, save as .nii.gz.", path)
        from PIL import Image

        with atomic_path(path) as tmp:
            Image.fromarray(labels[0].astype(dt, copy=False)).save(tmp, format="PNG")
    elif low.endswith((".nrrd", ".mha")):
        import SimpleITK as sitk

        img = sitk.GetImageFromArray(labels.astype(dt, copy=False))
        g = study.geometry
        img.SetOrigin(g.origin)
        img.SetSpacing(g.spacing)
        img.SetDirection(tuple(np.asarray(g.direction).ravel()))
        with atomic_path(path) as tmp:
            sitk.WriteImage(img, str(tmp), True)
    else:
        raise SaveError(f"{path.name}: labels can be saved as {', '.join(LABEL_EXTS)}.", path)
    return path


def _is_dicom_seg(path: Path) -> bool:
    if not path.is_file():
        return False
    from ._dicom_scan import is_dicom_file

    if not (is_dicom_file(path) or path.suffix.lower() == ".dcm"):
        return False
    import pydicom

    try:
        ds = pydicom.dcmread(str(path), stop_before_pixels=True, specific_tags=["SOPClassUID"], force=True)
    except Exception:  # noqa: BLE001 - not readable as DICOM here: the normal reader will say why
        return False
    return str(ds.get("SOPClassUID", "")) == "1.2.840.10008.5.1.4.1.1.66.4"  # Segmentation Storage


def load_labels(path, study: Study) -> np.ndarray:
    """Open a label file and check that it lies on the study's grid; returns (z, y, x) integers."""
    from . import open_study

    if _is_dicom_seg(Path(path)):  # segments of a DICOM SEG are frames at the same positions, not slices
        from ..export.dicom_seg import read_dicom_seg

        return read_dicom_seg(path, study)
    lab = open_study(path)
    vox = lab.voxels
    if vox.ndim == 4:
        if not all(np.array_equal(vox[..., 0], vox[..., c]) for c in range(1, vox.shape[3])):
            raise GeometryMismatchError(
                f"{Path(path).name}: this label file has {vox.shape[3]} channels that differ (a one-hot stack, "
                "colour-coded classes or several layers); MedRoute reads one label value per voxel. Save it as a "
                "single-channel label map (class values 1, 2, ...).", path)
        vox = vox[..., 0]
    if vox.shape != study.shape:
        raise GeometryMismatchError(
            f"{Path(path).name}: the label map is {vox.shape} (z, y, x) but the study is {study.shape}; "
            "it belongs to another image.",
            path,
        )
    if not study.metadata.get("pixel_spacing_known", True) is False and not lab.geometry.is_close(study.geometry, atol=1e-2):
        if lab.format.startswith(("NIfTI", "NRRD", "MetaImage", "DICOM")):
            raise GeometryMismatchError(
                f"{Path(path).name}: the label map has the study's size but a different position or orientation in "
                "the patient; it belongs to another image or was resampled.",
                path,
            )
    if vox.dtype.kind == "f":
        if not np.all(np.equal(np.mod(vox, 1), 0)):
            raise GeometryMismatchError(f"{Path(path).name}: this holds intensities, not label values.", path)
    lo, hi = (float(vox.min()), float(vox.max())) if vox.size else (0.0, 0.0)
    if lo < 0 or hi > 65535:
        raise GeometryMismatchError(f"{Path(path).name}: label values must lie between 0 and 65535 (this file holds "
                                    f"{lo:g} to {hi:g}); it is not a label map.", path)
    out = vox.astype(np.uint16 if hi > 255 else np.uint8)
    if lab.format in ("PNG", "JPEG", "TIFF", "BMP", "image stack") and out.size and set(np.unique(out).tolist()) <= {0, 255}:
        out = (out > 0).astype(np.uint8)  # a 0/255 mask image means label 1
    return out
