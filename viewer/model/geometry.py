"""Geometry: the one module that owns voxel <-> world conversions.

Conventions (the same as ITK/SimpleITK and DICOM):

* Voxel arrays are stored ``(z, y, x)`` or ``(z, y, x, c)``; the *index* of a voxel is written ``(i, j, k)`` =
  ``(x, y, z)``, so ``array[k, j, i]`` is voxel ``(i, j, k)``.
* ``spacing`` is ``(sx, sy, sz)`` in millimetres, for the index axes i, j, k.
* ``direction`` is a 3x3 matrix whose *columns* are the unit world directions of the index axes i, j, k.
* World coordinates are LPS millimetres: +x = patient Left, +y = Posterior, +z = Superior.
* ``world = origin + direction @ (spacing * index)``.

NIfTI stores RAS; :func:`from_nifti_affine` / :meth:`Geometry.to_nifti_affine` are the only places that flip.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# LPS <-> RAS is a flip of the first two world axes.
_RAS_LPS = np.diag([-1.0, -1.0, 1.0])


def _as_vec3(v) -> np.ndarray:
    a = np.asarray(v, dtype=np.float64).reshape(3)
    return a


@dataclass(frozen=True)
class Geometry:
    """Position of a voxel grid in patient space (LPS millimetres)."""

    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)
    direction: tuple[tuple[float, ...], ...] = field(
        default=((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))
    )

    def __post_init__(self):
        object.__setattr__(self, "origin", tuple(float(v) for v in _as_vec3(self.origin)))
        object.__setattr__(self, "spacing", tuple(float(v) for v in _as_vec3(self.spacing)))
        d = np.asarray(self.direction, dtype=np.float64).reshape(3, 3)
        object.__setattr__(self, "direction", tuple(tuple(float(v) for v in row) for row in d))

    # --- matrices -------------------------------------------------------------------------------------------
    @property
    def direction_matrix(self) -> np.ndarray:
        return np.array(self.direction, dtype=np.float64)

    @property
    def spacing_array(self) -> np.ndarray:
        return np.array(self.spacing, dtype=np.float64)

    @property
    def origin_array(self) -> np.ndarray:
        return np.array(self.origin, dtype=np.float64)

    def index_to_world_matrix(self) -> np.ndarray:
        """4x4 affine mapping (i, j, k, 1) to LPS (x, y, z, 1)."""
        m = np.eye(4)
        m[:3, :3] = self.direction_matrix * self.spacing_array[None, :]
        m[:3, 3] = self.origin_array
        return m

    def to_nifti_affine(self) -> np.ndarray:
        """4x4 affine mapping (i, j, k, 1) to RAS, as NIfTI stores it."""
        m = self.index_to_world_matrix()
        out = np.eye(4)
        out[:3, :] = _RAS_LPS @ m[:3, :]
        return out

    # --- conversions ----------------------------------------------------------------------------------------
    def index_to_world(self, ijk) -> np.ndarray:
        """Continuous index (i, j, k) (or N x 3) to LPS millimetres."""
        a = np.asarray(ijk, dtype=np.float64)
        return a @ (self.direction_matrix * self.spacing_array[None, :]).T + self.origin_array

    def world_to_index(self, xyz) -> np.ndarray:
        """LPS millimetres (or N x 3) to continuous index (i, j, k)."""
        a = np.asarray(xyz, dtype=np.float64) - self.origin_array
        m = self.direction_matrix * self.spacing_array[None, :]
        return a @ np.linalg.inv(m).T

    def orientation_code(self) -> str:
        """Three letters naming the patient direction each index axis (i, j, k) points *towards*.

        ITK/DICOM style (``"LPS"`` means i -> Left, j -> Posterior, k -> Superior).  NIfTI tools (nibabel's
        ``aff2axcodes``) name the same grid with RAS letters, which for a pure flip-free case differ in sign only.
        """
        return orientation_code(self.direction_matrix)

    def nifti_axcodes(self) -> str:
        """The axis codes nibabel's ``aff2axcodes`` prints for this grid."""
        return orientation_code(_RAS_LPS @ self.direction_matrix, ras=True)

    def is_close(self, other: Geometry, atol: float = 1e-4) -> bool:
        return (
            np.allclose(self.origin, other.origin, atol=atol)
            and np.allclose(self.spacing, other.spacing, atol=atol)
            and np.allclose(self.direction, other.direction, atol=atol)
        )

    def with_spacing(self, spacing) -> Geometry:
        return Geometry(self.origin, spacing, self.direction)

    def to_dict(self) -> dict:
        return {"origin": list(self.origin), "spacing": list(self.spacing), "direction": [list(r) for r in self.direction]}

    @classmethod
    def from_dict(cls, d: dict) -> Geometry:
        return cls(d["origin"], d["spacing"], d["direction"])


_LPS_LETTERS = (("R", "L"), ("A", "P"), ("I", "S"))  # (negative, positive) for LPS world axes
_RAS_LETTERS = (("L", "R"), ("P", "A"), ("I", "S"))  # (negative, positive) for RAS world axes


def orientation_code(direction: np.ndarray, ras: bool = False) -> str:
    """Letters for the world direction each column of ``direction`` is closest to.  As nibabel's ``aff2axcodes``
    and ITK do, the largest |element| of the whole matrix is assigned first, then the largest of what is left, so
    an oblique grid gets the same letters in MedRoute, nibabel, ITK-SNAP and Slicer."""
    letters = _RAS_LETTERS if ras else _LPS_LETTERS
    a = np.abs(np.asarray(direction, dtype=np.float64))
    d = np.asarray(direction, dtype=np.float64)
    axis_of: dict[int, int] = {}
    for _ in range(3):
        row, col = np.unravel_index(int(np.argmax(a)), a.shape)
        axis_of[int(col)] = int(row)
        a[row, :] = -1.0
        a[:, col] = -1.0
    return "".join(letters[axis_of[c]][1] if d[axis_of[c], c] > 0 else letters[axis_of[c]][0] for c in range(3))


def from_nifti_affine(affine) -> Geometry:
    """Geometry from a NIfTI (RAS) 4x4 affine.  Shear is dropped with the direction orthonormalised."""
    a = np.asarray(affine, dtype=np.float64)
    lps = _RAS_LPS @ a[:3, :]
    m = lps[:, :3]
    spacing = np.linalg.norm(m, axis=0)
    spacing[spacing == 0] = 1.0
    direction = m / spacing[None, :]
    # Orthonormalise (polar decomposition) so that slightly sheared affines still give a proper rotation.
    u, _, vt = np.linalg.svd(direction)
    direction = u @ vt
    return Geometry(origin=lps[:, 3], spacing=spacing, direction=direction)


def slice_normal(row_cosine, col_cosine) -> np.ndarray:
    """DICOM slice normal from ImageOrientationPatient's row and column cosines."""
    n = np.cross(np.asarray(row_cosine, float), np.asarray(col_cosine, float))
    norm = np.linalg.norm(n)
    return n / norm if norm > 0 else np.array([0.0, 0.0, 1.0])


def from_dicom(ipp_first, iop, pixel_spacing, slice_spacing: float, normal=None) -> Geometry:
    """Geometry from DICOM attributes of the first (sorted) slice.

    ``iop`` is ImageOrientationPatient (row cosine then column cosine), ``pixel_spacing`` is PixelSpacing
    ``(row spacing, column spacing)`` i.e. ``(sy, sx)``.
    """
    row = np.asarray(iop[:3], float)
    col = np.asarray(iop[3:6], float)
    n = slice_normal(row, col) if normal is None else np.asarray(normal, float)
    direction = np.column_stack([row, col, n])
    sy, sx = float(pixel_spacing[0]), float(pixel_spacing[1])
    return Geometry(origin=ipp_first, spacing=(sx, sy, float(slice_spacing)), direction=direction)
