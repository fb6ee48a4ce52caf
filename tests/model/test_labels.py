"""LabelTable / LabelMap: headless, no Qt."""

from __future__ import annotations

import numpy as np
import pytest

from viewer.errors import GeometryMismatchError
from viewer.model.geometry import Geometry
from viewer.model.labels import Label, LabelMap, LabelTable, present_values
from viewer.model.study import Study


def _study(shape=(4, 5, 6), geom=None):
    return Study(np.zeros(shape, np.int16), geom or Geometry(spacing=(1, 2, 3)), source=["/x/img.nii.gz"])


def test_lut_colours_visibility_opacity():
    t = LabelTable([Label(1, "Liver", (10, 20, 30)), Label(2, "Tumour", (200, 0, 0), opacity=0.5)])
    lut = t.lut(opacity=1.0)
    assert lut.shape == (256, 4) and lut.dtype == np.uint8
    assert tuple(lut[0]) == (0, 0, 0, 0)
    assert tuple(lut[1]) == (10, 20, 30, 255)
    assert tuple(lut[2]) == (200, 0, 0, 128)
    seen = []
    t.changed.connect(seen.append)
    t.set(1, visible=False)
    assert t.lut()[1, 3] == 0 and seen == [1]
    assert t.lut(opacity=0.5)[2, 3] == 64
    with pytest.raises(AttributeError):
        t.set(1, size=3)
    with pytest.raises(ValueError):
        t.add(Label(256, "x", (0, 0, 0)))
    assert LabelTable.from_list(t.to_list()).to_list() == t.to_list()


def test_labelmap_from_array_and_notify():
    s = _study()
    data = np.zeros(s.shape, np.int32)
    data[1, 2, 3] = 2
    lm = LabelMap.from_array(data, s, names={2: "Posterior"})
    assert lm.data.dtype == np.uint8 and lm.table.values == [2] and lm.table.name_of(2) == "Posterior"
    boxes = []
    lm.changed.connect(boxes.append)
    lm.data[0, 0, 0] = 7
    lm.notify((0, 1, 0, 1, 0, 1))
    assert boxes == [(0, 1, 0, 1, 0, 1)] and 7 in lm.table
    lm.notify()
    assert boxes[-1] == (0, 4, 0, 5, 0, 6)
    assert present_values(lm.data) == [2, 7]


def test_labelmap_refuses_other_grids_and_non_labels():
    s = _study()
    with pytest.raises(GeometryMismatchError, match="same voxel grid"):
        LabelMap.from_array(np.zeros((4, 5, 7), np.uint8), s)
    other = Study(np.zeros(s.shape, np.uint8), Geometry(origin=(5, 0, 0), spacing=(1, 2, 3)), source=["/x/l.nii"])
    with pytest.raises(GeometryMismatchError, match="different position"):
        LabelMap.from_study(other, s)
    with pytest.raises(GeometryMismatchError, match="fractional"):
        LabelMap.from_array(np.full(s.shape, 0.5, np.float32), s)
    with pytest.raises(GeometryMismatchError, match="0..255"):
        LabelMap.from_array(np.full(s.shape, 300, np.int32), s)
    ok = Study(np.ones(s.shape, np.float32), s.geometry, source=["/x/l.nii"])
    assert LabelMap.from_study(ok, s).table.values == [1]
