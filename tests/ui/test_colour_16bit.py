"""A 16-bit RGB TIFF (a real endoscopy frame scaled to 0..65535) shows in colour, all three channels windowed."""

from __future__ import annotations

import numpy as np
from PySide6 import QtWidgets
from tests.ui.ui_helpers import grab_view

from viewer.model.view_state import percentile_levels
from viewer.ui._display import Windowing


def test_uint16_rgb_tiff_shows_in_colour(window, shared_data, tmp_path):
    import tifffile
    from PIL import Image

    rgb8 = np.array(Image.open(shared_data / "polyp" / "images" / "cvcclinicdb_0001.png").convert("RGB"))
    p = tmp_path / "polyp_rgb16.tif"
    tifffile.imwrite(p, rgb8.astype(np.uint16) * 257, photometric="rgb")
    window.open_path(p, blocking=True)
    QtWidgets.QApplication.processEvents()
    st = window.study
    assert st.voxels.dtype == np.uint16 and st.voxels.shape == (1, *rgb8.shape) and st.is_rgb
    view = window.grid.active_view()
    shown = view.image_item.image
    assert shown.shape == rgb8.shape and shown.dtype == np.uint8  # three channels, not grey channel 0
    lo, hi = window.state.levels
    assert 0 <= lo < hi <= 65535 and (lo, hi) != (0.0, 255.0)  # percentile levels over all channels
    v = st.voxels[0]
    assert (lo, hi) == percentile_levels(v.reshape(1, v.shape[0], -1))
    assert np.array_equal(shown, Windowing(np.uint16, (lo, hi)).apply(v))  # every channel through the same levels
    # the same picture as the 8-bit original up to the levels stretch: red tissue stays red
    assert shown[..., 0].mean() > shown[..., 2].mean() + 30
    corr = [np.corrcoef(shown[..., c].ravel(), rgb8[..., c].ravel())[0, 1] for c in range(3)]
    assert min(corr) > 0.95
    img = grab_view(view)
    assert (np.abs(img[..., 0].astype(int) - img[..., 2].astype(int)) > 30).mean() > 0.1  # colour on screen
