"""Study: the voxels and everything the rest of the program needs to know about them."""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .geometry import Geometry


@dataclass
class SeriesInfo:
    """One series found while scanning a folder (DICOM) - what ``medroute info`` lists."""

    uid: str
    description: str
    modality: str
    n_slices: int
    shape: tuple[int, ...]
    files: list[str] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict:
        return {
            "uid": self.uid,
            "description": self.description,
            "modality": self.modality,
            "slices": self.n_slices,
            "shape": list(self.shape),
        }


@dataclass
class Study:
    """An opened image study.

    ``voxels`` is ``(z, y, x)`` for grey data or ``(z, y, x, c)`` for colour / multi-channel data; a 2D image is a
    study with one slice.  ``geometry`` places the grid in LPS millimetres (see :mod:`viewer.model.geometry`).
    ``metadata`` holds only non-identifying attributes (no names, IDs, dates of birth).
    """

    voxels: np.ndarray
    geometry: Geometry
    modality: str = "OT"
    description: str = ""
    format: str = ""
    source: list[str] = field(default_factory=list)
    metadata: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    series: list[SeriesInfo] = field(default_factory=list)
    series_uid: str = ""
    channel_names: list[str] = field(default_factory=list)

    def __post_init__(self):
        if self.voxels.ndim not in (3, 4):
            raise ValueError(f"voxels must be (z, y, x) or (z, y, x, c), got shape {self.voxels.shape}")

    # --- shape helpers --------------------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int, int]:
        """Spatial shape (z, y, x)."""
        return tuple(int(v) for v in self.voxels.shape[:3])  # type: ignore[return-value]

    @property
    def n_channels(self) -> int:
        return 1 if self.voxels.ndim == 3 else int(self.voxels.shape[3])

    @property
    def is_2d(self) -> bool:
        return self.voxels.shape[0] == 1

    @property
    def size_in_mm_known(self) -> bool:
        """False when the file gives no pixel size in mm (PNG/TIFF; DICOM without PixelSpacing): then volumes and
        areas are not reported, only voxel counts."""
        m = self.metadata
        return m.get("pixel_spacing_known", True) is not False and m.get("pixel_size_mm_known", True) is not False

    @property
    def is_rgb(self) -> bool:
        """Colour pixels (RGB / RGBA of any bit depth: 8-bit PNG, 16-bit TIFF, DICOM with 3 samples per pixel), not
        the volumes of a 4D image or the vector components that happen to number 3 or 4 (the readers mark those)."""
        return (self.voxels.ndim == 4 and self.voxels.shape[3] in (3, 4)
                and not self.metadata.get("volumes_as_channels") and not self.metadata.get("components_as_channels"))

    @property
    def nbytes(self) -> int:
        return int(self.voxels.nbytes)

    @property
    def name(self) -> str:
        """A short name for file names and titles (the source file or folder name, without extensions)."""
        if self.metadata.get("archive"):  # opened from a .zip / .tar / .gz: named after it, not its cache folder
            p = Path(self.metadata["archive"])
        elif not self.source:
            return "study"
        else:
            p = Path(self.source[0])
            if len(self.source) > 1:
                p = p.parent
        n = p.name
        for ext in (".tar.gz", ".tar.bz2", ".tar.xz", ".tgz", ".tbz2", ".txz", ".tar", ".zip", ".nii.gz", ".dcm.gz", ".gz", ".nii", ".dcm", ".png", ".tif", ".tiff", ".jpg", ".jpeg", ".nrrd", ".mha", ".mhd"):
            if n.lower().endswith(ext):
                return n[: -len(ext)]
        return n

    def intensity_range(self) -> tuple[float, float]:
        """(min, max) of the voxels.  Scanned once per voxel array (tens of ms at 512x512x500) and remembered: the
        info pane asks again on every label-layer change.  Replacing ``voxels`` invalidates it; writing into the
        array in place does not (studies are read-only once opened)."""
        v = self.voxels
        cached = self.__dict__.get("_range")
        if cached is not None and cached[0]() is v:
            return cached[1]
        rng = (0.0, 0.0) if v.size == 0 else (float(np.min(v)), float(np.max(v)))
        self.__dict__["_range"] = (weakref.ref(v), rng)  # weak: a replaced (maybe GB-sized) array is not kept alive
        return rng

    def summary(self) -> dict:
        """What ``medroute info`` reports."""
        lo, hi = self.intensity_range()
        return {
            "format": self.format,
            "description": self.description,
            "modality": self.modality,
            "shape": list(self.voxels.shape),
            "dtype": str(self.voxels.dtype),
            "spacing": [round(v, 6) for v in self.geometry.spacing],
            "origin": [round(v, 4) for v in self.geometry.origin],
            "direction": [[round(v, 6) for v in r] for r in self.geometry.direction],
            "orientation": self.geometry.orientation_code(),
            "channels": self.n_channels,
            "intensity_range": [lo, hi],
            "warnings": list(self.warnings),
            "series": [s.to_dict() for s in self.series],
            "source": self.source[0] if len(self.source) == 1 else (str(Path(self.source[0]).parent) if self.source else ""),
            "n_files": len(self.source),
            **({"archive": str(self.metadata["archive"])} if self.metadata.get("archive") else {}),
        }
