"""The brush outline drawn at its true size (view coordinates are millimetres) under the mouse."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets


class BrushCursor(QtWidgets.QGraphicsEllipseItem):
    def __init__(self, diameter_mm: float = 5.0):
        super().__init__()
        self.diameter_mm = float(diameter_mm)
        pen = pg.mkPen((255, 255, 255, 220), width=1.5)
        pen.setCosmetic(True)
        self.setPen(pen)
        self.setZValue(30)
        self.setAcceptedMouseButtons(QtCore.Qt.MouseButton.NoButton)
        self.setVisible(False)
        self._center = QtCore.QPointF(0, 0)

    def set_diameter(self, mm: float) -> None:
        self.diameter_mm = float(mm)
        self._place()

    def move_to(self, view_pos: QtCore.QPointF) -> None:
        self._center = QtCore.QPointF(view_pos)
        self._place()

    def _place(self) -> None:
        d = self.diameter_mm
        self.setRect(QtCore.QRectF(self._center.x() - d / 2, self._center.y() - d / 2, d, d))
