"""The ViewBox of a slice view: clinical mouse bindings.

* left click / drag   -> set the cursor (crosshair)       ``sigCursor(QPointF in view mm)``
* right drag          -> window / level                   ``sigWindowDrag(dx, dy)`` in screen pixels
* middle drag         -> pan
* wheel               -> change slice                     ``sigWheel(steps)``
* Ctrl + wheel        -> zoom about the mouse
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6 import QtCore


class SliceViewBox(pg.ViewBox):
    sigCursor = QtCore.Signal(object)  # QPointF in view coordinates (mm)
    sigWindowDrag = QtCore.Signal(float, float)  # dx, dy in screen pixels
    sigWheel = QtCore.Signal(int)  # +n / -n slices

    def __init__(self, **kwargs):
        super().__init__(lockAspect=True, invertY=True, enableMenu=False, **kwargs)
        self.setMouseEnabled(x=True, y=True)
        self._wheel_acc = 0.0

    def mouseClickEvent(self, ev):
        if ev.button() == QtCore.Qt.MouseButton.LeftButton:
            ev.accept()
            self.sigCursor.emit(self.mapToView(ev.pos()))
        else:
            ev.ignore()

    def mouseDragEvent(self, ev, axis=None):
        btn = ev.button()
        if btn == QtCore.Qt.MouseButton.LeftButton:
            ev.accept()
            self.sigCursor.emit(self.mapToView(ev.pos()))
        elif btn == QtCore.Qt.MouseButton.RightButton:
            ev.accept()
            d = ev.pos() - ev.lastPos()
            if d.x() or d.y():
                self.sigWindowDrag.emit(float(d.x()), float(d.y()))
        elif btn == QtCore.Qt.MouseButton.MiddleButton:
            ev.accept()
            d = self.mapToView(ev.lastPos()) - self.mapToView(ev.pos())
            self.translateBy(x=d.x(), y=d.y())
        else:
            ev.ignore()

    def wheelEvent(self, ev, axis=None):
        mods = ev.modifiers()
        if mods & QtCore.Qt.KeyboardModifier.ControlModifier:
            super().wheelEvent(ev, axis)  # zoom about the mouse
            return
        delta = ev.delta() if hasattr(ev, "delta") else ev.angleDelta().y()
        self._wheel_acc += delta / 120.0
        steps = int(self._wheel_acc)
        if steps:
            self._wheel_acc -= steps
            self.sigWheel.emit(steps)
        ev.accept()
