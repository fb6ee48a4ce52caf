"""Subprocess driver for the SIGKILL recovery test: the real main window (offscreen) with its autosave timer.

``edit RECOVERY_DIR``: open the sample study, pick the brush, and every 100 ms click a new voxel of the axial view
through real Qt mouse events; after each edit print ``EDIT i time z y x``.  Runs until killed.
``recover RECOVERY_DIR OUT.npy``: start again, accept the recovery offer, save the recovered labels to OUT.npy.
"""

from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["MEDROUTE_RECOVERY_DIR"] = sys.argv[2]
os.environ.setdefault("MEDROUTE_AUTOSAVE_S", "1.0")


def main() -> int:
    import numpy as np
    from PySide6 import QtCore, QtGui, QtWidgets

    from viewer.ui.app import make_app, sample_study_path
    from viewer.ui.main_window import MainWindow
    from viewer.ui.settings import ViewerSettings

    app = make_app(headless=True)
    ini = os.path.join(sys.argv[2], "settings.ini")
    win = MainWindow(settings=ViewerSettings(QtCore.QSettings(ini, QtCore.QSettings.Format.IniFormat)),
                     persist=False)
    win.resize(1000, 800)
    win.show()
    if sys.argv[1] == "recover":
        ok = win.editing.offer_recovery(ask=lambda *_: True)
        np.save(sys.argv[3], win.labelmap.data if ok and win.labelmap is not None else np.zeros(0))
        print("RECOVERED" if ok else "NOTHING", flush=True)
        win.editing.timer.stop()
        os._exit(0)
    win.open_path(str(sample_study_path()), blocking=True)
    for _ in range(3):
        app.processEvents()
    ctl = win.editing
    ctl.set_tool("brush")
    ctl.ensure_session().editor.set_option(brush_mm=0.5, active_label=1)
    view = win.grid.views["axial"]
    port = view.graphics.viewport()
    m = view.mapping
    z = view.slice_index
    state = {"i": 0}

    def send(kind, pos, button, buttons):
        ev = QtGui.QMouseEvent(kind, QtCore.QPointF(pos), QtCore.QPointF(port.mapToGlobal(pos)), button, buttons,
                               QtCore.Qt.KeyboardModifier.NoModifier)
        QtWidgets.QApplication.sendEvent(port, ev)

    def edit():
        i = state["i"]
        row, col = 2 + 2 * (i // 14), 2 + 2 * (i % 14)
        if row >= m.n_rows - 1:
            return
        voxel = m.from_screen(row, col, z)
        pos = view.graphics.mapFromScene(view.vb.mapViewToScene(view.view_pos_of(voxel)))
        left, none = QtCore.Qt.MouseButton.LeftButton, QtCore.Qt.MouseButton.NoButton
        send(QtCore.QEvent.Type.MouseButtonPress, pos, left, left)
        send(QtCore.QEvent.Type.MouseButtonRelease, pos, left, none)
        if win.labelmap.data[voxel] == 1:
            print(f"EDIT {i} {time.time():.4f} {voxel[0]} {voxel[1]} {voxel[2]}", flush=True)
        state["i"] = i + 1

    t = QtCore.QTimer()
    t.timeout.connect(edit)
    t.start(100)
    print("READY", flush=True)
    return int(app.exec())


if __name__ == "__main__":
    sys.exit(main())
