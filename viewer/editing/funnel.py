"""The undo atom and the box helpers every editing tool shares.  No Qt.

An :class:`Atom` is one bounded diff: the box ``(z0, z1, y0, y1, x0, x1)`` (half-open) that changed, a bit-packed
mask of the voxels that changed inside it, their old values and their new values.  Its memory is the box / 8 plus
two bytes per changed voxel - proportional to the changed region, never a copy of the volume.

The single paint routine that creates atoms is :meth:`viewer.editing.editor.Editor.paint`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BBox = tuple[int, int, int, int, int, int]


def box_slices(bbox: BBox) -> tuple[slice, slice, slice]:
    z0, z1, y0, y1, x0, x1 = bbox
    return slice(z0, z1), slice(y0, y1), slice(x0, x1)


def box_shape(bbox: BBox) -> tuple[int, int, int]:
    return bbox[1] - bbox[0], bbox[3] - bbox[2], bbox[5] - bbox[4]


def union_box(a: BBox | None, b: BBox | None) -> BBox | None:
    if a is None:
        return b
    if b is None:
        return a
    return (min(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), max(a[3], b[3]), min(a[4], b[4]), max(a[5], b[5]))


def tight_box(mask: np.ndarray, offset=(0, 0, 0)) -> BBox | None:
    """Smallest box holding the True voxels of a 3D mask (shifted by ``offset``), or None if it is empty."""
    out = []
    for ax in range(3):
        other = tuple(a for a in range(3) if a != ax)
        idx = np.flatnonzero(mask.any(axis=other))
        if idx.size == 0:
            return None
        out += [int(idx[0]) + offset[ax], int(idx[-1]) + 1 + offset[ax]]
    return tuple(out)  # type: ignore[return-value]


def clip_box(bbox, shape) -> tuple[BBox, tuple[slice, slice, slice]] | None:
    """Clip a possibly out-of-range box to ``shape``; returns (clipped box, slices into a mask of the original box)."""
    out, sub = [], []
    for ax in range(3):
        lo, hi = int(bbox[2 * ax]), int(bbox[2 * ax + 1])
        clo, chi = max(lo, 0), min(hi, int(shape[ax]))
        if chi <= clo:
            return None
        out += [clo, chi]
        sub.append(slice(clo - lo, chi - lo))
    return tuple(out), tuple(sub)  # type: ignore[return-value]


@dataclass
class Atom:
    """One bounded diff of a label volume."""

    bbox: BBox
    packed: np.ndarray  # np.packbits of the bool mask of changed voxels, shape box_shape(bbox)
    old: np.ndarray  # uint8 old values at the mask (C order)
    new: np.ndarray  # uint8 new values at the mask

    @classmethod
    def from_mask(cls, bbox: BBox, mask: np.ndarray, old: np.ndarray, new: np.ndarray) -> Atom:
        return cls(tuple(int(v) for v in bbox), np.packbits(mask, axis=None), old, new)  # type: ignore[arg-type]

    @property
    def mask(self) -> np.ndarray:
        shape = box_shape(self.bbox)
        n = shape[0] * shape[1] * shape[2]
        return np.unpackbits(self.packed, count=n).view(bool).reshape(shape)

    @property
    def n_changed(self) -> int:
        return int(self.old.size)

    @property
    def nbytes(self) -> int:
        return int(self.packed.nbytes + self.old.nbytes + self.new.nbytes) + 120

    def undo(self, data: np.ndarray) -> None:
        data[box_slices(self.bbox)][self.mask] = self.old

    def redo(self, data: np.ndarray) -> None:
        data[box_slices(self.bbox)][self.mask] = self.new

    def slices_touched(self, axis: int = 0) -> np.ndarray:
        """Indices along ``axis`` of the slices holding a changed voxel."""
        other = tuple(a for a in range(3) if a != axis)
        return np.flatnonzero(self.mask.any(axis=other)) + self.bbox[2 * axis]


def merge_atoms(data: np.ndarray, atoms: list[Atom]) -> Atom | None:
    """Fold consecutive atoms (already applied to ``data``) into one atom over their union box.

    Old values come from replaying the atoms' old values backwards onto a copy of the current box; voxels that
    ended where they started drop out.  Used to make a whole stroke one undo step with one bounded diff.
    """
    if not atoms:
        return None
    if len(atoms) == 1:
        return atoms[0]
    box = None
    for a in atoms:
        box = union_box(box, a.bbox)
    cur = data[box_slices(box)]
    before = cur.copy()
    for a in reversed(atoms):
        z0, _, y0, _, x0, _ = a.bbox
        sz, sy, sx = box_shape(a.bbox)
        sub = before[a.bbox[0] - box[0]:a.bbox[0] - box[0] + sz, a.bbox[2] - box[2]:a.bbox[2] - box[2] + sy,
                     a.bbox[4] - box[4]:a.bbox[4] - box[4] + sx]
        sub[a.mask] = a.old
    changed = before != cur
    tb = tight_box(changed, (box[0], box[2], box[4]))
    if tb is None:
        return None
    loc = (slice(tb[0] - box[0], tb[1] - box[0]), slice(tb[2] - box[2], tb[3] - box[2]),
           slice(tb[4] - box[4], tb[5] - box[4]))
    m = changed[loc]
    return Atom.from_mask(tb, m, before[loc][m], cur[loc][m])
