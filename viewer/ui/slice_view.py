"""One slice view (axial, coronal or sagittal): two long-lived ImageItems (image, label overlay), a crosshair,
orientation letters at the edges, a title and a slice slider.

The view never copies the volume: each slice is a numpy view (:meth:`PlaneMapping.slice_view`) turned into uint8
by the shared :class:`~viewer.ui._display.Windowing`; the overlay is the uint8 label slice shown as an indexed
image with a 256-entry RGBA lookup table.  The ImageItems are scaled by the voxel spacing, so view coordinates
are millimetres and the aspect ratio is physical.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from ..model.planes import PlaneMapping
from ._display import Windowing, outline
from .slice_viewbox import SliceViewBox

_KEY_STEPS = {
    QtCore.Qt.Key.Key_Up: 1, QtCore.Qt.Key.Key_Right: 1, QtCore.Qt.Key.Key_Down: -1, QtCore.Qt.Key.Key_Left: -1,
    QtCore.Qt.Key.Key_PageUp: 10, QtCore.Qt.Key.Key_PageDown: -10,
}


class SliceView(QtWidgets.QFrame):
    """Shows one plane of the study.  The owner (:class:`ViewGrid`) feeds it cursor, levels and label changes."""

    sigCursorRequest = QtCore.Signal(object)  # voxel (z, y, x) the user clicked
    sigSliceRequest = QtCore.Signal(int, int)  # (normal array axis, new slice index)
    sigWindowDrag = QtCore.Signal(float, float)
    sigHover = QtCore.Signal(object)  # voxel (z, y, x) under the mouse, or None
    sigActivated = QtCore.Signal(str)  # plane name

    def __init__(self, plane: str, parent=None):
        super().__init__(parent)
        self.plane = plane
        self.setObjectName("sliceView")
        self.mapping: PlaneMapping | None = None
        self.voxels: np.ndarray | None = None
        self.labels: np.ndarray | None = None
        self.windowing: Windowing | None = None
        self.slice_index = 0
        self.overlay_mode = "filled"
        self.overlay_visible = True

        self.graphics = pg.GraphicsView(self)
        self.graphics.setFocusPolicy(QtCore.Qt.FocusPolicy.StrongFocus)
        self.graphics.installEventFilter(self)
        self.vb = SliceViewBox()
        self.graphics.setCentralItem(self.vb)
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.image_item.setAutoDownsample(False)
        self.overlay_item = pg.ImageItem(axisOrder="row-major")
        self.overlay_item.setZValue(10)
        self.vb.addItem(self.image_item)
        self.vb.addItem(self.overlay_item)
        pen = pg.mkPen((240, 198, 116, 170), width=1)
        self.hline = pg.InfiniteLine(angle=0, movable=False, pen=pen)
        self.vline = pg.InfiniteLine(angle=90, movable=False, pen=pen)
        for line in (self.hline, self.vline):
            line.setZValue(20)
            self.vb.addItem(line, ignoreBounds=True)

        self.title = QtWidgets.QLabel(plane.capitalize(), self.graphics)
        self.title.setObjectName("viewTitle")
        self.letters = {}
        for edge in ("left", "right", "top", "bottom"):
            lab = QtWidgets.QLabel("", self.graphics)
            lab.setObjectName("orientationLetter")
            lab.setAttribute(QtCore.Qt.WidgetAttribute.WA_TransparentForMouseEvents)
            self.letters[edge] = lab
        self.title.setAttribute(QtCore.Qt.WidgetAttribute.WA_TransparentForMouseEvents)

        self.slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Vertical, self)
        self.slider.setToolTip("Slice")
        self.slider.valueChanged.connect(self._on_slider)

        lay = QtWidgets.QHBoxLayout(self)
        lay.setContentsMargins(1, 1, 1, 1)
        lay.setSpacing(2)
        lay.addWidget(self.graphics, 1)
        lay.addWidget(self.slider)

        self.vb.sigCursor.connect(self._on_click)
        self.vb.sigWheel.connect(self.step)
        self.vb.sigWindowDrag.connect(self.sigWindowDrag)
        self.graphics.scene().sigMouseMoved.connect(self._on_mouse_moved)

    # --- data -----------------------------------------------------------------------------------------------
    def set_volume(self, voxels: np.ndarray, mapping: PlaneMapping, windowing: Windowing, cursor) -> None:
        self.voxels = voxels
        self.mapping = mapping
        self.windowing = windowing
        self.image_item.setTransform(QtGui.QTransform.fromScale(mapping.col_spacing, mapping.row_spacing))
        self.overlay_item.setTransform(QtGui.QTransform.fromScale(mapping.col_spacing, mapping.row_spacing))
        self.slider.blockSignals(True)
        self.slider.setRange(0, mapping.n_slices - 1)
        self.slider.blockSignals(False)
        self.slider.setVisible(mapping.n_slices > 1)
        left, right, top, bottom = mapping.letters
        for edge, text in zip(("left", "right", "top", "bottom"), (left, right, top, bottom)):
            self.letters[edge].setText(text)
        self.slice_index = -1
        self.set_cursor(cursor)
        self.fit()
        self._place_labels()

    def clear(self) -> None:
        self.voxels = self.mapping = self.labels = None
        self.image_item.clear()
        self.overlay_item.setVisible(False)

    def set_labels(self, labels: np.ndarray | None, lut: np.ndarray | None) -> None:
        self.labels = labels
        if lut is not None:
            self.overlay_item.setLookupTable(lut)
        self.refresh_overlay()

    def set_lut(self, lut: np.ndarray) -> None:
        self.overlay_item.setLookupTable(lut)

    def set_overlay_display(self, visible: bool, mode: str) -> None:
        changed = (visible, mode) != (self.overlay_visible, self.overlay_mode)
        self.overlay_visible, self.overlay_mode = visible, mode
        if changed:
            self.refresh_overlay()

    # --- rendering ------------------------------------------------------------------------------------------
    def refresh_image(self) -> None:
        if self.voxels is None or self.mapping is None:
            return
        img = self.mapping.slice_view(self.voxels, self.slice_index)
        self.image_item.setImage(self.windowing.apply(img), autoLevels=False)

    def refresh_overlay(self) -> None:
        if self.labels is None or self.mapping is None or not self.overlay_visible:
            self.overlay_item.setVisible(False)
            return
        lab = self.mapping.slice_view(self.labels, self.slice_index)
        lab = outline(lab) if self.overlay_mode == "outline" else np.ascontiguousarray(lab)
        self.overlay_item.setImage(lab, autoLevels=False)
        self.overlay_item.setVisible(True)

    def labels_changed(self, bbox) -> None:
        """Refresh the overlay only when the changed box crosses the slice on show."""
        if self.mapping is None:
            return
        a = self.mapping.normal_axis
        if bbox[2 * a] <= self.slice_index < bbox[2 * a + 1] and not self._patch_overlay(bbox):
            self.refresh_overlay()

    def _patch_overlay(self, bbox) -> bool:
        """Brush-dab path: copy only the changed rectangle of the slice on show and repaint only that rectangle.

        False when the fast path does not apply (outline mode, hidden overlay, no image yet): refresh everything.
        """
        m, item = self.mapping, self.overlay_item
        img = item.image
        if self.overlay_mode != "filled" or not self.overlay_visible or self.labels is None or img is None \
                or img.shape != (m.n_rows, m.n_cols) or not item.isVisible():
            return False
        r0, r1 = bbox[2 * m.row_axis], bbox[2 * m.row_axis + 1]
        c0, c1 = bbox[2 * m.col_axis], bbox[2 * m.col_axis + 1]
        if m.row_flip:
            r0, r1 = m.n_rows - r1, m.n_rows - r0
        if m.col_flip:
            c0, c1 = m.n_cols - c1, m.n_cols - c0
        src = m.slice_view(self.labels, self.slice_index)
        if not np.shares_memory(img, self.labels):  # the overlay holds a copy (flipped / non-axial planes)
            img[r0:r1, c0:c1] = src[r0:r1, c0:c1]
        item._renderRequired = True  # pyqtgraph re-wraps the uint8 buffer as an indexed QImage (cheap)
        item.update(QtCore.QRectF(c0, r0, c1 - c0, r1 - r0))  # item pixels; only this rectangle is repainted
        return True

    def set_cursor(self, voxel) -> None:
        """Move the crosshair to ``voxel`` (z, y, x) and show its slice (re-render only if the slice changed)."""
        if self.mapping is None:
            return
        row, col, s = self.mapping.to_screen(voxel)
        if s != self.slice_index:
            self.slice_index = s
            self.refresh_image()
            self.refresh_overlay()
            self.slider.blockSignals(True)
            self.slider.setValue(s)
            self.slider.blockSignals(False)
            self.title.setText(f"{self.plane.capitalize()}  {s + 1}/{self.mapping.n_slices}")
            self.title.adjustSize()
        self.vline.setPos((col + 0.5) * self.mapping.col_spacing)
        self.hline.setPos((row + 0.5) * self.mapping.row_spacing)

    def set_crosshair_visible(self, visible: bool) -> None:
        self.hline.setVisible(visible)
        self.vline.setVisible(visible)

    # --- navigation -----------------------------------------------------------------------------------------
    def step(self, n: int) -> None:
        if self.mapping is None:
            return
        new = min(max(self.slice_index + int(n), 0), self.mapping.n_slices - 1)
        if new != self.slice_index:
            self.sigSliceRequest.emit(self.mapping.normal_axis, new)

    def _on_slider(self, value: int) -> None:
        if self.mapping is not None and value != self.slice_index:
            self.sigSliceRequest.emit(self.mapping.normal_axis, int(value))

    def fit(self) -> None:
        if self.mapping is None:
            return
        m = self.mapping
        self.vb.setRange(QtCore.QRectF(0, 0, m.n_cols * m.col_spacing, m.n_rows * m.row_spacing), padding=0.02)

    def voxel_at(self, view_pos) -> tuple[int, int, int] | None:
        """The voxel (z, y, x) under a point in view coordinates (mm), or None outside the image."""
        m = self.mapping
        if m is None:
            return None
        col = math.floor(view_pos.x() / m.col_spacing)
        row = math.floor(view_pos.y() / m.row_spacing)
        if not (0 <= row < m.n_rows and 0 <= col < m.n_cols):
            return None
        return m.from_screen(row, col, self.slice_index)

    def view_pos_of(self, voxel) -> QtCore.QPointF:
        """Centre of ``voxel`` in view coordinates (used by tests and tools)."""
        row, col, _ = self.mapping.to_screen(voxel)
        return QtCore.QPointF((col + 0.5) * self.mapping.col_spacing, (row + 0.5) * self.mapping.row_spacing)

    def _on_click(self, view_pos) -> None:
        self.sigActivated.emit(self.plane)
        v = self.voxel_at(view_pos)
        if v is None and self.mapping is not None:  # clamp drags that leave the image
            m = self.mapping
            col = min(max(math.floor(view_pos.x() / m.col_spacing), 0), m.n_cols - 1)
            row = min(max(math.floor(view_pos.y() / m.row_spacing), 0), m.n_rows - 1)
            v = m.from_screen(row, col, self.slice_index)
        if v is not None:
            self.sigCursorRequest.emit(v)

    def _on_mouse_moved(self, scene_pos) -> None:
        self.sigHover.emit(self.voxel_at(self.vb.mapSceneToView(scene_pos)))

    # --- Qt plumbing ----------------------------------------------------------------------------------------
    def eventFilter(self, obj, ev):
        if obj is self.graphics:
            if ev.type() == QtCore.QEvent.Type.KeyPress and ev.key() in _KEY_STEPS:
                self.step(_KEY_STEPS[ev.key()])
                return True
            if ev.type() == QtCore.QEvent.Type.Resize:
                QtCore.QTimer.singleShot(0, self._place_labels)
        return super().eventFilter(obj, ev)

    def resizeEvent(self, ev):
        super().resizeEvent(ev)
        self._place_labels()

    def _place_labels(self) -> None:
        w, h = self.graphics.width(), self.graphics.height()
        for lab in self.letters.values():
            lab.adjustSize()
        L, R, T, B = (self.letters[k] for k in ("left", "right", "top", "bottom"))
        L.move(4, (h - L.height()) // 2)
        R.move(w - R.width() - 4, (h - R.height()) // 2)
        T.move((w - T.width()) // 2, 2)
        B.move((w - B.width()) // 2, h - B.height() - 2)
        self.title.adjustSize()
        self.title.move(4, 2)

    def set_active(self, active: bool) -> None:
        self.setProperty("active", "true" if active else "false")
        self.style().unpolish(self)
        self.style().polish(self)
