"""Editing in the real main window: qtbot strokes on a real study, shortcuts, undo, cursor, dialogs."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6 import QtCore, QtWidgets
from tests.ui.ui_helpers import HIPPO_IMG, HIPPO_LAB, click, drag, widget_pos

from viewer.editing import REPLACE


@pytest.fixture
def hippo(window, shared_data):
    window.open_path(shared_data.joinpath(*HIPPO_IMG), blocking=True)
    QtWidgets.QApplication.processEvents()
    return window


def _center_voxel(view, drow=0, dcol=0):
    m = view.mapping
    return m.from_screen(m.n_rows // 2 + drow, m.n_cols // 2 + dcol, view.slice_index)


def test_brush_stroke_with_mouse_paints_and_undo_restores(hippo, qtbot):
    win = hippo
    assert win.labelmap is None  # editing starts lazily on an empty label map
    qtbot.keyClick(win, QtCore.Qt.Key.Key_B)
    assert win.editing.tool_name == "brush"
    view = win.grid.views["axial"]
    a, b = _center_voxel(view, -8, -8), _center_voxel(view, 8, 8)
    drag(view, widget_pos(view, a), widget_pos(view, b), steps=3)  # few, far-apart events
    data = win.labelmap.data
    assert data[a] == 1 and data[b] == 1
    m = view.mapping
    for k in range(-8, 9):  # the diagonal between the two ends has no gap
        assert data[m.from_screen(m.n_rows // 2 + k, m.n_cols // 2 + k, view.slice_index)] == 1
    assert set(np.nonzero(data.any(axis=tuple(i for i in range(3) if i != m.normal_axis)))[0]) == {view.slice_index}
    h = win.editing.session.history
    assert len(h.undo_stack) == 1 and h.undo_name() == f"Brush, label 1, slice {view.slice_index + 1}"
    panel = win.editing.panel
    panel.refresh_stats()
    sx, sy, sz = win.study.geometry.spacing
    assert panel.stats.item(0, 2).text() == str(int((data == 1).sum()))
    assert float(panel.stats.item(0, 3).text()) == pytest.approx((data == 1).sum() * sx * sy * sz / 1000, abs=0.006)
    assert win.state.cursor != a  # painting did not move the crosshair
    # the overlay on show matches the data (dirty-rectangle refresh) in every plane
    for v in win.grid.views.values():
        if v.labels is not None and v.overlay_item.image is not None:
            assert np.array_equal(v.overlay_item.image, v.mapping.slice_view(data, v.slice_index))
    qtbot.keyClick(win, QtCore.Qt.Key.Key_Z, QtCore.Qt.KeyboardModifier.ControlModifier)
    assert not data.any()
    qtbot.keyClick(win, QtCore.Qt.Key.Key_Z,
                   QtCore.Qt.KeyboardModifier.ControlModifier | QtCore.Qt.KeyboardModifier.ShiftModifier)
    assert data[a] == 1


def test_statistics_of_a_png_count_pixels_without_a_made_up_volume(window, shared_data, qtbot):
    window.open_path(shared_data / "brain_mri" / "images" / "TCGA_CS_5393_19990606_10.png", blocking=True)
    QtWidgets.QApplication.processEvents()
    qtbot.keyClick(window, QtCore.Qt.Key.Key_B)
    view = window.grid.views["axial"]
    drag(view, widget_pos(view, _center_voxel(view, -5, -5)), widget_pos(view, _center_voxel(view, 5, 5)), steps=3)
    panel = window.editing.panel
    panel.refresh_stats()
    assert int(panel.stats.item(0, 2).text()) == int((window.labelmap.data == 1).sum()) > 0
    assert panel.stats.item(0, 3).text() == "n/a (no mm)"


def test_label_keys_brush_size_and_cursor(hippo, qtbot):
    win = hippo
    qtbot.keyClick(win, QtCore.Qt.Key.Key_B)
    qtbot.keyClick(win, QtCore.Qt.Key.Key_3)
    ed = win.editing.editor
    assert ed.options.active_label == 3 and 3 in win.labelmap.table
    size = ed.options.brush_mm
    qtbot.keyClick(win, QtCore.Qt.Key.Key_BracketRight)
    assert ed.options.brush_mm > size
    qtbot.keyClick(win, QtCore.Qt.Key.Key_BracketLeft)
    qtbot.keyClick(win, QtCore.Qt.Key.Key_BracketLeft)
    assert ed.options.brush_mm < size
    view = win.grid.views["axial"]
    v = _center_voxel(view)
    click(view, widget_pos(view, v))
    assert win.labelmap.data[v] == 3
    cur = win.editing.cursors["axial"]
    assert cur.isVisible() and cur.rect().width() == pytest.approx(ed.options.brush_mm)  # true size in mm
    for key, name in ((QtCore.Qt.Key.Key_E, "eraser"), (QtCore.Qt.Key.Key_F, "fill"),
                      (QtCore.Qt.Key.Key_T, "threshold"), (QtCore.Qt.Key.Key_P, "polygon"),
                      (QtCore.Qt.Key.Key_Escape, "navigate")):
        qtbot.keyClick(win, key)
        assert win.editing.tool_name == name


def test_eraser_and_fill_with_mouse(hippo, qtbot, shared_data):
    win = hippo
    win.load_labels(shared_data.joinpath(*HIPPO_LAB))
    view = win.grid.views["axial"]
    data = win.labelmap.data
    win.state.set_cursor(tuple(int(c[len(c) // 2]) for c in np.nonzero(data == 1)))  # a slice with label 1
    m = view.mapping
    sl = m.slice_view(data, view.slice_index)
    rows, cols = np.nonzero(sl == 1)
    assert rows.size
    target = m.from_screen(int(rows[len(rows) // 2]), int(cols[len(cols) // 2]), view.slice_index)
    qtbot.keyClick(win, QtCore.Qt.Key.Key_E)
    win.editing.editor.set_option(brush_mm=1.0)
    click(view, widget_pos(view, target))
    assert data[target] == 0
    qtbot.keyClick(win, QtCore.Qt.Key.Key_F)
    win.editing.editor.set_option(active_label=4, fill_tolerance=1e9)  # whole connected slice
    click(view, widget_pos(view, target))
    assert (m.slice_view(data, view.slice_index) == 4).all()
    assert win.editing.session.history.undo_name().startswith("Fill, label 4")


def test_3d_fill_runs_off_the_gui_thread_and_lands_as_one_undo_step(hippo, qtbot):
    """A 3D fill is computed on a worker thread; while it runs, clicks, undo and redo wait; the result is applied in
    the GUI thread as one undo step, the same region the headless fill gives."""
    import threading

    from viewer.editing import flood_region

    win = hippo
    view = win.grid.views["axial"]
    qtbot.keyClick(win, QtCore.Qt.Key.Key_F)
    ed = win.editing.editor
    ed.set_option(active_label=3, fill_tolerance=15, fill_3d=True)
    target = _center_voxel(view)
    gate, threads = threading.Event(), []
    real_flood = flood_region

    def slow_flood(*a, **k):  # hold the worker until the test has checked the busy state
        threads.append(threading.current_thread())
        gate.wait(10)
        return real_flood(*a, **k)

    import viewer.editing.fill as fill_mod

    fill_mod.flood_region = slow_flood
    try:
        click(view, widget_pos(view, target))
        qtbot.waitUntil(lambda: bool(threads), timeout=5000)
        assert threads[0] is not threading.main_thread()
        assert win.editing.busy == "3D fill" and not win.labelmap.data.any()
        click(view, widget_pos(view, _center_voxel(view, 5, 5)))  # ignored while busy: no second fill starts
        win.editing.undo()
        gate.set()
        qtbot.waitUntil(lambda: win.editing.busy is None, timeout=20000)
    finally:
        fill_mod.flood_region = real_flood
    box, mask = real_flood(ed.image, tuple(int(round(v)) for v in target), 15, None)
    want = np.zeros(win.labelmap.data.shape, bool)
    want[box[0]:box[1], box[2]:box[3], box[4]:box[5]] = mask
    assert np.array_equal(win.labelmap.data == 3, want) and len(threads) == 1
    assert mask.shape[0] > 1  # it did grow through the slices
    h = win.editing.session.history
    assert len(h.undo_stack) == 1 and h.undo_name() == "Fill, label 3, 3D"
    win.editing.undo()
    assert not win.labelmap.data.any()


def test_model_result_dialog_choice_and_menus(hippo, qtbot):
    win = hippo
    ctl = win.editing
    ctl.ensure_session()
    view = win.grid.views["axial"]
    qtbot.keyClick(win, QtCore.Qt.Key.Key_B)
    click(view, widget_pos(view, _center_voxel(view)))
    model = np.zeros(win.study.shape, np.uint8)
    model[:, :5, :5] = 2
    asked = []
    assert ctl.apply_model_result(model, {"plugin": "hippo", "version": "2"}, ask=lambda w: asked.append(1) or "cancel") == "cancel"
    assert asked and not (win.labelmap.data == 2).any()
    ctl.apply_model_result(model, {"plugin": "hippo", "version": "2"}, ask=lambda w: REPLACE)
    assert np.array_equal(win.labelmap.data, model)
    names = [a.text().replace("&", "") for a in win.menuBar().actions()]
    assert "Edit" in names and names.index("Edit") < names.index("Help")
    from viewer.ui.shortcuts_dialog import SHORTCUTS, ShortcutsDialog

    dlg = ShortcutsDialog(win)
    assert dlg.table.rowCount() == len(SHORTCUTS) and any(k == "B" for k, _ in SHORTCUTS)


def test_session_save_and_recovery_offer(hippo, qtbot, tmp_path, shared_data, monkeypatch):
    """Moving to another study with unsaved edits keeps them in their own recovery file (offered at the next start,
    the labels and their provenance intact); recovered labels stay unsaved until saved; a saved session needs no
    recovery; a declined offer deletes that file only."""
    from viewer.editing import find_recoveries

    monkeypatch.setenv("MEDROUTE_RECOVERY_DIR", str(tmp_path / "recovery"))  # other tests' windows leave theirs
    win = hippo
    view = win.grid.views["axial"]
    qtbot.keyClick(win, QtCore.Qt.Key.Key_B)
    click(view, widget_pos(view, _center_voxel(view)))
    edited = win.labelmap.data.copy()
    first_file = win.editing.autosaver.path
    win.open_path(shared_data / "brain_mri" / "images" / "TCGA_CS_5393_19990606_10.png", blocking=True)
    QtWidgets.QApplication.processEvents()
    assert [m["recovery_path"] for m in find_recoveries()] == [str(first_file)]
    assert "kept for recovery" in win.statusBar().currentMessage()
    assert win.editing.offer_recovery(ask=lambda *_: True)
    assert win.study.name.startswith("hippocampus_001")
    assert np.array_equal(win.labelmap.data, edited)
    assert win.editing.session.provenance.source(int(np.nonzero(edited.any(axis=(1, 2)))[0][0])) == "hand"
    # the recovered work now lives in this session's own file, and counts as unsaved
    assert not first_file.exists() and win.editing.autosaver.path.is_file()
    assert win.editing.session_path is None
    win.editing.shutdown()
    assert win.editing.autosaver.path.is_file()  # closing without saving keeps it for the next start
    assert win.editing.save_session(tmp_path / "s.mrsession")
    win.set_labelmap(None)  # saved: nothing to recover
    assert find_recoveries() == []
    assert not win.editing.offer_recovery(ask=lambda *_: pytest.fail("nothing should be offered"))
    # declined: that file is deleted
    win.open_path(shared_data.joinpath(*HIPPO_IMG), blocking=True)
    QtWidgets.QApplication.processEvents()
    qtbot.keyClick(win, QtCore.Qt.Key.Key_B)
    view = win.grid.views["axial"]
    click(view, widget_pos(view, _center_voxel(view)))
    win.set_labelmap(None)
    assert len(find_recoveries()) == 1
    assert not win.editing.offer_recovery(ask=lambda *_: False)
    assert find_recoveries() == []
