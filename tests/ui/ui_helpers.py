"""Small helpers for driving pyqtgraph views with synthetic mouse events and reading grabbed pixels."""

from __future__ import annotations

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

SAG = ("dicom_series", "sag_anon_t1_mprage")
PGBM = ("dicom_series", "pgbm003_t1post")
HIPPO_IMG = ("nifti", "msd_task04_hippocampus", "images", "hippocampus_001.nii.gz")
HIPPO_LAB = ("nifti", "msd_task04_hippocampus", "labels", "hippocampus_001.nii.gz")
HIPPO_OTHER_LAB = ("nifti", "msd_task04_hippocampus", "labels", "hippocampus_003.nii.gz")


def to_array(img: QtGui.QImage) -> np.ndarray:
    """QImage -> (h, w, 3) uint8 RGB."""
    img = img.convertToFormat(QtGui.QImage.Format.Format_RGB888)
    w, h, bpl = img.width(), img.height(), img.bytesPerLine()
    buf = np.frombuffer(img.constBits(), dtype=np.uint8, count=bpl * h).reshape(h, bpl)
    return buf[:, : w * 3].reshape(h, w, 3).copy()


def grab_view(view) -> np.ndarray:
    QtWidgets.QApplication.processEvents()
    return to_array(view.graphics.grab().toImage())


def widget_pos(view, voxel) -> QtCore.QPoint:
    """Widget (viewport) pixel of a voxel centre in a slice view."""
    scene_pt = view.vb.mapViewToScene(view.view_pos_of(voxel))
    return view.graphics.mapFromScene(scene_pt)


def send_mouse(widget, kind, pos, button, buttons, modifiers=QtCore.Qt.KeyboardModifier.NoModifier):
    local = QtCore.QPointF(pos)
    glob = QtCore.QPointF(widget.mapToGlobal(pos))
    ev = QtGui.QMouseEvent(kind, local, glob, button, buttons, modifiers)
    QtWidgets.QApplication.sendEvent(widget, ev)


def drag(view, start: QtCore.QPoint, end: QtCore.QPoint, button=QtCore.Qt.MouseButton.LeftButton, steps=8):
    w = view.graphics.viewport()
    T = QtCore.QEvent.Type
    none = QtCore.Qt.MouseButton.NoButton
    send_mouse(w, T.MouseButtonPress, start, button, button)
    for i in range(1, steps + 1):
        p = start + (end - start) * (i / steps)
        send_mouse(w, T.MouseMove, QtCore.QPoint(int(p.x()), int(p.y())), none, button)
        QtWidgets.QApplication.processEvents()
    send_mouse(w, T.MouseButtonRelease, end, button, none)
    QtWidgets.QApplication.processEvents()


def click(view, pos: QtCore.QPoint, button=QtCore.Qt.MouseButton.LeftButton):
    w = view.graphics.viewport()
    T = QtCore.QEvent.Type
    send_mouse(w, T.MouseButtonPress, pos, button, button)
    send_mouse(w, T.MouseButtonRelease, pos, button, QtCore.Qt.MouseButton.NoButton)
    QtWidgets.QApplication.processEvents()


def wheel(view, pos: QtCore.QPoint, clicks: int, modifiers=QtCore.Qt.KeyboardModifier.NoModifier):
    w = view.graphics.viewport()
    ev = QtGui.QWheelEvent(
        QtCore.QPointF(pos), QtCore.QPointF(w.mapToGlobal(pos)), QtCore.QPoint(0, 0), QtCore.QPoint(0, 120 * clicks),
        QtCore.Qt.MouseButton.NoButton, modifiers, QtCore.Qt.ScrollPhase.NoScrollPhase, False,
    )
    QtWidgets.QApplication.sendEvent(w, ev)
    QtWidgets.QApplication.processEvents()
