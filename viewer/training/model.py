"""Compact networks: a U-Net family for segmentation and a small CNN for routing (torch)."""

from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    """U-Net: ``widths`` are the channels per level; the last one is the bottleneck.

    Down: max-pool; up: bilinear x2 + concat + two 3x3 convs (export-friendly, no transposed convs).
    The output is logits (N, out_channels, H, W); H and W must be divisible by 2**(len(widths)-1).
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 1, widths=(16, 32, 64, 128)):
        super().__init__()
        widths = list(widths)
        self.widths = widths
        self.down = nn.ModuleList()
        c = in_channels
        for w in widths:
            self.down.append(_block(c, w))
            c = w
        self.up = nn.ModuleList()
        for w in reversed(widths[:-1]):
            self.up.append(_block(c + w, w))
            c = w
        self.head = nn.Conv2d(c, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, blk in enumerate(self.down):
            if i:
                x = F.max_pool2d(x, 2)
            x = blk(x)
            skips.append(x)
        skips.pop()
        for blk in self.up:
            x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
            x = blk(torch.cat([x, skips.pop()], dim=1))
        return self.head(x)


class RouterNet(nn.Module):
    """Small CNN classifier: conv blocks with stride-2 downsampling, global average pool, linear head (logits)."""

    def __init__(self, in_channels: int = 3, n_classes: int = 4, widths=(16, 32, 64, 96)):
        super().__init__()
        layers = []
        c = in_channels
        for w in widths:
            layers += [nn.Conv2d(c, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True),
                       nn.Conv2d(w, w, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
            c = w
        self.features = nn.Sequential(*layers)
        self.drop = nn.Dropout(0.2)
        self.fc = nn.Linear(c, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = x.mean(dim=(2, 3))
        return self.fc(self.drop(x))


class Ensemble(nn.Module):
    """Networks trained with different seeds on one split, run as one model: the mean of their logits.  Averaging
    lowers the variance of a small-data model on images unlike its training set (new patients, new videos)."""

    def __init__(self, members):
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([m(x) for m in self.members]).mean(dim=0)


def build_model(kind: str, in_channels: int, out_channels: int, widths) -> nn.Module:
    if kind in ("unet", "segmentation"):
        return UNet(in_channels, out_channels, widths)
    if kind in ("router", "cnn"):
        return RouterNet(in_channels, out_channels, widths)
    raise ValueError(f"unknown architecture {kind!r}")


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
