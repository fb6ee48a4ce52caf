"""Polygon vertices snap to the nearest voxel centre (a click just below a centre must not lose a row/column)."""

from __future__ import annotations

import numpy as np
import pytest
from tests.editing.editing_helpers import make_session

from viewer.editing import PointerEvent, PolygonTool, polygon_mask


@pytest.mark.parametrize("jitter", [-0.03, 0.0, 0.03, 0.45, -0.45])
def test_fractional_vertices_round_to_voxel_centres(jitter):
    # the clicked positions of a 21 x 16 rectangle, off-centre as a mouse gives them
    j = jitter
    pts = [(15 + j, 10 - j), (15 + j, 25 + j), (35 - j, 25 - j), (35 + j, 10 + j)]
    (r0, r1, c0, c1), m = polygon_mask(pts, 50, 60)
    assert (r0, r1, c0, c1) == (15, 36, 10, 26)
    assert m.all() and m.sum() == 21 * 16


def test_polygon_tool_with_mouse_like_vertices_paints_the_clicked_rectangle():
    s = make_session()
    ed = s.editor
    t = PolygonTool(ed)
    for y, x in [(15.03, 10.02), (15.03, 24.98), (34.97, 24.98), (34.97, 10.02)]:  # as the viewer measured them
        t.handle(PointerEvent("press", (4.0, y, x), 0))
        t.handle(PointerEvent("release", (4.0, y, x), 0))
    t.handle(PointerEvent("double", (4.0, 34.97, 10.02), 0))
    exp = np.zeros_like(ed.data, bool)
    exp[4, 15:36, 10:26] = True
    assert np.array_equal(ed.data == 1, exp)
