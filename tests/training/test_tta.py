"""Test-time flips inside the exported graph (viewer.training.model.FlipTTA)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from viewer.training.model import TTA_FLIPS, FlipTTA, UNet


def _logit(p):
    return torch.log(p) - torch.log1p(-p)


def test_output_is_the_logit_of_the_mean_probability_of_the_mirrored_passes():
    torch.manual_seed(0)
    net = UNet(3, 1, [4, 8]).eval()
    x = torch.rand(2, 3, 16, 24)  # a batch of 2, non-square: rows and columns must not be mixed up
    with torch.no_grad():
        got = FlipTTA(net, ["identity", "flip_rows", "flip_cols"])(x)
        p = (torch.sigmoid(net(x)) + torch.sigmoid(torch.flip(net(torch.flip(x, (2,))), (2,)))
             + torch.sigmoid(torch.flip(net(torch.flip(x, (3,))), (3,)))) / 3
    assert got.shape == (2, 1, 16, 24)
    np.testing.assert_allclose(got.numpy(), _logit(p.clamp(1e-6, 1 - 1e-6)).numpy(), atol=1e-4)
    # a random network is not mirror-symmetric, so the average really differs from one pass
    with torch.no_grad():
        assert (got - net(x)).abs().max() > 1e-3


def test_a_mirror_symmetric_network_is_unchanged():
    torch.manual_seed(0)
    net = torch.nn.Conv2d(3, 1, 1).eval()  # per-pixel: commutes with every flip
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        np.testing.assert_allclose(FlipTTA(net, list(TTA_FLIPS))(x).numpy(), net(x).numpy(), atol=1e-4)


@pytest.mark.parametrize("flips", [[], ["identity", "transpose"]])
def test_unknown_or_empty_flip_lists_are_refused(flips):
    with pytest.raises(ValueError, match="test-time view"):
        FlipTTA(torch.nn.Identity(), flips)


def test_a_lower_resolution_view_is_resized_there_and_back():
    import torch.nn.functional as F

    torch.manual_seed(0)
    net = UNet(3, 1, [4, 8]).eval()
    x = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        got = FlipTTA(net, ["identity", "flip_rows@32x64"])(x)
        small = F.interpolate(torch.flip(x, (2,)), size=(32, 64), mode="bilinear", align_corners=False)
        back = F.interpolate(torch.sigmoid(net(small)), size=(64, 96), mode="bilinear", align_corners=False)
        p = (torch.sigmoid(net(x)) + torch.flip(back, (2,))) / 2
    assert got.shape == (1, 1, 64, 96)
    np.testing.assert_allclose(got.numpy(), _logit(p.clamp(1e-6, 1 - 1e-6)).numpy(), atol=1e-4)


@pytest.mark.parametrize("view,why", [("flip_rows@160", "HxW"), ("flip_rows@100x224", "multiples of 32")])
def test_badly_written_view_sizes_are_refused(view, why):
    with pytest.raises(ValueError, match=why):
        FlipTTA(torch.nn.Identity(), ["identity", view])
