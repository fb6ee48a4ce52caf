"""Window/level and tool-panel boxes on float studies in small units: the boxes show the real values, an arrow
step moves by a fraction of the intensity span, and editing one box keeps the exact value of the other."""

from __future__ import annotations

import numpy as np
import pytest
from tests.ui.ui_helpers import HIPPO_IMG


def _float_study(window, shared_data, tmp_path, scale):
    """MSD hippocampus_001 rescaled to 0..``scale`` float32 (ADC-like for 0.003 mm^2/s), opened in the window."""
    import nibabel as nib

    src = nib.load(str(shared_data.joinpath(*HIPPO_IMG)))
    a = np.asarray(src.dataobj).astype(np.float32)
    a = (a - a.min()) / (a.max() - a.min()) * scale
    p = tmp_path / f"hippo_0_{scale}.nii.gz"
    nib.save(nib.Nifti1Image(a, src.affine), str(p))
    window.open_path(p, blocking=True)
    return window


def test_adc_boxes_show_values_and_a_level_step_keeps_the_image(window, shared_data, tmp_path):
    win = _float_study(window, shared_data, tmp_path, 0.003)
    wl = win.wl_panel
    w0, c0 = win.state.window
    assert 0 < w0 < 0.003
    for box, v in ((wl.width_box, w0), (wl.center_box, c0)):
        assert box.decimals() >= 5 and box.value() == pytest.approx(v, abs=10 ** -box.decimals())
        assert float(box.text().split()[1]) > 0  # not "W 0.0 / L 0.0"
    assert 0 < wl.width_box.minimum() <= 1e-5 and wl.center_box.singleStep() <= 1e-4
    wl.center_box.stepUp()  # one arrow click on the level box
    w1, c1 = win.state.window
    assert w1 == pytest.approx(w0, rel=1e-9)  # the width did not collapse to the box minimum
    assert c1 == pytest.approx(c0 + wl.center_box.singleStep(), abs=10 ** -wl.center_box.decimals())
    shown = win.grid.views["axial"].image_item.image
    assert len(np.unique(shown)) > 50  # still an image, not all black


def test_unit_range_editing_level_keeps_the_exact_width(window, shared_data, tmp_path):
    win = _float_study(window, shared_data, tmp_path, 1.0)
    wl = win.wl_panel
    w0, _ = win.state.window
    assert wl.width_box.text() == f"W {w0:.{wl.width_box.decimals()}f}" and wl.width_box.decimals() >= 3
    wl.center_box.setValue(0.3)
    w1, c1 = win.state.window
    assert w1 == pytest.approx(w0, rel=1e-9) and c1 == pytest.approx(0.3)  # was 0.744 -> 0.7 before
    wl.width_box.setValue(0.05)
    assert win.state.window == pytest.approx((0.05, 0.3)) and wl.width_box.text() == "W 0.050"


def test_fill_tolerance_and_threshold_boxes_follow_the_study_units(window, shared_data, tmp_path):
    win = _float_study(window, shared_data, tmp_path, 0.003)
    ed = win.editing.editor  # starts the editing session on an empty label map
    panel = win.editing.panel
    for box in (panel.tol, panel.th_lo, panel.th_hi):
        assert box.decimals() >= 5 and box.singleStep() <= 1e-4
    panel.tol.setValue(0.0004)
    assert ed.options.fill_tolerance == pytest.approx(0.0004)
    lo0, hi0 = ed.options.threshold
    assert float(panel.th_lo.text()) == pytest.approx(lo0, abs=1e-5) and lo0 > 0
    panel.th_hi.setValue(0.0029)
    assert ed.options.threshold == (lo0, pytest.approx(0.0029))  # the low bound kept its exact value


def test_integer_study_boxes_stay_as_they_were(window, shared_data):
    window.open_path(shared_data.joinpath(*HIPPO_IMG), blocking=True)
    wl = window.wl_panel
    assert wl.width_box.decimals() == 1 and wl.width_box.singleStep() == 1.0  # 0..~120 intensities
