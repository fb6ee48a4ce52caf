"""Which array axes each slice view shows, and which way round.  No Qt.

A study's voxels are stored ``(z, y, x)`` = array axes ``(0, 1, 2)``; index axis ``i`` is array axis 2, ``j`` is 1,
``k`` is 0 (see :mod:`viewer.model.geometry`).  The direction matrix says where each index axis points in LPS.
For a slice view we only *reslice along array axes* (no interpolation): for each patient axis (L/R, A/P, S/I) we
find the array axis closest to it and whether it runs the other way, then every view is a numpy *view*
(``volume[index]`` + transpose + ``[::-1]``), so changing slice never copies the volume.

Screen conventions (radiological):

=========  =====================  =====================
plane      screen right points    screen down points
=========  =====================  =====================
axial      patient Left  (+x)     Posterior (+y)        -> Right on screen left, Anterior at top
coronal    patient Left  (+x)     Inferior  (-z)        -> Right on screen left, Superior at top
sagittal   Posterior     (+y)     Inferior  (-z)        -> Anterior on screen left, Superior at top
=========  =====================  =====================

Oblique acquisitions are shown along their nearest patient axes; the edge letters are computed from the true
direction of each screen axis, so they stay honest.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .geometry import Geometry

PLANES = ("axial", "coronal", "sagittal")

# plane -> (world normal axis, (world axis, sign) for screen right, (world axis, sign) for screen down)
_SCREEN = {
    "axial": (2, (0, +1), (1, +1)),
    "coronal": (1, (0, +1), (2, -1)),
    "sagittal": (0, (1, +1), (2, -1)),
}
_LETTERS = (("R", "L"), ("A", "P"), ("I", "S"))  # (negative, positive) for LPS world axes


def world_axis_assignment(direction) -> list[tuple[int, int]]:
    """For each LPS world axis ``w`` (0=x, 1=y, 2=z): ``(array_axis, sign)``.

    ``sign`` is +1 when increasing the array index moves towards +w.  Assignment is one-to-one, greedy on the
    largest absolute direction cosine, so oblique grids still get three distinct axes.
    """
    d = np.abs(np.asarray(direction, dtype=np.float64).reshape(3, 3))
    dsign = np.sign(np.asarray(direction, dtype=np.float64).reshape(3, 3))
    out: dict[int, tuple[int, int]] = {}
    used_idx: set[int] = set()
    for flat in np.argsort(-d, axis=None):
        w, a = divmod(int(flat), 3)
        if w in out or a in used_idx:
            continue
        used_idx.add(a)
        out[w] = (2 - a, int(dsign[w, a]) or 1)
    return [out[w] for w in range(3)]


def _letter(vec) -> str:
    v = np.asarray(vec, dtype=np.float64)
    w = int(np.argmax(np.abs(v)))
    return _LETTERS[w][1] if v[w] > 0 else _LETTERS[w][0]


@dataclass(frozen=True)
class PlaneMapping:
    """How one plane is cut from the volume and laid out on screen.

    ``row_axis``/``col_axis`` are the array axes shown down/across the screen; ``*_flip`` reverses them.
    ``row_spacing``/``col_spacing`` are millimetres per screen pixel (physical aspect).
    """

    plane: str
    normal_axis: int
    row_axis: int
    col_axis: int
    row_flip: bool
    col_flip: bool
    shape: tuple[int, int, int]  # volume (z, y, x)
    row_spacing: float
    col_spacing: float
    normal_spacing: float
    letters: tuple[str, str, str, str]  # (left, right, top, bottom) edge letters

    @property
    def n_slices(self) -> int:
        return self.shape[self.normal_axis]

    @property
    def n_rows(self) -> int:
        return self.shape[self.row_axis]

    @property
    def n_cols(self) -> int:
        return self.shape[self.col_axis]

    def slice_view(self, volume: np.ndarray, index: int) -> np.ndarray:
        """The 2D (rows, cols[, c]) numpy *view* of slice ``index`` (no copy)."""
        sl: list = [slice(None)] * volume.ndim
        sl[self.normal_axis] = int(index)
        img = volume[tuple(sl)]
        rest = [a for a in range(3) if a != self.normal_axis]
        if rest[0] != self.row_axis:
            img = img.swapaxes(0, 1)
        if self.row_flip:
            img = img[::-1]
        if self.col_flip:
            img = img[:, ::-1]
        return img

    def to_screen(self, voxel) -> tuple[int, int, int]:
        """Array voxel ``(z, y, x)`` -> ``(row, col, slice)`` in this view."""
        r = int(voxel[self.row_axis])
        c = int(voxel[self.col_axis])
        if self.row_flip:
            r = self.n_rows - 1 - r
        if self.col_flip:
            c = self.n_cols - 1 - c
        return r, c, int(voxel[self.normal_axis])

    def from_screen(self, row: int, col: int, slice_index: int) -> tuple[int, int, int]:
        """``(row, col, slice)`` in this view -> array voxel ``(z, y, x)``."""
        r = self.n_rows - 1 - int(row) if self.row_flip else int(row)
        c = self.n_cols - 1 - int(col) if self.col_flip else int(col)
        v = [0, 0, 0]
        v[self.row_axis] = r
        v[self.col_axis] = c
        v[self.normal_axis] = int(slice_index)
        return tuple(v)  # type: ignore[return-value]


def plane_mapping(plane: str, shape, geometry: Geometry) -> PlaneMapping:
    """The mapping for ``plane`` ('axial', 'coronal', 'sagittal') of a volume of spatial ``shape`` (z, y, x)."""
    if plane not in _SCREEN:
        raise ValueError(f"unknown plane {plane!r}; expected one of {PLANES}")
    shape = tuple(int(v) for v in shape[:3])
    assign = world_axis_assignment(geometry.direction_matrix)
    normal_w, (right_w, right_s), (down_w, down_s) = _SCREEN[plane]
    col_axis, col_sign = assign[right_w]
    row_axis, row_sign = assign[down_w]
    normal_axis = assign[normal_w][0]
    col_flip = col_sign != right_s
    row_flip = row_sign != down_s
    spacing = geometry.spacing_array  # (sx, sy, sz) for array axes (2, 1, 0)
    dmat = geometry.direction_matrix
    right_vec = dmat[:, 2 - col_axis] * (-1 if col_flip else 1)
    down_vec = dmat[:, 2 - row_axis] * (-1 if row_flip else 1)
    letters = (_letter(-right_vec), _letter(right_vec), _letter(-down_vec), _letter(down_vec))
    return PlaneMapping(
        plane=plane,
        normal_axis=normal_axis,
        row_axis=row_axis,
        col_axis=col_axis,
        row_flip=row_flip,
        col_flip=col_flip,
        shape=shape,  # type: ignore[arg-type]
        row_spacing=float(spacing[2 - row_axis]),
        col_spacing=float(spacing[2 - col_axis]),
        normal_spacing=float(spacing[2 - normal_axis]),
        letters=letters,
    )


def acquisition_plane(shape, geometry: Geometry) -> str:
    """The plane the study was acquired in (the one whose slices are array axis 0); for a 2D image, its plane."""
    for p in PLANES:
        if plane_mapping(p, shape, geometry).normal_axis == 0:
            return p
    return "axial"  # pragma: no cover - assignment is a permutation, so one plane always matches
