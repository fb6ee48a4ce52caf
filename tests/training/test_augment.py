"""Augmentation keeps shapes and keeps image and mask aligned."""

from __future__ import annotations

import numpy as np
import torch

from viewer.training.augment import AugmentConfig, augment_batch, random_crops


def _batch(n=6, s=64):
    yy, xx = np.mgrid[:s, :s]
    masks = np.stack([((yy - 20 - 3 * i) ** 2 + (xx - 30) ** 2 < 100) for i in range(n)]).astype(np.float32)
    images = np.repeat(masks[:, None], 3, axis=1) * 0.8 + 0.1
    return torch.from_numpy(images), torch.from_numpy(masks[:, None])


def test_geometry_moves_image_and_mask_together():
    x, y = _batch()
    cfg = AugmentConfig(rot90=True, rotate_deg=30, brightness=0, contrast=(1, 1), gamma=(1, 1), p_geometric=1.0)
    g = torch.Generator().manual_seed(0)
    xa, ya = augment_batch(x, y, cfg, g)
    assert xa.shape == x.shape and ya.shape == y.shape
    assert set(torch.unique(ya).tolist()) <= {0.0, 1.0}
    bright = xa[:, 0] > 0.5  # the disc, as seen in the augmented image
    agree = (bright == (ya[:, 0] > 0.5)).float().mean()
    assert agree > 0.98
    assert not torch.equal(ya, y)  # something moved


def test_rotation_of_a_non_square_frame_keeps_shapes():
    """On a 4:3 frame (the polyp input, 192x256) every rotation - 90-degree turns and any angle - keeps a disc a
    disc of the same area: the aspect ratio is accounted for, nothing is stretched or sheared."""
    h, w, r = 96, 128, 14
    yy, xx = np.mgrid[:h, :w]
    disc = (((yy - 48) ** 2 + (xx - 70) ** 2) < r * r).astype(np.float32)
    n = 16
    y = torch.from_numpy(np.repeat(disc[None, None], n, axis=0))
    x = y.repeat(1, 3, 1, 1) * 0.8 + 0.1
    cfg = AugmentConfig(rot90=True, rotate_deg=45, scale=(1.0, 1.0), shift=0.0, brightness=0, contrast=(1, 1),
                        gamma=(1, 1), p_geometric=1.0, flip=False)
    _, ya = augment_batch(x, y, cfg, torch.Generator().manual_seed(3))
    for m in ya[:, 0].numpy() > 0.5:
        rows, cols = np.nonzero(m)
        assert abs(m.sum() / disc.sum() - 1) < 0.06
        extent_y, extent_x = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
        assert abs(extent_y - extent_x) <= 2 and abs(extent_y - 2 * r) <= 3, (extent_y, extent_x)


def test_intensity_stays_in_range_and_grey_replaces_colour():
    x = torch.rand(8, 3, 32, 32)
    cfg = AugmentConfig(p_geometric=0.0, flip=False, p_grey=1.0)
    xa, ya = augment_batch(x, None, cfg, torch.Generator().manual_seed(1))
    assert ya is None and xa.shape == x.shape
    assert xa.min() >= 0 and xa.max() <= 1.0 + 1e-6
    assert torch.allclose(xa[:, 0], xa[:, 1]) and torch.allclose(xa[:, 1], xa[:, 2])


def test_random_crops_prefer_foreground():
    rng = np.random.default_rng(0)
    imgs = [np.zeros((3, 256, 256), np.float32) for _ in range(8)]
    masks = [np.zeros((256, 256), bool) for _ in range(8)]
    for m in masks:
        m[200:210, 10:20] = True
    xb, yb = random_crops(imgs, masks, 64, rng, fg_prob=1.0)
    assert xb.shape == (8, 3, 64, 64) and yb.shape == (8, 64, 64)
    assert all(y.any() for y in yb)
    xb, yb = random_crops(imgs, masks, None, rng)
    assert xb.shape == (8, 3, 256, 256)


def test_hue_and_saturation_keep_luma_and_leave_grey_alone():
    from viewer.training.augment import _RGB2YIQ, _hue_saturation

    g = torch.Generator().manual_seed(2)
    x = 0.4 + 0.2 * torch.rand(4, 3, 16, 16, generator=g)
    hue, sat = torch.tensor([0.3, -0.3, 0.0, 0.2]), torch.tensor([1.0, 1.0, 0.0, 1.3])
    y = _hue_saturation(x, hue, sat)
    luma = lambda t: torch.einsum("j,njhw->nhw", _RGB2YIQ[0], t)  # noqa: E731
    assert torch.allclose(luma(y), luma(x), atol=1e-4)  # brightness untouched (nothing is clipped here)
    assert not torch.allclose(y[0], x[0], atol=1e-3)  # the colour did turn
    assert torch.allclose(y[2, 0], y[2, 1], atol=1e-5) and torch.allclose(y[2, 1], y[2, 2], atol=1e-5)  # sat 0 = grey
    grey = x[:, :1].expand(-1, 3, -1, -1).contiguous()
    assert torch.allclose(_hue_saturation(grey, hue, torch.ones(4)), grey, atol=1e-5)  # no chroma to turn


def test_blur_only_touches_picked_images_and_keeps_the_mean():
    from viewer.training.augment import _blur

    x = torch.zeros(3, 3, 21, 21)
    x[:, :, 10, 10] = 1.0
    y = _blur(x, torch.tensor([True, False, True]), torch.tensor([1.0, 1.0, 0.5]))
    assert torch.equal(y[1], x[1])
    assert y[0, 0, 10, 10] < 0.5 and y[0, 0, 10, 11] > 0  # spread out
    assert torch.allclose(y[0].sum(), x[0].sum(), atol=1e-5)  # and normalised
    assert y[2, 0, 10, 10] > y[0, 0, 10, 10]  # a smaller sigma spreads less


def test_per_image_dice_weighs_a_small_object_like_a_large_one():
    from viewer.training.train import dice_bce

    target = torch.zeros(2, 1, 32, 32)
    target[0, 0, :20, :20] = 1  # large object, found
    target[1, 0, 5:8, 5:8] = 1  # small object, missed
    logits = torch.where(target[:1] > 0, 8.0, -8.0)
    logits = torch.cat([logits, torch.full((1, 1, 32, 32), -8.0)])
    pooled, per_image = dice_bce(logits, target), dice_bce(logits, target, per_image=True)
    # pooled Dice hardly notices the missed small object; per image it costs half the Dice term
    assert float(per_image - pooled) > 0.4
