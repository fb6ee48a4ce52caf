"""Panels follow the model when something else changes it: the Labels dock overlay controls follow the O key and
the tool bar; the info pane and the Editing panel follow the label table (model result, painting, rename)."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6 import QtCore, QtWidgets
from tests.ui.ui_helpers import HIPPO_IMG, HIPPO_LAB, drag, widget_pos

from viewer.io import open_study
from viewer.model.labels import LabelMap


@pytest.fixture
def hippo(window, shared_data):
    window.open_path(shared_data.joinpath(*HIPPO_IMG), blocking=True)
    QtWidgets.QApplication.processEvents()
    return window


def _labels_row(win) -> str:
    lines = win.grid.info.text.toPlainText().splitlines()
    return lines[lines.index("Labels") + 1] if "Labels" in lines else ""


def test_overlay_controls_follow_the_o_key_and_the_toolbar(hippo, qtbot):
    win, panel = hippo, hippo.label_panel
    assert panel.show_box.isChecked()
    qtbot.keyClick(win, QtCore.Qt.Key.Key_O)
    assert not win.state.overlay_visible and not panel.show_box.isChecked()
    panel.show_box.click()  # one click turns it back on (the box was not left stale and checked)
    assert win.state.overlay_visible and panel.show_box.isChecked()
    overlay_action = next(a for tb in win.findChildren(QtWidgets.QToolBar) for a in tb.actions()
                          if a.shortcut().toString() == "O")
    overlay_action.trigger()
    assert not win.state.overlay_visible and not panel.show_box.isChecked()
    win.state.set_overlay(mode="outline", opacity=0.2)
    assert panel.mode_box.currentText() == "Outline" and panel.opacity.value() == 20
    assert win.state.overlay_mode == "outline" and win.state.overlay_opacity == 0.2  # nothing echoed back


def test_info_pane_and_editing_panel_follow_a_model_result_and_a_rename(hippo, shared_data):
    win = hippo
    win.set_labelmap(LabelMap.empty_like(win.study))  # what the Segment action does before applying its result
    assert _labels_row(win) == "none"
    labels = open_study(shared_data.joinpath(*HIPPO_LAB)).voxels.astype(np.uint8)
    win.editing.apply_model_result(labels, {"plugin": "hippocampus", "version": "1.0"},
                                   names={1: "anterior", 2: "posterior"})
    QtWidgets.QApplication.processEvents()
    assert int((win.labelmap.data == 1).sum()) == int((labels == 1).sum()) > 0
    assert _labels_row(win) == "1: anterior, 2: posterior"
    panel = win.editing.panel
    assert panel.label_spin.value() == 1 and panel.label_name.text() == "anterior"
    win.labelmap.table.set(1, name="Anterior hippocampus")  # a rename in the Labels dock
    assert _labels_row(win) == "1: Anterior hippocampus, 2: posterior"
    assert panel.label_name.text() == "Anterior hippocampus"


def test_info_pane_lists_a_label_painted_by_hand(hippo, qtbot):
    win = hippo
    qtbot.keyClick(win, QtCore.Qt.Key.Key_B)
    qtbot.keyClick(win, QtCore.Qt.Key.Key_4)
    view = win.grid.views["axial"]
    m = view.mapping
    a, b = (m.from_screen(m.n_rows // 2 + d, m.n_cols // 2 + d, view.slice_index) for d in (-5, 5))
    drag(view, widget_pos(view, a), widget_pos(view, b), steps=3)
    assert int((win.labelmap.data == 4).sum()) > 0
    assert _labels_row(win).startswith("4: ")
    assert win.editing.panel.label_name.text() == win.labelmap.table.name_of(4) != ""
