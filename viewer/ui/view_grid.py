"""The three slice views plus the info pane, arranged as 1x1, 1x3 or 2x2, all driven by one ViewState."""

from __future__ import annotations

import numpy as np
from PySide6 import QtCore, QtWidgets

from ..model.planes import PLANES, acquisition_plane, plane_mapping
from ..model.view_state import ViewState
from ._display import Windowing
from .info_pane import InfoPane
from .slice_view import SliceView


class ViewGrid(QtWidgets.QWidget):
    """Owns the slice views and routes ViewState / LabelMap events to them (views compute nothing global)."""

    sigHover = QtCore.Signal(object)  # voxel (z, y, x) or None
    sigActiveChanged = QtCore.Signal(str)

    def __init__(self, state: ViewState, parent=None):
        super().__init__(parent)
        self.state = state
        self.study = None
        self.labelmap = None
        self.windowing: Windowing | None = None
        self.value_span = 1.0
        self.active_plane = "axial"
        self.planes: tuple[str, ...] = PLANES
        self.views = {p: SliceView(p, self) for p in PLANES}
        self.info = InfoPane(self)
        self._grid = QtWidgets.QGridLayout(self)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setSpacing(2)
        for v in self.views.values():
            v.sigCursorRequest.connect(state.set_cursor)
            v.sigSliceRequest.connect(self._on_slice_request)
            v.sigWindowDrag.connect(self._on_window_drag)
            v.sigHover.connect(self.sigHover)
            v.sigActivated.connect(self.set_active)
        state.cursor_changed.connect(self._on_cursor)
        state.levels_changed.connect(self._on_levels)
        state.layout_changed.connect(self.apply_layout)
        state.overlay_changed.connect(self._on_overlay)
        self.apply_layout(state.layout)

    # --- study / labels -------------------------------------------------------------------------------------
    def set_study(self, study) -> None:
        self.set_labelmap(None)
        for v in self.views.values():
            v.clear()  # no view may render the old volume with the new cursor
        self.study = study
        vox = study.voxels
        if vox.ndim == 4 and not study.is_rgb:
            vox = vox[..., 0]  # multi-channel, non-colour: show the first channel
        self.windowing = Windowing(vox.dtype, self.state.levels)
        lo, hi = study.intensity_range()
        self.value_span = max(hi - lo, 1e-6)
        acq = acquisition_plane(study.shape, study.geometry)
        self.planes = (acq,) if study.is_2d else PLANES
        self.state.reset(study.shape)
        for p in self.planes:
            self.views[p].set_volume(vox, plane_mapping(p, study.shape, study.geometry), self.windowing,
                                     self.state.cursor)
        self.set_active(acq)
        self.info.set_study(study)
        self.apply_layout(self.state.layout)

    def set_labelmap(self, labelmap) -> None:
        if self.labelmap is not None:
            self.labelmap.changed.disconnect(self._on_labels_changed)
            self.labelmap.table.changed.disconnect(self._on_table_changed)
        self.labelmap = labelmap
        lut = None
        if labelmap is not None:
            labelmap.changed.connect(self._on_labels_changed)
            labelmap.table.changed.connect(self._on_table_changed)
            lut = labelmap.table.lut(self.state.overlay_opacity)
        for p in self.planes:
            self.views[p].set_labels(None if labelmap is None else labelmap.data, lut)
        if self.study is not None:
            self.info.set_study(self.study, labelmap)

    def _on_labels_changed(self, bbox) -> None:
        for p in self.planes:
            self.views[p].labels_changed(bbox)

    def _on_table_changed(self, _value=0) -> None:
        """A label added (model result, painting), renamed, recoloured: the overlay colours and the info pane."""
        self._apply_lut()
        self.info.set_study(self.study, self.labelmap)

    def _apply_lut(self) -> None:
        lut = self.labelmap.table.lut(self.state.overlay_opacity)
        for p in self.planes:
            self.views[p].set_lut(lut)

    # --- state events ---------------------------------------------------------------------------------------
    def _on_cursor(self, voxel) -> None:
        for p in self.planes:
            self.views[p].set_cursor(voxel)

    def _on_levels(self, low: float, high: float) -> None:
        if self.windowing is None:
            return
        self.windowing.set_levels(low, high)
        for p in self.planes:
            self.views[p].refresh_image()

    def _on_overlay(self) -> None:
        s = self.state
        for p in self.planes:
            self.views[p].set_overlay_display(s.overlay_visible, s.overlay_mode)
        if self.labelmap is not None:
            self._apply_lut()

    def _on_slice_request(self, axis: int, index: int) -> None:
        v = list(self.state.cursor)
        v[axis] = index
        self.state.set_cursor(v)

    def _on_window_drag(self, dx: float, dy: float) -> None:
        width, center = self.state.window
        k = self.value_span / 500.0
        self.state.set_window(max(width + dx * k, k), center + dy * k)

    # --- layout ---------------------------------------------------------------------------------------------
    def set_active(self, plane: str) -> None:
        if plane not in self.planes:
            return
        changed = plane != self.active_plane
        self.active_plane = plane
        for p, v in self.views.items():
            v.set_active(p == plane)
        if changed:
            self.sigActiveChanged.emit(plane)
            if self.state.layout == "1x1":
                self.apply_layout("1x1")

    def active_view(self) -> SliceView:
        return self.views[self.active_plane]

    def apply_layout(self, layout: str) -> None:
        while self._grid.count():
            self._grid.takeAt(0)
        shown: list[QtWidgets.QWidget]
        if layout == "1x1" or len(self.planes) == 1:
            shown = [self.views[self.active_plane if self.active_plane in self.planes else self.planes[0]]]
            positions = [(0, 0)]
        elif layout == "1x3":
            shown = [self.views[p] for p in PLANES]
            positions = [(0, 0), (0, 1), (0, 2)]
        else:
            shown = [self.views["axial"], self.views["coronal"], self.views["sagittal"], self.info]
            positions = [(0, 0), (0, 1), (1, 0), (1, 1)]
        for w in [*self.views.values(), self.info]:
            w.setVisible(w in shown)
        for w, (r, c) in zip(shown, positions):
            self._grid.addWidget(w, r, c)
        for i in range(3):
            self._grid.setRowStretch(i, 1 if i < (2 if len(shown) == 4 else 1) else 0)
            self._grid.setColumnStretch(i, 1 if i < {1: 1, 3: 3, 4: 2}[len(shown)] else 0)
        QtCore.QTimer.singleShot(0, self.fit_all)

    def fit_all(self) -> None:
        for p in self.planes:
            self.views[p].fit()

    def value_at(self, voxel) -> float | np.ndarray | None:
        if self.study is None or voxel is None:
            return None
        z, y, x = voxel
        return self.study.voxels[z, y, x]
