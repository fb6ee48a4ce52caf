"""Study.is_rgb: colour from the channel count and the readers' marks, whatever the bit depth."""

from __future__ import annotations

import numpy as np
import pytest

from viewer.model.geometry import Geometry
from viewer.model.study import Study


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
@pytest.mark.parametrize("channels", [3, 4])
def test_three_or_four_channels_are_colour_at_any_bit_depth(dtype, channels):
    assert Study(np.zeros((1, 4, 5, channels), dtype), Geometry()).is_rgb


@pytest.mark.parametrize("meta", [{"volumes_as_channels": 3}, {"components_as_channels": 3}])
def test_marked_volumes_and_components_are_not_colour(meta):
    for dtype in (np.uint8, np.uint16):
        assert not Study(np.zeros((4, 4, 5, 3), dtype), Geometry(), metadata=dict(meta)).is_rgb


@pytest.mark.parametrize("shape", [(2, 4, 5), (2, 4, 5, 2), (2, 4, 5, 5)])
def test_grey_and_other_channel_counts_are_not_colour(shape):
    assert not Study(np.zeros(shape, np.uint16), Geometry()).is_rgb


def test_uint16_rgb_tiff_reads_as_colour(tmp_path):
    import tifffile

    from viewer.io import open_study

    rgb = (np.arange(6 * 7 * 3, dtype=np.uint16).reshape(6, 7, 3) * 300)
    tifffile.imwrite(tmp_path / "rgb16.tif", rgb, photometric="rgb")
    st = open_study(tmp_path / "rgb16.tif")
    assert st.voxels.shape == (1, 6, 7, 3) and st.voxels.dtype == np.uint16 and st.is_rgb
