"""Fill, polygon, islands, smoothing and interpolation - synthetic exact checks and real images."""

from __future__ import annotations

import numpy as np
import pytest
from tests.conftest import require_data
from tests.editing.editing_helpers import make_session

from viewer.editing import (
    FillTool, PointerEvent, PolygonTool, interpolate_label, keep_largest, remove_small_islands, smooth,
)
from viewer.errors import EditError


def press(tool, z, y, x, axis=0):
    tool.handle(PointerEvent("press", (float(z), float(y), float(x)), axis))
    tool.handle(PointerEvent("release", (float(z), float(y), float(x)), axis))


def test_fill_2d_and_3d_within_tolerance():
    img = np.zeros((4, 30, 30), np.int16)
    img[:, 5:15, 5:15] = 100
    img[1, 8, 8] = 108  # within tolerance 10
    img[1, 9, 9] = 150  # outside
    s = make_session(image=img)
    ed = s.editor
    ed.set_option(fill_tolerance=10, active_label=2)
    press(FillTool(ed), 1, 10, 10)
    exp = np.zeros_like(ed.data, bool)
    exp[1, 5:15, 5:15] = True
    exp[1, 9, 9] = False
    assert np.array_equal(ed.data == 2, exp)
    ed.undo()
    ed.set_option(fill_3d=True)
    press(FillTool(ed), 1, 10, 10)
    exp[:, 5:15, 5:15] = True
    exp[1, 9, 9] = False
    assert np.array_equal(ed.data == 2, exp)
    assert s.history.undo_name() == "Fill, label 2, 3D"


def test_lasso_and_click_polygon(session):
    ed = session.editor
    t = PolygonTool(ed)
    pts = [(10, 10), (10, 30), (25, 30), (25, 10), (10, 10)]
    t.handle(PointerEvent("press", (3.0, *map(float, pts[0])), 0))
    for p in pts[1:]:
        t.handle(PointerEvent("move", (3.0, *map(float, p)), 0))
    t.handle(PointerEvent("release", (3.0, *map(float, pts[-1])), 0))
    exp = np.zeros_like(ed.data, bool)
    exp[3, 10:26, 10:31] = True
    assert np.array_equal(ed.data == 1, exp)
    ed.undo()
    for p in pts[:4]:  # click vertices, double-click closes
        press(t, 5, *p)
    t.handle(PointerEvent("double", (5.0, 25.0, 10.0), 0))
    exp[3] = False
    exp[5, 10:26, 10:31] = True
    assert np.array_equal(ed.data == 1, exp)
    assert session.history.undo_name() == "Polygon, label 1, slice 6"


def test_islands_and_smoothing(session):
    ed = session.editor
    ed.data[2, 5:25, 5:25] = 1
    ed.data[2, 40, 40] = 1  # speck
    ed.data[6, 30:33, 30:33] = 1  # small 3D island
    ed.data[2, 15, 15] = 0  # pinhole
    remove_small_islands(ed, 1, min_voxels=10)
    assert ed.data[2, 40, 40] == 0 and not ed.data[6].any() and ed.data[2, 5, 5] == 1
    ed.undo()
    keep_largest(ed, 1)
    assert (ed.data == 1).sum() == 399
    ed.undo()
    smooth(ed, 1, "closing", 1.0, slice_axis=0)
    assert ed.data[2, 15, 15] == 1
    smooth(ed, 1, "opening", 1.0, slice_axis=0)
    assert ed.data[2, 40, 40] == 0 and ed.data[2, 10, 10] == 1
    with pytest.raises(EditError):
        smooth(ed, 1, "opening", 0.1)


def test_interpolation_of_discs(session):
    ed = session.editor
    yy, xx = np.mgrid[0:50, 0:60]
    ed.paint((0, 1, 0, 50, 0, 60), ((yy - 25) ** 2 + (xx - 30) ** 2 <= 4 ** 2)[None], 1)
    ed.paint((10, 11, 0, 50, 0, 60), ((yy - 25) ** 2 + (xx - 30) ** 2 <= 12 ** 2)[None], 1)
    step = interpolate_label(ed, 1)
    assert step.name == "Interpolate label 1, slices 1-11" and len(step.atoms) == 1
    for k in range(1, 10):
        r = 4 + 8 * k / 10
        area = (ed.data[k] == 1).sum()
        assert abs(area - np.pi * r * r) / (np.pi * r * r) < 0.15
    ed.undo()
    assert not ed.data[1:10].any()
    with pytest.raises(EditError):
        ed.clear_slice(0, 10)
        interpolate_label(ed, 1)


# --- real images ------------------------------------------------------------------------------------------------

def _dice(a, b):
    return 2 * np.logical_and(a, b).sum() / max(a.sum() + b.sum(), 1)


def test_interpolation_on_real_hippocampus():
    from viewer.editing import Session
    from viewer.io import load_labels, open_study

    img = require_data("nifti", "msd_task04_hippocampus", "images", "hippocampus_001.nii.gz")
    lab = require_data("nifti", "msd_task04_hippocampus", "labels", "hippocampus_001.nii.gz")
    study = open_study(img)
    truth = (load_labels(lab, study) == 1)
    s = Session(study)
    ed = s.editor
    zs = np.flatnonzero(truth.reshape(truth.shape[0], -1).any(axis=1))
    keys = list(zs[::3]) + [zs[-1]]
    for z in keys:  # the radiologist draws every third slice by hand
        box = (int(z), int(z) + 1, 0, truth.shape[1], 0, truth.shape[2])
        ed.paint(box, truth[z:z + 1], 1)
    interpolate_label(ed, 1, axis=0)
    gaps = [z for z in zs if z not in keys]
    d = _dice(ed.data[gaps] == 1, truth[gaps])
    assert d > 0.6, d
    assert s.provenance.source(int(keys[0])) == "hand"


def test_fill_and_threshold_paint_on_real_nuclei_image():
    from viewer.editing import Session, ThresholdTool
    from viewer.io import open_study

    d = require_data("nuclei")
    name = sorted(p.name for p in (d / "images").iterdir())[1]
    study = open_study(d / "images" / name)
    mask = open_study(d / "masks" / name).voxels
    truth = (mask[..., 0] if mask.ndim == 4 else mask)[0] > 0
    s = Session(study)
    ed = s.editor
    img = ed.image[0]
    ys, xs = np.nonzero(truth)
    seed = (0, int(ys[len(ys) // 2]), int(xs[len(xs) // 2]))
    ed.set_option(fill_tolerance=float(img[truth].std() * 2 + 5))
    press(FillTool(ed), *seed)
    filled = ed.data[0] == 1
    assert filled[seed[1:]] and filled.sum() > 20
    assert (filled & truth).sum() / filled.sum() > 0.8  # the fill stays on the nuclei
    ed.undo()
    lo = float(np.percentile(img[truth], 5))
    ed.set_option(threshold=(lo, float(img.max())), brush_mm=40.0)
    t = ThresholdTool(ed)
    t.handle(PointerEvent("press", (0.0, float(seed[1]), float(seed[2])), 0))
    t.handle(PointerEvent("release", (0.0, float(seed[1]), float(seed[2])), 0))
    painted = ed.data[0] == 1
    assert painted.any() and np.all(img[painted] >= lo)  # only voxels in the range


def _connected_threshold(arr, seed, lo, hi):
    """The reference: SimpleITK's voxel-by-voxel flood (what flood_region used before), as a full-size mask."""
    import SimpleITK as sitk

    if arr.dtype.kind in "iu":  # the thresholds are cast to the pixel type: keep them in its range
        lo, hi = max(lo, float(np.iinfo(arr.dtype).min)), min(hi, float(np.iinfo(arr.dtype).max))
    out = sitk.ConnectedThreshold(sitk.GetImageFromArray(np.ascontiguousarray(arr)), seedList=[tuple(reversed(seed))],
                                  lower=lo, upper=hi, replaceValue=1)
    return sitk.GetArrayFromImage(out).astype(bool)


@pytest.mark.parametrize("tol", [0, 40, 150])
def test_flood_region_matches_connected_threshold_on_a_real_mr_volume(tol):
    """The vectorised threshold + connected-component fill gives exactly SimpleITK's ConnectedThreshold region, in
    3D and on a slice, on a real T1 volume (uint8 on disk), its int16 and its float32 copies."""
    from viewer.editing import flood_region
    from viewer.io import open_study

    vol = open_study(require_data("nifti", "msd_task04_hippocampus", "images", "hippocampus_001.nii.gz")).voxels
    seed = tuple(s // 2 for s in vol.shape)
    for arr in (vol, vol.astype(np.int16), vol.astype(np.float32)):
        v = float(arr[seed])
        want = _connected_threshold(arr, seed, v - tol, v + tol)
        box, mask = flood_region(arr, seed, tol, None)
        got = np.zeros(arr.shape, bool)
        got[box[0]:box[1], box[2]:box[3], box[4]:box[5]] = mask
        assert np.array_equal(got, want) and want.sum() >= 1
        for axis in range(3):  # 2D fills on the three planes
            sl = np.take(arr, seed[axis], axis=axis)
            local = tuple(seed[a] for a in range(3) if a != axis)
            want2 = _connected_threshold(sl, local, v - tol, v + tol)
            box, mask = flood_region(arr, seed, tol, axis)
            assert box[2 * axis + 1] - box[2 * axis] == 1
            got2 = np.zeros(sl.shape, bool)
            rest = [a for a in range(3) if a != axis]
            got2[box[2 * rest[0]]:box[2 * rest[0] + 1], box[2 * rest[1]]:box[2 * rest[1] + 1]] = np.squeeze(mask, axis)
            assert np.array_equal(got2, want2)


def test_flood_region_integer_bounds_stay_in_the_pixel_type():
    from viewer.editing import flood_region

    img = np.array([[[0, 1, 255, 254, 3]]], np.uint8)
    box, mask = flood_region(img, (0, 0, 2), 1.5, None)  # 253.5..256.5 -> 254..255 in uint8
    assert box == (0, 1, 0, 1, 2, 4) and mask.all()
    box, mask = flood_region(img, (0, 0, 0), 1.0, None)  # -1..1 -> 0..1
    assert box == (0, 1, 0, 1, 0, 2)


def test_the_default_fill_tolerance_follows_small_intensity_units():
    """A real MR volume rescaled to ADC-like units (0..0.003 mm^2/s): the first fill must not flood the slice, and
    it fills the same region as the same click on the original integers with a tolerance scaled the same way."""
    from viewer.io import open_study

    vol = open_study(require_data("nifti", "msd_task04_hippocampus", "images", "hippocampus_001.nii.gz")).voxels.astype(np.float64)
    adc = vol / vol.max() * 0.003
    s = make_session(shape=adc.shape, image=adc)
    tol = s.editor.options.fill_tolerance
    lo, hi = np.percentile(adc, [1, 99])
    assert 0 < tol <= 0.05 * (hi - lo)
    z, y, x = (d // 2 for d in adc.shape)
    press(FillTool(s.editor), z, y, x)
    filled = s.editor.data[z] > 0
    assert 0 < filled.sum() < 0.5 * filled.size
    ref = make_session(shape=vol.shape, image=vol)
    ref.editor.set_option(fill_tolerance=tol * vol.max() / 0.003)
    press(FillTool(ref.editor), z, y, x)
    assert np.array_equal(ref.editor.data[z] > 0, filled)
    assert make_session(image=np.full((3, 20, 20), 1000, np.int16)).editor.options.fill_tolerance == 10.0


def test_smoothing_keeps_to_the_plane_of_a_2d_study_and_to_voxel_centres_on_thick_slices():
    from viewer.io import open_study

    # a real brain mask (one slice) with a 3-pixel slot: closing by 2 mm must fill it as a 2-D closing does
    img = sorted(require_data("brain_mri", "masks").glob("*.png"))
    mask = None
    for p in img:
        m = open_study(p).voxels
        m = (m[..., 0] if m.ndim == 4 else m) > 0
        if m.sum() > 800:
            mask = m
            break
    assert mask is not None
    rows = np.flatnonzero(mask[0].any(axis=1))
    cut = mask.copy()
    mid = (rows[0] + rows[-1]) // 2
    cut[0, mid:mid + 3, :] = False
    s = make_session(shape=cut.shape)
    s.editor.data[...] = cut.astype(np.uint8)
    smooth(s.editor, 1, "closing", 2.0)
    assert s.editor.data[0, mid:mid + 3][mask[0, mid:mid + 3]].mean() > 0.9
    # 6.5 mm slices: a 4 mm opening must not reach the next slice and erase a 2-slice lesion
    thick = make_session(shape=(20, 64, 64), spacing=(0.7, 0.7, 6.5))
    zz, yy, xx = np.mgrid[:20, :64, :64]
    lesion = ((zz == 10) | (zz == 11)) & (((yy - 32) * 0.7) ** 2 / 100 + ((xx - 32) * 0.7) ** 2 / 64 < 1)
    thick.editor.data[lesion] = 1
    smooth(thick.editor, 1, "opening", 4.0)
    assert (thick.editor.data == 1).sum() > 0.9 * lesion.sum()


def test_interpolated_slices_are_not_key_slices_and_are_redone():
    s = make_session(shape=(16, 40, 40))
    ed = s.editor
    def disc(z, r):
        yy, xx = np.mgrid[:40, :40]
        m = ((yy - 20) ** 2 + (xx - 20) ** 2) <= r * r
        ed.paint((z, z + 1, 0, 40, 0, 40), m[None], 1)  # a hand edit (no origin)

    disc(3, 10)
    disc(10, 10)
    interpolate_label(ed, 1)
    assert [s.provenance.source(z) for z in (3, 6, 10)] == ["hand", "interpolated", "hand"]
    big = int((ed.data[6] == 1).sum())
    ed.paint((10, 11, 0, 40, 0, 40), (ed.data[10:11] == 1), 0)  # the user shrinks key slice 10 ...
    disc(10, 3)
    interpolate_label(ed, 1)  # ... and interpolates again: the gap follows the corrected key slice
    assert int((ed.data[6] == 1).sum()) < big
    assert s.provenance.source(6) == "interpolated"
