"""Brush, eraser and threshold paint.  No Qt.

The brush is round with its diameter in millimetres (anisotropic voxels give an ellipse in voxels).  Between two
pointer events the stamp is swept along the segment (a capsule: every voxel within the radius of the segment), so
a fast stroke leaves no gaps.  2D paints on the slice of the view the event came from; 3D paints a sphere.  A
whole stroke is one undo step named like "Brush, label 1, slice 42".
"""

from __future__ import annotations

import math

import numpy as np

from .funnel import BBox
from .pointer import PointerEvent, Tool


def capsule_mask(p0, p1, radius_mm: float, spacing_zyx, axis: int | None, shape) -> tuple[BBox, np.ndarray] | None:
    """Voxels whose centres lie within ``radius_mm`` of the segment p0-p1 (continuous ``(z, y, x)``).

    ``axis``: paint only on the slice ``round(p1[axis])`` of that axis (2D brush); None: in 3D (sphere).
    Returns (box, mask) with the box clipped to ``shape``; the voxel under ``p1`` is always included so that a
    brush smaller than a voxel still paints.
    """
    p0 = np.asarray(p0, float)
    p1 = np.asarray(p1, float)
    sp = np.asarray(spacing_zyx, float)
    if axis is not None:
        p0 = p0.copy()
        p0[axis] = p1[axis] = round(p1[axis])
    r_vox = radius_mm / sp
    lo, hi = [], []
    for ax in range(3):
        if axis is not None and ax == axis:
            a = int(round(p1[ax]))
            lo.append(a)
            hi.append(a + 1)
        else:
            lo.append(int(math.floor(min(p0[ax], p1[ax]) - r_vox[ax])))
            hi.append(int(math.ceil(max(p0[ax], p1[ax]) + r_vox[ax])) + 1)
        lo[-1], hi[-1] = max(lo[-1], 0), min(hi[-1], int(shape[ax]))
        if hi[-1] <= lo[-1]:
            return None
    g = [(np.arange(lo[ax], hi[ax], dtype=np.float32) - np.float32(p0[ax])) * np.float32(sp[ax]) for ax in range(3)]
    gz, gy, gx = g[0][:, None, None], g[1][None, :, None], g[2][None, None, :]
    d = (p1 - p0) * sp
    dd = float(d @ d)
    r2 = np.float32(radius_mm * radius_mm * (1 + 1e-6))
    if dd < 1e-12:
        mask = (gz * gz + gy * gy + gx * gx) <= r2
    else:
        t = (gz * np.float32(d[0]) + gy * np.float32(d[1]) + gx * np.float32(d[2])) * np.float32(1.0 / dd)
        np.clip(t, 0.0, 1.0, out=t)
        mask = ((gz - t * np.float32(d[0])) ** 2 + (gy - t * np.float32(d[1])) ** 2
                + (gx - t * np.float32(d[2])) ** 2) <= r2
    c = [int(round(v)) - lo[ax] for ax, v in enumerate(p1)]
    if all(0 <= c[ax] < hi[ax] - lo[ax] for ax in range(3)):
        mask[c[0], c[1], c[2]] = True
    return (lo[0], hi[0], lo[1], hi[1], lo[2], hi[2]), mask


class BrushTool(Tool):
    """Paint the active label (Shift held: erase).  ``erase=True`` makes it the eraser."""

    name = "brush"
    title = "Brush"

    def __init__(self, editor, erase: bool = False):
        super().__init__(editor)
        self.erase = erase
        self._last = None
        self._axis = 0

    def _value(self, ev: PointerEvent) -> int:
        return 0 if (self.erase or "shift" in ev.modifiers) else self.editor.options.active_label

    def _range(self):
        return None

    def press(self, ev: PointerEvent) -> None:
        opts = self.editor.options
        self._axis = ev.axis
        what = "Eraser" if self._value(ev) == 0 else self.title
        where = "3D" if opts.brush_3d else f"slice {ev.slice_index + 1}"
        self.editor.begin(f"{what}, label {opts.active_label}, {where}")
        self._last = ev.voxel
        self.dab(ev.voxel, ev.voxel, self._value(ev))

    def move(self, ev: PointerEvent) -> None:
        if self._last is None:
            return
        p1 = self._with_axis(ev.voxel)
        self.dab(self._last, p1, self._value(ev))
        self._last = p1

    def _with_axis(self, v):
        v = list(v)
        if not self.editor.options.brush_3d:
            v[self._axis] = self._last[self._axis]  # a 2D stroke stays on the slice it started on
        return tuple(v)

    def release(self, ev: PointerEvent) -> None:
        if self._last is not None:
            if ev.voxel != self._last:
                self.move(ev)
            self._last = None
            self.editor.end()

    def cancel(self) -> None:
        self._last = None
        self.editor.end()

    def dab(self, p0, p1, value: int):
        """One stamp swept from p0 to p1 through the paint funnel; returns the atom (or None)."""
        ed = self.editor
        opts = ed.options
        got = capsule_mask(p0, p1, opts.brush_mm / 2.0, ed.spacing_zyx, None if opts.brush_3d else self._axis,
                           ed.data.shape)
        if got is None:
            return None
        box, mask = got
        rng = self._range()
        if rng is not None and ed.image is not None:
            img = ed.image[box[0]:box[1], box[2]:box[3], box[4]:box[5]]
            mask &= (img >= rng[0]) & (img <= rng[1])
        return ed.paint(box, mask, value)


class EraserTool(BrushTool):
    name = "eraser"
    title = "Eraser"

    def __init__(self, editor):
        super().__init__(editor, erase=True)


class ThresholdTool(BrushTool):
    """Brush that paints only voxels whose intensity lies in ``options.threshold`` (low, high)."""

    name = "threshold"
    title = "Threshold paint"

    def _range(self):
        return self.editor.options.threshold
