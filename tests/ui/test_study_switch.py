"""Moving between studies in the real window: unsaved edits are asked about (Save session... / Discard / Cancel) on
every path that replaces them, nothing of the previous study stays in the editing panel, loaded labels are
protected, crash recovery says which study it did not open, and deleting a label leaves an existing one active."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6 import QtCore, QtGui, QtWidgets
from tests.ui.ui_helpers import HIPPO_IMG, HIPPO_LAB, PGBM, click, widget_pos

from viewer.editing import find_recoveries

PNG = ("brain_mri", "images", "TCGA_CS_5393_19990606_10.png")


@pytest.fixture
def hippo(window, shared_data, tmp_path, monkeypatch):
    monkeypatch.setenv("MEDROUTE_RECOVERY_DIR", str(tmp_path / "recovery"))  # other tests' windows leave theirs
    window.open_path(shared_data.joinpath(*HIPPO_IMG), blocking=True)
    QtWidgets.QApplication.processEvents()
    return window


def _edit(win, qtbot, d: int = 0) -> np.ndarray:
    """One brush dab near the centre of the axial view; returns the labels after it."""
    qtbot.keyClick(win, QtCore.Qt.Key.Key_B)
    view = win.grid.views["axial"]
    m = view.mapping
    click(view, widget_pos(view, m.from_screen(m.n_rows // 2 + d, m.n_cols // 2 + d, view.slice_index)))
    assert win.labelmap.data.any() and win.editing.unsaved
    return win.labelmap.data.copy()


def _answer(monkeypatch, choice: str) -> list:
    import viewer.ui.editing_prompts as prompts

    asked = []
    monkeypatch.setattr(prompts, "ask_save_changes", lambda parent, name: asked.append(name) or choice)
    return asked


def _file_action(win, text: str) -> QtGui.QAction:
    return next(a for a in win.menuBar().actions()[0].menu().actions() if a.text().replace("&", "") == text)


def _drop(win, path) -> None:
    mime = QtCore.QMimeData()
    mime.setUrls([QtCore.QUrl.fromLocalFile(str(path))])
    win.dropEvent(QtGui.QDropEvent(QtCore.QPointF(20, 20), QtCore.Qt.DropAction.CopyAction, mime,
                                   QtCore.Qt.MouseButton.NoButton, QtCore.Qt.KeyboardModifier.NoModifier))


class _UserClose(QtGui.QCloseEvent):  # what the window manager sends when the user clicks the close button
    def spontaneous(self) -> bool:
        return True


def test_every_path_that_replaces_unsaved_edits_asks_and_cancel_keeps_them(hippo, qtbot, shared_data, tmp_path,
                                                                          monkeypatch):
    win = hippo
    other, labels = shared_data.joinpath(*PNG), shared_data.joinpath(*HIPPO_LAB)
    saved = tmp_path / "earlier.mrsession"
    edited = _edit(win, qtbot)
    assert win.editing.save_session(saved)
    edited = _edit(win, qtbot, 8)  # unsaved again
    asked = _answer(monkeypatch, "cancel")
    picked = {"open": str(other), "folder": str(shared_data.joinpath(*PGBM))}
    monkeypatch.setattr(QtWidgets.QFileDialog, "getOpenFileName", lambda *a, **k: (picked["open"], ""))
    monkeypatch.setattr(QtWidgets.QFileDialog, "getExistingDirectory", lambda *a, **k: picked["folder"])
    win.settings.add_recent(str(other))
    win.actions_.refresh_recent()
    paths = {
        "Open file...": lambda: _file_action(win, "Open file...").trigger(),
        "Open folder...": lambda: _file_action(win, "Open folder...").trigger(),
        "Recent studies": lambda: win.actions_.recent_menu.actions()[0].trigger(),
        "drop": lambda: _drop(win, other),
        "Open labels...": lambda: (picked.update(open=str(labels)), _file_action(win, "Open labels...").trigger()),
        "Open session...": lambda: (picked.update(open=str(saved)), _file_action(win, "Open session...").trigger()),
        "Quit": lambda: _file_action(win, "Quit").trigger(),
    }
    for n, (name, go) in enumerate(paths.items(), 1):
        go()
        qtbot.wait(50)
        assert len(asked) == n, f"{name} did not ask"
        assert win.isVisible() and win.study.name.startswith("hippocampus_001"), name
        assert np.array_equal(win.labelmap.data, edited) and win.editing.unsaved, name
    ev = _UserClose()
    win.closeEvent(ev)  # the window's close button
    assert len(asked) == len(paths) + 1 and not ev.isAccepted()
    assert np.array_equal(win.labelmap.data, edited)


@pytest.mark.parametrize("choice", ["discard", "save"])
def test_discard_or_save_then_the_new_study_opens(hippo, qtbot, shared_data, tmp_path, monkeypatch, choice):
    from viewer.editing import Session

    win = hippo
    other = shared_data.joinpath(*PNG)
    edited = _edit(win, qtbot)
    asked = _answer(monkeypatch, choice)
    target = tmp_path / "mine.mrsession"
    monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    monkeypatch.setattr(QtWidgets.QFileDialog, "getOpenFileName", lambda *a, **k: (str(other), ""))
    with qtbot.waitSignal(win.sigStudyLoaded, timeout=30000):
        _file_action(win, "Open file...").trigger()
    assert len(asked) == 1 and asked[0].startswith("hippocampus_001")
    assert win.study.name.startswith("TCGA_CS_5393") and win.labelmap is None and win.editing.session is None
    assert find_recoveries() == []  # saved or discarded: nothing is offered at the next start
    if choice == "save":
        assert np.array_equal(Session.load(target).labelmap.data, edited)
    else:
        assert not target.exists()
    _file_action(win, "Open file...").trigger()  # nothing unsaved now: no question
    qtbot.waitUntil(lambda: not win._workers, timeout=30000)
    assert len(asked) == 1


def test_a_study_without_labels_clears_the_editing_panel(hippo, shared_data):
    win = hippo
    win.load_labels(shared_data.joinpath(*HIPPO_LAB))
    panel = win.editing.panel
    panel.refresh_stats()
    assert panel.stats.rowCount() == 2 and panel.label_name.text() and "Slices:" in panel.provenance.text()
    win.open_path(shared_data.joinpath(*PGBM), blocking=True)
    QtWidgets.QApplication.processEvents()
    assert win.labelmap is None and win.editing.session is None
    assert panel.stats.rowCount() == 0 and panel.provenance.text() == "" and panel.label_name.text() == ""
    lo, hi = win.state.levels  # the threshold boxes show this study's default, as a new session will use
    assert panel.th_lo.value() == pytest.approx(lo + 0.5 * (hi - lo), abs=0.1)
    assert panel.th_hi.value() == pytest.approx(hi, abs=0.1)
    assert win.editing.session is None  # clearing the panel did not start a session


def test_loaded_and_restored_labels_are_protected_from_a_model_result(hippo, shared_data, tmp_path):
    from viewer.editing import Session
    from viewer.model.labels import LabelMap

    win = hippo
    win.load_labels(shared_data.joinpath(*HIPPO_LAB))
    expert = win.labelmap.data.copy()
    labelled = np.flatnonzero(expert.any(axis=(1, 2)))
    assert {win.editing.session.provenance.source(int(z)) for z in labelled} == {"file"}
    win.editing.panel.refresh_stats()
    assert f"{len(labelled)} from a label file" in win.editing.panel.provenance.text()
    model = np.zeros_like(expert)
    asked = []
    assert win.editing.apply_model_result(model, {"plugin": "m", "version": "1"},
                                          ask=lambda w: asked.append(1) or "cancel") == "cancel"
    assert asked and np.array_equal(win.labelmap.data, expert)
    # a session that does not say where its labels came from (saved before provenance existed): the same
    old = tmp_path / "old.mrsession"
    Session(win.study, LabelMap(expert.copy(), win.study.geometry)).save(old)
    assert win.editing.open_session(old)
    assert {win.editing.session.provenance.source(int(z)) for z in labelled} == {"file"}
    assert win.editing.apply_model_result(model, {"plugin": "m", "version": "1"},
                                          ask=lambda w: asked.append(2) or "cancel") == "cancel"
    assert asked == [1, 2] and np.array_equal(win.labelmap.data, expert)


def test_recovery_at_start_says_which_study_it_did_not_open(hippo, qtbot, shared_data, monkeypatch):
    import viewer.ui.editing_prompts as prompts
    from viewer.ui.app import open_at_start

    win = hippo
    edited = _edit(win, qtbot)
    win.set_labelmap(None)  # as if MedRoute had stopped: the edits are in the recovery file
    assert len(find_recoveries()) == 1
    monkeypatch.setattr(prompts, "ask_recover", lambda parent, meta: True)
    pgbm = shared_data.joinpath(*PGBM)
    open_at_start(win, str(pgbm), named=True)
    assert win.study.name.startswith("hippocampus_001") and np.array_equal(win.labelmap.data, edited)
    msg = win.statusBar().currentMessage()
    assert "Recovered unsaved edits on hippocampus_001" in msg and f"{pgbm.name} was not opened" in msg


def test_delete_label_leaves_an_existing_label_active(hippo, shared_data):
    win = hippo
    win.load_labels(shared_data.joinpath(*HIPPO_LAB))
    panel = win.editing.panel
    delete = next(b for b in panel.findChildren(QtWidgets.QPushButton) if b.text() == "Delete label")
    win.editing.set_active_label(1)
    delete.click()
    assert win.labelmap.table.values == [2] and not (win.labelmap.data == 1).any()
    assert win.editing.editor.options.active_label == 2 and panel.label_spin.value() == 2
    delete.click()
    assert not win.labelmap.data.any() and win.editing.editor.options.active_label == 1  # none left: label 1
