"""What the viewer is showing, as plain data with psygnal events.  No Qt.

The slice views, the info pane and the status bar *observe* a :class:`ViewState`; mouse and keyboard handlers
only call its setters.  Later tools (editing, inference) read the cursor and levels from here.
"""

from __future__ import annotations

import numpy as np
from psygnal import Signal

LAYOUTS = ("1x1", "1x3", "2x2")
OVERLAY_MODES = ("filled", "outline")


class ViewState:
    """Cursor (array voxel ``(z, y, x)``), window levels, layout and overlay display settings."""

    cursor_changed = Signal(object)  # (z, y, x)
    levels_changed = Signal(float, float)  # (low, high) display levels
    layout_changed = Signal(str)
    overlay_changed = Signal()  # visible / mode / opacity

    def __init__(self, shape=(1, 1, 1)):
        self.shape = tuple(int(v) for v in shape[:3])
        self.cursor = tuple(v // 2 for v in self.shape)
        self.levels = (0.0, 1.0)
        self.layout = "2x2"
        self.overlay_visible = True
        self.overlay_mode = "filled"
        self.overlay_opacity = 0.5

    def reset(self, shape) -> None:
        self.shape = tuple(int(v) for v in shape[:3])
        self.set_cursor(tuple(v // 2 for v in self.shape), force=True)

    def set_cursor(self, voxel, force: bool = False) -> None:
        v = tuple(int(min(max(int(c), 0), n - 1)) for c, n in zip(voxel, self.shape))
        if v != self.cursor or force:
            self.cursor = v
            self.cursor_changed.emit(v)

    def move_cursor(self, axis: int, delta: int) -> None:
        v = list(self.cursor)
        v[axis] += int(delta)
        self.set_cursor(v)

    def set_levels(self, low: float, high: float) -> None:
        low, high = float(low), float(high)
        if high <= low:
            high = low + 1e-6 * max(1.0, abs(low))
        if (low, high) != self.levels:
            self.levels = (low, high)
            self.levels_changed.emit(low, high)

    def set_window(self, width: float, center: float) -> None:
        """Clinical window width / centre."""
        width = max(float(width), 1e-6)
        self.set_levels(center - width / 2, center + width / 2)

    @property
    def window(self) -> tuple[float, float]:
        lo, hi = self.levels
        return hi - lo, (hi + lo) / 2

    def set_layout(self, layout: str) -> None:
        if layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}")
        if layout != self.layout:
            self.layout = layout
            self.layout_changed.emit(layout)

    def set_overlay(self, visible: bool | None = None, mode: str | None = None, opacity: float | None = None):
        if mode is not None and mode not in OVERLAY_MODES:
            raise ValueError(f"overlay mode must be one of {', '.join(OVERLAY_MODES)}")
        changed = False
        for name, val in (("overlay_visible", visible), ("overlay_mode", mode), ("overlay_opacity", opacity)):
            if val is not None and getattr(self, name) != val:
                setattr(self, name, val)
                changed = True
        if changed:
            self.overlay_changed.emit()


def percentile_levels(voxels: np.ndarray, low: float = 0.5, high: float = 99.5, max_samples: int = 1_000_000):
    """Display levels from intensity percentiles over a strided sample of the volume (no full copy)."""
    a = voxels
    if a.ndim == 4:
        a = a[..., 0]
    step = max(1, int(np.ceil((a.size / max_samples) ** (1 / 3))))
    sample = np.asarray(a[::step, ::step, ::step], dtype=np.float32).ravel()
    if sample.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(sample, [low, high])
    if hi <= lo:
        lo, hi = float(sample.min()), float(sample.max())
        if hi <= lo:
            hi = lo + 1.0
    return float(lo), float(hi)
