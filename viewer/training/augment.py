"""Batch augmentation on torch tensors (images already preprocessed to [0, 1] by viewer.inference.preprocess).

Geometric (applied identically to image and mask): flips, 90-degree turns, rotation, isotropic scale, small shift,
through one affine ``grid_sample`` per batch (bilinear for the image, nearest for the mask, zero padding).
Intensity (image only): brightness, contrast, gamma, per-channel colour gain, saturation and hue (a rotation of the
chroma plane in YIQ space, so a pinker or yellower endoscope light), a light Gaussian blur (out-of-focus frames),
and for the brain model a "grey"
replacement that turns the RGB (pre-contrast, FLAIR, post-contrast) input into one re-normalised channel repeated
three times, as a plain grey MR slice is after the ``replicate`` grey policy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class AugmentConfig:
    flip: bool = True
    rot90: bool = False
    rotate_deg: float = 20.0
    scale: tuple[float, float] = (0.85, 1.2)
    shift: float = 0.05
    p_geometric: float = 0.8
    brightness: float = 0.1
    contrast: tuple[float, float] = (0.8, 1.25)
    gamma: tuple[float, float] = (0.7, 1.5)
    colour_gain: float = 0.0
    saturation: tuple[float, float] = (1.0, 1.0)
    hue_deg: float = 0.0
    p_blur: float = 0.0
    p_grey: float = 0.0
    grey_channel_weights: tuple[float, ...] = (0.25, 0.5, 0.25)


def _affine(n: int, cfg: AugmentConfig, g: torch.Generator, h: int = 1, w: int = 1) -> torch.Tensor:
    """Random similarity transforms as ``affine_grid`` matrices for (h, w) images.  ``affine_grid`` works in
    coordinates normalised to [-1, 1] per axis, so on a non-square image the rotation terms are scaled by the aspect
    ratio: a 90-degree turn of a 192x256 frame turns it (cropping and padding), it does not stretch it."""
    def u(lo, hi):
        return lo + (hi - lo) * torch.rand(n, generator=g)

    ang = u(-cfg.rotate_deg, cfg.rotate_deg) * math.pi / 180
    if cfg.rot90:
        ang = ang + torch.randint(0, 4, (n,), generator=g).float() * (math.pi / 2)
    s = torch.exp(u(math.log(cfg.scale[0]), math.log(cfg.scale[1])))
    on = torch.rand(n, generator=g) < cfg.p_geometric
    ang = torch.where(on, ang, torch.zeros_like(ang))
    s = torch.where(on, s, torch.ones_like(s))
    fx = torch.where((torch.rand(n, generator=g) < 0.5) & cfg.flip, -1.0, 1.0)
    fy = torch.where((torch.rand(n, generator=g) < 0.5) & cfg.flip, -1.0, 1.0)
    tx, ty = u(-cfg.shift, cfg.shift) * on, u(-cfg.shift, cfg.shift) * on
    cos, sin = torch.cos(ang) / s, torch.sin(ang) / s
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 1], theta[:, 0, 2] = cos * fx, -sin * fy * (h / w), tx
    theta[:, 1, 0], theta[:, 1, 1], theta[:, 1, 2] = sin * fx * (w / h), cos * fy, ty
    return theta


def augment_batch(x: torch.Tensor, y: torch.Tensor | None, cfg: AugmentConfig, g: torch.Generator):
    """x (N, C, H, W) float in [0, 1]; y (N, 1, H, W) float 0/1 or None.  Returns augmented (x, y) (CPU)."""
    n = x.shape[0]
    theta = _affine(n, cfg, g, x.shape[-2], x.shape[-1]).to(x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    if y is not None:
        y = F.grid_sample(y, grid, mode="nearest", padding_mode="zeros", align_corners=False)
    x = intensity(x, cfg, g)
    return x, y


def _renorm(c: torch.Tensor) -> torch.Tensor:
    """Per-image percentile (0.5/99.5) re-normalisation of (N, 1, H, W), as preprocess() would do."""
    flat = c.flatten(1)
    lo = torch.quantile(flat, 0.005, dim=1).view(-1, 1, 1, 1)
    hi = torch.quantile(flat, 0.995, dim=1).view(-1, 1, 1, 1)
    return ((c - lo) / (hi - lo).clamp_min(1e-6)).clamp(0, 1)


_RGB2YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
_YIQ2RGB = torch.linalg.inv(_RGB2YIQ)


def _hue_saturation(x: torch.Tensor, hue: torch.Tensor, sat: torch.Tensor) -> torch.Tensor:
    """Rotate the chroma (I, Q) of each RGB image by ``hue`` radians and scale it by ``sat``; luma is kept."""
    n = x.shape[0]
    cos, sin = torch.cos(hue) * sat, torch.sin(hue) * sat
    rot = torch.zeros(n, 3, 3)
    rot[:, 0, 0] = 1
    rot[:, 1, 1], rot[:, 1, 2], rot[:, 2, 1], rot[:, 2, 2] = cos, -sin, sin, cos
    m = (_YIQ2RGB @ rot @ _RGB2YIQ).to(x.dtype)  # (N, 3, 3)
    return torch.einsum("nij,njhw->nihw", m, x).clamp(0, 1)


def _blur(x: torch.Tensor, pick: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian blur (radius 3) of the picked images, each with its own sigma."""
    if not pick.any():
        return x
    k = torch.arange(-3, 4, dtype=x.dtype)
    w = torch.exp(-0.5 * (k[None] / sigma[:, None].to(x.dtype)) ** 2)
    w = w / w.sum(1, keepdim=True)  # (N, 7)
    n, c, h, wd = x.shape
    y = x.reshape(1, n * c, h, wd)
    wk = w.repeat_interleave(c, 0)  # (N*C, 7)
    y = F.conv2d(F.pad(y, (3, 3, 0, 0), mode="replicate"), wk[:, None, None, :], groups=n * c)
    y = F.conv2d(F.pad(y, (0, 0, 3, 3), mode="replicate"), wk[:, None, :, None], groups=n * c)
    return torch.where(pick.view(-1, 1, 1, 1), y.reshape(n, c, h, wd), x)


def intensity(x: torch.Tensor, cfg: AugmentConfig, g: torch.Generator) -> torch.Tensor:
    n, c = x.shape[:2]

    def u(lo, hi, *shape):
        return lo + (hi - lo) * torch.rand(n, *shape, generator=g)

    if cfg.p_grey > 0 and c == 3:
        pick = torch.rand(n, generator=g) < cfg.p_grey
        if pick.any():
            w = torch.tensor(cfg.grey_channel_weights, dtype=torch.float)
            ch = torch.multinomial(w, n, replacement=True, generator=g)
            grey = _renorm(x[torch.arange(n), ch][:, None])
            x = torch.where(pick.view(-1, 1, 1, 1), grey.expand(-1, 3, -1, -1), x)
    if cfg.colour_gain > 0 and c == 3:
        x = x * u(1 - cfg.colour_gain, 1 + cfg.colour_gain, c, 1, 1)
    if c == 3 and (cfg.hue_deg > 0 or tuple(cfg.saturation) != (1.0, 1.0)):
        x = _hue_saturation(x, u(-cfg.hue_deg, cfg.hue_deg) * math.pi / 180, u(*cfg.saturation))
    if cfg.p_blur > 0:
        x = _blur(x, torch.rand(n, generator=g) < cfg.p_blur, u(0.5, 1.5))
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * u(*cfg.contrast, 1, 1, 1) + mean + u(-cfg.brightness, cfg.brightness, 1, 1, 1)
    x = x.clamp(0, 1)
    gam = torch.exp(u(math.log(cfg.gamma[0]), math.log(cfg.gamma[1]), 1, 1, 1))
    return x.clamp_min(1e-6) ** gam


def random_crops(images, masks, crop: int | None, rng, fg_prob: float = 0.5):
    """Pick a (crop x crop) window per sample (numpy arrays (C, H, W) / (H, W)); centred on a foreground pixel
    with probability ``fg_prob`` when the mask has one.  ``crop=None`` keeps the whole image."""
    import numpy as np

    if crop is None:
        return np.stack(images), np.stack(masks)
    xs, ys = [], []
    for im, m in zip(images, masks):
        h, w = m.shape
        ch, cw = min(crop, h), min(crop, w)
        if fg_prob > 0 and rng.random() < fg_prob and m.any():
            yy, xx = np.nonzero(m)
            k = rng.integers(len(yy))
            y0 = int(np.clip(yy[k] - ch // 2 + rng.integers(-ch // 4, ch // 4 + 1), 0, h - ch))
            x0 = int(np.clip(xx[k] - cw // 2 + rng.integers(-cw // 4, cw // 4 + 1), 0, w - cw))
        else:
            y0, x0 = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        xs.append(im[:, y0:y0 + ch, x0:x0 + cw])
        ys.append(m[y0:y0 + ch, x0:x0 + cw])
    return np.stack(xs), np.stack(ys)
