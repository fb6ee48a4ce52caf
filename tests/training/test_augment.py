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
