"""Slice -> display pixels (numpy only, no Qt): window/level lookup tables and label outlines.

pyqtgraph's fast paths are uint8 (pass-through / indexed colour table) and uint16; int16 with levels falls back to
its slow ``makeARGB``.  So the slice views do the windowing here: integer data of 8 or 16 bits goes through a
precomputed uint8 lookup table indexed by the raw bits (one gather per slice, rebuilt only when the levels
change); other types are scaled directly.  The result is a uint8 image that ImageItem shows without levels.
"""

from __future__ import annotations

import numpy as np


class Windowing:
    """Maps raw intensities to uint8 grey levels for explicit ``(low, high)`` levels."""

    def __init__(self, dtype, levels=(0.0, 1.0)):
        self.dtype = np.dtype(dtype)
        self.levels = (0.0, 1.0)
        self._lut: np.ndarray | None = None
        self._bits = self.dtype.kind in "iu" and self.dtype.itemsize in (1, 2)
        self.set_levels(*levels)

    def set_levels(self, low: float, high: float) -> None:
        low, high = float(low), float(high)
        if high <= low:
            high = low + 1e-6
        self.levels = (low, high)
        if self._bits:
            n = 256 if self.dtype.itemsize == 1 else 65536
            utype = np.uint8 if n == 256 else np.uint16
            raw = np.arange(n, dtype=np.int64).astype(utype).view(self.dtype).astype(np.float32)
            self._lut = self._scale(raw)

    def _scale(self, a: np.ndarray) -> np.ndarray:
        lo, hi = self.levels
        out = (a - np.float32(lo)) * np.float32(255.0 / (hi - lo))
        np.clip(out, 0, 255, out=out)
        return out.astype(np.uint8)

    @property
    def is_identity(self) -> bool:
        return self.dtype == np.uint8 and self.levels == (0.0, 255.0)

    def apply(self, img: np.ndarray) -> np.ndarray:
        """2D grey ``(rows, cols)`` or colour ``(rows, cols, c)`` slice -> C-contiguous uint8 of the same shape."""
        if self.is_identity:
            return np.ascontiguousarray(img)
        if self._lut is not None:
            utype = np.uint8 if self.dtype.itemsize == 1 else np.uint16
            return np.take(self._lut, img.view(utype))
        return self._scale(img.astype(np.float32))


def outline(labels: np.ndarray) -> np.ndarray:
    """Keep only boundary pixels of each labelled region of a 2D uint8 slice (4-neighbourhood)."""
    lab = np.ascontiguousarray(labels)
    edge = np.zeros(lab.shape, dtype=bool)
    edge[1:, :] |= lab[1:, :] != lab[:-1, :]
    edge[:-1, :] |= lab[:-1, :] != lab[1:, :]
    edge[:, 1:] |= lab[:, 1:] != lab[:, :-1]
    edge[:, :-1] |= lab[:, :-1] != lab[:, 1:]
    edge[0, :] = edge[-1, :] = True
    edge[:, 0] = edge[:, -1] = True
    out = np.where(edge, lab, 0).astype(np.uint8)
    return out
