"""Shape-based interpolation between edited slices (signed distance maps).  No Qt.

For a label and an axis, the *key slices* are the slices holding that label (by default only those drawn or
corrected by hand, from provenance).  Each empty gap between two key slices gets, at fraction ``t`` of the way,
the region where ``(1 - t) * sdm(a) + t * sdm(b) < 0``, where ``sdm`` is the signed distance map of the slice's
mask in millimetres (from SimpleITK's SignedMaurerDistanceMap).  Only background voxels are filled, and an earlier
interpolation of the label on a gap slice (provenance "interpolated") is redone; interpolated slices are not key
slices.  All gaps together are one undoable step.
"""

from __future__ import annotations

import numpy as np

from ..errors import EditError


def _sdm(mask2d: np.ndarray, spacing_rc) -> np.ndarray:
    """Signed distance in mm, negative inside: (distance to the nearest inside voxel) - (to the nearest outside).

    Built from two Maurer maps so that the zero level lies half-way between the last inside and the first outside
    voxel centre (``sdm < 0`` gives the mask back exactly).
    """
    import SimpleITK as sitk

    def dist_to(m):  # for voxels outside ``m``: distance to the nearest voxel of ``m``
        if not m.any():
            return np.full(m.shape, 1e6, np.float32)
        img = sitk.GetImageFromArray(m.astype(np.uint8))
        img.SetSpacing((float(spacing_rc[1]), float(spacing_rc[0])))
        d = sitk.SignedMaurerDistanceMap(img, insideIsPositive=False, squaredDistance=False, useImageSpacing=True)
        return np.maximum(sitk.GetArrayFromImage(d).astype(np.float32), 0)

    half = 0.5 * float(min(spacing_rc))  # voxel centres lie half a voxel from the boundary between them
    return dist_to(mask2d) - dist_to(~mask2d) + np.where(mask2d, half, -half).astype(np.float32)


def key_slices(editor, value: int, axis: int = 0, only_manual: bool = True) -> list[int]:
    other = tuple(a for a in range(3) if a != axis)
    present = np.flatnonzero((editor.data == int(value)).any(axis=other))
    if only_manual and axis == 0:
        manual = set(editor.provenance.manual_slices())
        chosen = [int(z) for z in present if int(z) in manual]
        if len(chosen) >= 2:
            return chosen
    return [int(z) for z in present]


def interpolate_label(editor, value: int, axis: int = 0, only_manual: bool = True, margin: int = 2):
    """Fill the empty slices between key slices of ``value`` along ``axis``; returns the history step or None."""
    keys = key_slices(editor, value, axis, only_manual)
    if len(keys) < 2:
        raise EditError(f"Draw label {value} on at least two slices (with empty slices between them) to interpolate.")
    data = editor.data
    sp = editor.spacing_zyx
    rest = [a for a in range(3) if a != axis]
    sp_rc = (sp[rest[0]], sp[rest[1]])
    pairs = [(a, b) for a, b in zip(keys, keys[1:]) if b - a > 1]
    if not pairs:
        return None
    editor.begin(f"Interpolate label {value}, slices {keys[0] + 1}-{keys[-1] + 1}")
    try:
        for a, b in pairs:
            ma = np.take(data, a, axis=axis) == value
            mb = np.take(data, b, axis=axis) == value
            both = ma | mb
            rows = np.flatnonzero(both.any(axis=1))
            cols = np.flatnonzero(both.any(axis=0))
            r0, r1 = max(rows[0] - margin, 0), min(rows[-1] + 1 + margin, both.shape[0])
            c0, c1 = max(cols[0] - margin, 0), min(cols[-1] + 1 + margin, both.shape[1])
            sa = _sdm(ma[r0:r1, c0:c1], sp_rc)
            sb = _sdm(mb[r0:r1, c0:c1], sp_rc)
            for k in range(a + 1, b):
                t = (k - a) / (b - a)
                m2 = ((1.0 - t) * sa + t * sb) < 0
                cur = np.take(data, k, axis=axis)[r0:r1, c0:c1]
                redo = axis == 0 and editor.provenance.source(k) == "interpolated"  # an earlier interpolation
                new = cur.copy()
                if redo:
                    new[(cur == value) & ~m2] = 0
                new[m2 & (new == 0)] = int(value)
                box = [0] * 6
                box[2 * axis], box[2 * axis + 1] = k, k + 1
                box[2 * rest[0]], box[2 * rest[0] + 1] = r0, r1
                box[2 * rest[1]], box[2 * rest[1] + 1] = c0, c1
                editor.paint(tuple(box), np.expand_dims(new != cur, axis), np.expand_dims(new, axis),
                             respect_options=False, origin={"interpolated": True})
    finally:
        step = editor.end()
    return step
