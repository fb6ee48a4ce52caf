"""[postprocess] largest_component: manifest validation and the clean-up itself, on a real polyp mask."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tests.conftest import require_data
from viewer.inference import postprocess as PP


def test_validate_accepts_known_options_and_names_bad_ones():
    assert PP.validate(None) == {}
    assert PP.validate({"largest_component": True}) == {"largest_component": True}
    with pytest.raises(ValueError, match="unknown"):
        PP.validate({"biggest": True})
    with pytest.raises(ValueError, match="must be bool"):
        PP.validate({"largest_component": "yes"})


def test_largest_component_removes_specks_from_a_real_mask():
    f = sorted((require_data("polyp") / "masks").glob("*.png"))[0]
    truth = (np.asarray(Image.open(f).convert("L")) > 127).astype(np.uint8)
    noisy = truth.copy()
    noisy[:5, :5] = 1  # a false-positive speck in a corner
    noisy[-9:-3, -9:-3] = 1
    out = PP.apply(noisy, {"largest_component": True})
    assert out.dtype == np.uint8
    # the polyp (the largest component of the truth) survives whole; the specks go
    assert out[:5, :5].sum() == 0 and out[-9:-3, -9:-3].sum() == 0
    assert np.count_nonzero(out & truth) >= 0.99 * truth.sum()
    assert PP.apply(noisy, {}) is noisy
    assert not PP.apply(np.zeros((8, 8), np.uint8), {"largest_component": True}).any()


def test_largest_component_is_per_label():
    m = np.zeros((20, 20), np.uint8)
    m[1:4, 1:4] = 1
    m[10:18, 10:18] = 1
    m[1:3, 15:19] = 2
    m[6:7, 15:16] = 2
    out = PP.keep_largest_component(m)
    assert out[1:4, 1:4].sum() == 0 and (out[10:18, 10:18] == 1).all()
    assert (out[1:3, 15:19] == 2).all() and out[6, 15] == 0
