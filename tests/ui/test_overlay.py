"""Label overlay over a real NIfTI volume: colours where the mask is and nowhere else, toggles, refresh."""

from __future__ import annotations

import numpy as np
import pytest
from tests.ui.ui_helpers import HIPPO_IMG, HIPPO_LAB, HIPPO_OTHER_LAB, grab_view, widget_pos

from viewer.errors import MedRouteError


@pytest.fixture
def labelled(window, shared_data):
    window.open_path(shared_data.joinpath(*HIPPO_IMG), labels=str(shared_data.joinpath(*HIPPO_LAB)), blocking=True)
    lm = window.labelmap
    assert lm is not None and lm.table.values == [1, 2]
    # Put the cursor in the middle of label 1, full opacity, crosshair off: colours are exact.
    z, y, x = np.argwhere(lm.data == 1).mean(axis=0).round().astype(int)
    if lm.data[z, y, x] != 1:
        z, y, x = np.argwhere(lm.data == 1)[0]
    window.state.set_cursor((z, y, x))
    window.state.set_overlay(opacity=1.0)
    for v in window.grid.views.values():
        v.set_crosshair_visible(False)
    return window


def _is_colour(px, rgb, tol=40):
    return all(abs(int(a) - int(b)) <= tol for a, b in zip(px, rgb))


def _check_plane(win, plane):
    view = win.grid.views[plane]
    lm = win.labelmap
    img = grab_view(view)
    m = view.mapping
    lab_slice = m.slice_view(lm.data, view.slice_index)
    red = lm.table[1].color
    hits = misses = 0
    for (r, c), v in np.ndenumerate(lab_slice):
        if r % 2 or c % 2:
            continue
        p = widget_pos(view, m.from_screen(r, c, view.slice_index))
        px = img[p.y(), p.x()]
        if v == 1:
            hits += _is_colour(px, red)
        elif v == 0:
            misses += _is_colour(px, red)
    assert hits > 5, f"{plane}: label 1 colour missing where the mask is"
    assert misses == 0, f"{plane}: label colour drawn where there is no label"
    return img


@pytest.mark.parametrize("plane", ["axial", "coronal", "sagittal"])
def test_label_colour_exactly_where_mask_is(labelled, plane):
    _check_plane(labelled, plane)


def test_toggle_overlay_outline_and_label_visibility(labelled):
    win = labelled
    view = win.grid.views["sagittal"]
    red = np.array(win.labelmap.table[1].color)

    def n_red():
        img = grab_view(view).astype(int)
        return int((np.abs(img - red).max(axis=-1) < 40).sum())

    filled = n_red()
    assert filled > 50
    win.label_panel.mode_box.setCurrentIndex(1)  # outline
    assert win.state.overlay_mode == "outline"
    outline = n_red()
    assert 0 < outline < filled
    win.label_panel.mode_box.setCurrentIndex(0)
    win.label_panel.show_box.setChecked(False)
    assert n_red() == 0
    win.label_panel.show_box.setChecked(True)
    assert n_red() == filled
    # Hide label 1 through the table's check box.
    item = win.label_panel.table.item(0, 0)
    from PySide6 import QtCore

    item.setCheckState(QtCore.Qt.CheckState.Unchecked)
    assert win.labelmap.table[1].visible is False
    assert n_red() == 0
    win.labelmap.table.set(1, visible=True, color=(0, 0, 255))
    blue = grab_view(view).astype(int)
    assert int((np.abs(blue - np.array([0, 0, 255])).max(axis=-1) < 40).sum()) > 50
    win.label_panel.opacity.setValue(0)
    assert int((np.abs(grab_view(view).astype(int) - np.array([0, 0, 255])).max(axis=-1) < 40).sum()) == 0


def test_overlay_refreshes_only_views_crossing_the_change(labelled, monkeypatch):
    win = labelled
    lm = win.labelmap
    calls = {p: 0 for p in win.grid.views}
    for p, v in win.grid.views.items():
        orig = v.refresh_overlay
        monkeypatch.setattr(v, "refresh_overlay", lambda orig=orig, p=p: (calls.__setitem__(p, calls[p] + 1), orig()))
        patch = v._patch_overlay  # the dirty-rectangle refresh (editing's brush-dab path) counts as a refresh too
        monkeypatch.setattr(v, "_patch_overlay",
                            lambda bbox, patch=patch, p=p: calls.__setitem__(p, calls[p] + 1) or patch(bbox))
    z, y, x = win.state.cursor
    other_z = 0 if z > 2 else lm.shape[0] - 1
    lm.data[other_z, :2, :2] = 2
    lm.notify((other_z, other_z + 1, 0, 2, 0, 2))
    ax = win.grid.views["axial"]
    plane_of_z = [p for p, v in win.grid.views.items() if v.mapping.normal_axis == 0][0]
    assert calls[plane_of_z] == 0  # that view shows another slice: untouched
    lm.data[z, y, x] = 3
    lm.notify((z, z + 1, y, y + 1, x, x + 1))
    assert all(c == 1 for c in calls.values())  # the cursor voxel is on every view
    assert 3 in lm.table  # new value got a table entry
    assert ax is win.grid.views["axial"]


def test_labels_on_another_grid_are_refused(window, shared_data):
    window.open_path(shared_data.joinpath(*HIPPO_IMG), blocking=True)
    with pytest.raises(MedRouteError) as e:
        window.load_labels(shared_data.joinpath(*HIPPO_OTHER_LAB), raise_errors=True)
    assert "study" in str(e.value)
    assert not window.load_labels(shared_data.joinpath(*HIPPO_OTHER_LAB))
    assert window.errors and window.labelmap is None


def test_status_readout_names_label(labelled):
    text = labelled.readout_text(labelled.state.cursor)
    assert "label 1 Label 1" in text and "LPS mm" in text and "value" in text
