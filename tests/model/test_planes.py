"""Slice-view reslicing: radiological orientation for any direction matrix, views not copies.  No Qt."""

from __future__ import annotations

import numpy as np
import pytest

from viewer.model.geometry import Geometry, from_dicom, from_nifti_affine
from viewer.model.planes import PLANES, acquisition_plane, plane_mapping

EXPECT = {"axial": ((0, 1), (1, 1)), "coronal": ((0, 1), (2, -1)), "sagittal": ((1, 1), (2, -1))}
LETTERS = {"axial": ("R", "L", "A", "P"), "coronal": ("R", "L", "S", "I"), "sagittal": ("A", "P", "S", "I")}

GEOMS = {
    "lps": Geometry(spacing=(0.5, 0.7, 3.0)),
    "ras_nifti": from_nifti_affine(np.diag([1.0, 1.0, 2.0, 1.0])),
    "sag_dicom_oblique": from_dicom((0, 0, 0), [0.0538, 0.965, 0.2566, 0.0181, 0.256, -0.9665], (0.86, 0.86), 0.9),
    "coronal_dicom": from_dicom((0, 0, 0), [1, 0, 0, 0, 0, -1], (1.0, 1.0), 4.0),
    "permuted_flipped": Geometry(direction=((0, 0, -1), (-1, 0, 0), (0, 1, 0))),
}


@pytest.mark.parametrize("name", list(GEOMS))
@pytest.mark.parametrize("plane", PLANES)
def test_screen_axes_point_the_radiological_way(name, plane):
    g = GEOMS[name]
    shape = (7, 8, 9)
    m = plane_mapping(plane, shape, g)
    assert m.letters == LETTERS[plane]
    s = m.n_slices // 2
    for (w, sign), (a, b) in zip(EXPECT[plane], (((2, 0, s), (2, m.n_cols - 1, s)), ((0, 2, s), (m.n_rows - 1, 2, s)))):
        va, vb = m.from_screen(*a), m.from_screen(*b)
        d = g.index_to_world(vb[::-1]) - g.index_to_world(va[::-1])
        assert int(np.argmax(np.abs(d))) == w and np.sign(d[w]) == sign


def test_round_trip_and_views_share_memory():
    g = GEOMS["permuted_flipped"]
    vol = np.arange(7 * 8 * 9, dtype=np.int16).reshape(7, 8, 9)
    for plane in PLANES:
        m = plane_mapping(plane, vol.shape, g)
        for voxel in [(0, 0, 0), (6, 7, 8), (3, 2, 5)]:
            r, c, s = m.to_screen(voxel)
            assert m.from_screen(r, c, s) == voxel
            img = m.slice_view(vol, s)
            assert img.shape == (m.n_rows, m.n_cols)
            assert img[r, c] == vol[voxel]
            assert np.shares_memory(img, vol)


def test_spacing_and_acquisition_plane():
    g = GEOMS["lps"]
    m = plane_mapping("coronal", (7, 8, 9), g)
    assert (m.col_spacing, m.row_spacing, m.normal_spacing) == (0.5, 3.0, 0.7)
    assert acquisition_plane((7, 8, 9), g) == "axial"
    assert acquisition_plane((7, 8, 9), GEOMS["sag_dicom_oblique"]) == "sagittal"
    assert acquisition_plane((1, 8, 9), GEOMS["coronal_dicom"]) == "coronal"


def test_colour_volume_slices_keep_channels_last():
    vol = np.zeros((3, 4, 5, 3), np.uint8)
    m = plane_mapping("sagittal", vol.shape[:3], GEOMS["lps"])
    assert m.slice_view(vol, 1).shape == (3, 4, 3)
