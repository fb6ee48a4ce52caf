"""Study: the intensity range is scanned once per voxel array (the info pane asks on every label change)."""

from __future__ import annotations

from unittest import mock

import numpy as np

from viewer.model.geometry import Geometry
from viewer.model.study import Study


def test_intensity_range_is_remembered_until_the_voxels_are_replaced():
    vox = np.arange(2 * 3 * 4, dtype=np.int16).reshape(2, 3, 4) - 5
    s = Study(vox, Geometry())
    with mock.patch("viewer.model.study.np.min", wraps=np.min) as mn:
        assert s.intensity_range() == (-5.0, 18.0)
        assert s.summary()["intensity_range"] == [-5.0, 18.0]
        assert s.intensity_range() == (-5.0, 18.0)
        assert mn.call_count == 1  # scanned once
        s.voxels = np.full((1, 2, 2), 7, np.uint8)  # a new array: scanned again
        assert s.intensity_range() == (7.0, 7.0)
        assert mn.call_count == 2
    assert Study(np.zeros((1, 0, 0), np.float32), Geometry()).intensity_range() == (0.0, 0.0)
