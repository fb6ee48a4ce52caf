"""Polygon / lasso tool in the real window: the vertices placed so far and a rubber band to the mouse are drawn
while placing; the band goes away when the polygon is closed, cancelled or the slice changes; clicks on voxel
centres fill exactly the clicked rectangle."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6 import QtCore, QtWidgets
from tests.ui.ui_helpers import HIPPO_IMG, click, grab_view, send_mouse, widget_pos

T = QtCore.QEvent.Type
L, NONE = QtCore.Qt.MouseButton.LeftButton, QtCore.Qt.MouseButton.NoButton
BAND = (255, 220, 60)


@pytest.fixture
def poly(window, shared_data):
    window.open_path(shared_data.joinpath(*HIPPO_IMG), blocking=True)
    window.state.set_layout("1x1")
    QtWidgets.QApplication.processEvents()
    window.grid.fit_all()
    for v in window.grid.views.values():
        v.set_crosshair_visible(False)
    window.editing.set_tool("polygon")
    return window


def _band_pixels(view) -> int:
    img = grab_view(view).astype(int)
    return int((np.abs(img - np.array(BAND)).max(axis=-1) <= 30).sum())


def _n_points(band) -> int:
    x = band.getData()[0]
    return 0 if x is None else len(x)


def _hover(view, voxel):
    send_mouse(view.graphics.viewport(), T.MouseMove, widget_pos(view, voxel), NONE, NONE)
    QtWidgets.QApplication.processEvents()


def test_polygon_is_drawn_while_placing_and_fills_the_clicked_rectangle(poly):
    win = poly
    ax = win.grid.views["axial"]
    z = win.state.cursor[0]
    corners = [(z, 15, 10), (z, 15, 25), (z, 35, 25), (z, 35, 10)]
    assert _band_pixels(ax) == 0
    for v in corners[:3]:
        click(ax, widget_pos(ax, v))
    _hover(ax, (z, 30, 12))
    x, y = win.editing.bands["axial"].getData()
    want = [ax.view_pos_of(v) for v in (*corners[:3], (z, 30, 12))]
    assert len(x) == 4
    assert np.allclose(np.c_[x, y], [(p.x(), p.y()) for p in want], atol=0.1)  # vertices + segment to the mouse
    assert _band_pixels(ax) > 30  # and it is on screen
    p = widget_pos(ax, corners[3])
    vp = ax.graphics.viewport()
    click(ax, p)
    send_mouse(vp, T.MouseButtonDblClick, p, L, L)
    send_mouse(vp, T.MouseButtonRelease, p, L, NONE)
    QtWidgets.QApplication.processEvents()
    assert _n_points(win.editing.bands["axial"]) == 0 and _band_pixels(ax) == 0
    nz = np.argwhere(win.labelmap.data)
    assert (nz[:, 1].min(), nz[:, 1].max(), nz[:, 2].min(), nz[:, 2].max()) == (15, 35, 10, 25)
    assert len(nz) == 21 * 16


@pytest.mark.parametrize("how", ["tool change", "slice change"])
def test_band_cleared_when_the_polygon_is_abandoned(poly, how):
    win = poly
    ax = win.grid.views["axial"]
    z = win.state.cursor[0]
    for v in [(z, 15, 10), (z, 15, 25)]:
        click(ax, widget_pos(ax, v))
    _hover(ax, (z, 30, 20))
    assert _n_points(win.editing.bands["axial"]) == 3
    if how == "tool change":
        win.editing.set_tool("brush")
    else:
        win.state.set_cursor((z + 1, *win.state.cursor[1:]))
        assert win.editing.tool.points == []  # a polygon is not carried to another slice
    QtWidgets.QApplication.processEvents()
    assert all(_n_points(b) == 0 for b in win.editing.bands.values())
    assert _band_pixels(ax) == 0
