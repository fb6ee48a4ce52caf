"""Window/level panel: presets, width/centre boxes and pyqtgraph's HistogramLUTWidget over the whole volume.

The histogram is linked to a *hidden* ImageItem holding a strided sample of the volume, so pyqtgraph computes the
histogram and drives the levels region as usual, while the slice views render with their own uint8 windowing.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from ..model.view_state import ViewState, percentile_levels
from .resources import window_presets


def volume_sample(voxels: np.ndarray, target: int = 512 * 512) -> np.ndarray:
    """A small 2D sample of a volume (for the histogram): every n-th voxel, no full copy."""
    a = voxels
    if a.ndim == 4:
        a = a[..., :3].mean(axis=-1) if a.shape[0] * a.shape[1] * a.shape[2] <= 4 * target else a[..., 0]
    step = max(1, int(np.ceil((a.size / target) ** (1 / 3))))
    s = np.ascontiguousarray(a[::step, ::step, ::step])
    return s.reshape(-1, s.shape[-1])


def fit_to_span(box: QtWidgets.QDoubleSpinBox, span: float, positive: bool = False) -> None:
    """Decimals and arrow step of an intensity box from the study's intensity span (about 3 significant digits of
    it, at least one decimal), so that 0..0.003 mm^2/s ADC maps and 0..4000 CT numbers are both editable.  A
    ``positive`` box (a width) gets one display unit as its minimum, set after the decimals (Qt rounds it to them)."""
    mag = int(np.floor(np.log10(max(float(span), 1e-12))))
    box.setDecimals(max(1, 3 - mag))
    box.setSingleStep(10.0 ** (mag - 2))
    if positive:
        box.setMinimum(10.0 ** -box.decimals())


class WindowLevelPanel(QtWidgets.QWidget):
    def __init__(self, state: ViewState, parent=None):
        super().__init__(parent)
        self.state = state
        self.voxels: np.ndarray | None = None
        self._syncing = False

        self.presets = QtWidgets.QComboBox()
        self.presets.addItem("Preset...")
        for p in window_presets():
            self.presets.addItem(p["name"], p)
        self.presets.activated.connect(self._on_preset)
        self.width_box = QtWidgets.QDoubleSpinBox(decimals=1, minimum=0.1, maximum=1e9, prefix="W ")
        self.center_box = QtWidgets.QDoubleSpinBox(decimals=1, minimum=-1e9, maximum=1e9, prefix="L ")
        for box in (self.width_box, self.center_box):
            box.setKeyboardTracking(False)
        # the box not edited keeps the exact state value (its display is rounded to the box's decimals)
        self.width_box.valueChanged.connect(lambda w: self._on_boxes(w, self.state.window[1]))
        self.center_box.valueChanged.connect(lambda c: self._on_boxes(self.state.window[0], c))

        self.hidden_item = pg.ImageItem(axisOrder="row-major")
        self.histogram = pg.HistogramLUTWidget(image=self.hidden_item, orientation="horizontal")
        self.histogram.setMinimumHeight(110)
        self.histogram.item.gradient.hide()
        self.histogram.item.sigLevelsChanged.connect(self._on_histogram)

        top = QtWidgets.QHBoxLayout()
        top.addWidget(self.presets, 1)
        top.addWidget(self.width_box)
        top.addWidget(self.center_box)
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(top)
        lay.addWidget(self.histogram, 1)
        state.levels_changed.connect(self._on_state_levels)

    def set_volume(self, voxels: np.ndarray) -> None:
        self.voxels = voxels
        sample = volume_sample(voxels)
        lo, hi = self.state.levels
        self._syncing = True
        try:
            self.hidden_item.setImage(sample, autoLevels=False, levels=(lo, hi))
            mn, mx = float(sample.min()), float(sample.max())
            span = mx - mn if mx > mn else 1.0
            fit_to_span(self.width_box, span, positive=True)
            fit_to_span(self.center_box, span)
            self.histogram.item.setHistogramRange(mn, mn + span)
            self.histogram.item.setLevels(lo, hi)
        finally:
            self._syncing = False
        self._on_state_levels(lo, hi)

    def apply_preset(self, preset: dict) -> None:
        if preset.get("kind") == "window":
            self.state.set_window(float(preset["width"]), float(preset["center"]))
        elif self.voxels is not None:
            self.state.set_levels(*percentile_levels(self.voxels, float(preset["low"]), float(preset["high"])))

    def apply_preset_named(self, name: str) -> bool:
        for p in window_presets():
            if p["name"].lower().startswith(name.lower()):
                self.apply_preset(p)
                return True
        return False

    def _on_preset(self, index: int) -> None:
        p = self.presets.itemData(index)
        if p:
            self.apply_preset(p)
        self.presets.setCurrentIndex(0)

    def _on_boxes(self, width: float, center: float) -> None:
        if not self._syncing:
            self.state.set_window(width, center)

    def _on_histogram(self, _item=None) -> None:
        if not self._syncing:
            lo, hi = self.histogram.item.getLevels()
            self.state.set_levels(lo, hi)

    def _on_state_levels(self, lo: float, hi: float) -> None:
        self._syncing = True
        try:
            self.histogram.item.setLevels(lo, hi)
            w, c = self.state.window
            self.width_box.setValue(w)
            self.center_box.setValue(c)
        finally:
            self._syncing = False

    def sizeHint(self):
        return QtCore.QSize(300, 170)
