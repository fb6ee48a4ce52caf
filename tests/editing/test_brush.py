"""Brush / eraser / threshold paint driven by synthetic pointer events, no Qt: exact voxels changed."""

from __future__ import annotations

import numpy as np

from viewer.editing import BrushTool, EraserTool, PointerEvent, ThresholdTool, capsule_mask

from tests.editing.editing_helpers import make_session


def ev(kind, z, y, x, axis=0, mods=()):
    return PointerEvent(kind, (float(z), float(y), float(x)), axis, frozenset(mods))


def expected_disc(shape, z, cy, cx, r_mm, sy=1.0, sx=1.0):
    yy, xx = np.mgrid[0:shape[1], 0:shape[2]]
    out = np.zeros(shape, bool)
    out[z] = ((yy - cy) * sy) ** 2 + ((xx - cx) * sx) ** 2 <= r_mm ** 2 + 1e-9
    return out


def test_single_dab_paints_exactly_the_disc(session):
    ed = session.editor
    ed.set_option(brush_mm=7.0, active_label=2)
    t = BrushTool(ed)
    t.press(ev("press", 4, 20, 30))
    t.release(ev("release", 4, 20, 30))
    assert np.array_equal(ed.data == 2, expected_disc(ed.data.shape, 4, 20, 30, 3.5))
    assert ed.data.max() == 2 and len(session.history.undo_stack) == 1
    assert session.history.undo_name() == "Brush, label 2, slice 5"


def test_brush_size_is_in_millimetres_on_anisotropic_voxels():
    s = make_session(spacing=(2.0, 0.5, 3.0))  # sx=2 mm, sy=0.5 mm
    ed = s.editor
    ed.set_option(brush_mm=8.0)
    BrushTool(ed).handle(ev("press", 3, 25, 30))
    assert np.array_equal(ed.data == 1, expected_disc(ed.data.shape, 3, 25, 30, 4.0, sy=0.5, sx=2.0))
    ys, xs = np.nonzero(ed.data[3])
    assert (ys.max() - ys.min(), xs.max() - xs.min()) == (16, 4)  # 8 mm across: 16 rows of 0.5 mm, 4 cols of 2 mm


def test_fast_stroke_leaves_no_gaps(session):
    ed = session.editor
    ed.set_option(brush_mm=2.0)
    t = BrushTool(ed)
    t.press(ev("press", 2, 10, 2))
    t.move(ev("move", 2, 40, 55))  # one huge jump between two pointer events
    t.release(ev("release", 2, 40, 55))
    assert ed.data[2, 10, 2] == 1 and ed.data[2, 40, 55] == 1
    # every sample along the segment lies on a painted voxel, and the stroke is one 8-connected piece
    for s in np.linspace(0, 1, 400):
        assert ed.data[2, int(round(10 + 30 * s)), int(round(2 + 53 * s))] == 1
    import SimpleITK as sitk

    cc = sitk.GetArrayFromImage(sitk.ConnectedComponent(sitk.GetImageFromArray(ed.data[2]), True))
    assert cc.max() == 1
    assert len(session.history.undo_stack) == 1


def test_2d_stroke_stays_on_its_slice_and_3d_paints_a_sphere(session):
    ed = session.editor
    ed.set_option(brush_mm=5.0)
    t = BrushTool(ed)
    t.press(ev("press", 5, 20, 20))
    t.move(ev("move", 7, 20, 30))  # the 2D brush ignores the slice change during a stroke
    t.release(ev("release", 7, 20, 30))
    assert set(np.nonzero(ed.data.any(axis=(1, 2)))[0]) == {5}
    ed.undo()
    ed.set_option(brush_3d=True)
    t.press(ev("press", 5, 20, 20))
    t.release(ev("release", 5, 20, 20))
    zz, yy, xx = np.mgrid[0:12, 0:50, 0:60]
    sphere = (zz - 5) ** 2 + (yy - 20) ** 2 + (xx - 20) ** 2 <= 6.25 + 1e-9
    assert np.array_equal(ed.data == 1, sphere)
    assert session.history.undo_name() == "Brush, label 1, 3D"


def test_brush_on_other_planes_uses_the_event_axis(session):
    ed = session.editor
    ed.set_option(brush_mm=3.0)
    t = BrushTool(ed)
    t.press(PointerEvent("press", (6.0, 25.0, 30.0), axis=2))  # sagittal-like: slice x = 30
    t.release(PointerEvent("release", (6.0, 25.0, 30.0), axis=2))
    assert set(np.nonzero(ed.data.any(axis=(0, 1)))[0]) == {30}
    assert ed.data[5:8, 24:27, 30].all() and ed.data.sum() == 9


def test_eraser_shift_and_preserve_other_labels(session):
    ed = session.editor
    ed.data[3, 10:30, 10:30] = 5
    ed.set_option(brush_mm=9.0, active_label=1, preserve_others=True)
    t = BrushTool(ed)
    t.press(ev("press", 3, 10, 10))
    t.release(ev("release", 3, 10, 10))
    assert np.all(ed.data[3, 10:30, 10:30] == 5)  # label 5 untouched
    assert (ed.data == 1).sum() > 0 and (ed.data[3, :10, :10] == 1).any()
    e = EraserTool(ed)
    e.press(ev("press", 3, 12, 12))
    e.release(ev("release", 3, 12, 12))
    assert np.all(ed.data[3, 10:30, 10:30] == 5)  # preserve: the eraser only removes the active label
    assert session.history.undo_name().startswith("Eraser, label 1")
    ed.set_option(preserve_others=False)
    t.press(ev("press", 3, 20, 20, mods={"shift"}))  # Shift+brush erases anything
    t.release(ev("release", 3, 20, 20))
    assert ed.data[3, 20, 20] == 0


def test_threshold_paint_only_paints_voxels_in_range():
    img = np.zeros((3, 40, 40), np.int16)
    img[1, :, 20:] = 100
    img[1, 5:8, 25:28] = 300
    s = make_session(image=img)
    ed = s.editor
    ed.set_option(brush_mm=30.0, threshold=(50, 150))
    t = ThresholdTool(ed)
    t.press(ev("press", 1, 20, 20))
    t.release(ev("release", 1, 20, 20))
    painted = ed.data[1] == 1
    disc = expected_disc((3, 40, 40), 1, 20, 20, 15)[1]
    assert np.array_equal(painted, disc & (img[1] >= 50) & (img[1] <= 150))
    assert s.history.undo_name().startswith("Threshold paint, label 1")


def test_capsule_clips_at_volume_edges():
    box, m = capsule_mask((0, 0, 0), (0, 0, 0), 3.0, (1, 1, 1), 0, (4, 10, 10))
    assert box == (0, 1, 0, 4, 0, 4) and m.sum() == 11  # quarter disc of radius 3 (incl. axes)
