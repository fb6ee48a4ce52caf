"""Preprocessing shared by training and inference (numpy only: no torch, no Qt).

One plugin manifest's ``[input]`` table drives everything here, so the training code (``viewer.training``) and the
OpenVINO engine call *the same functions* and cannot drift apart:

* channel policy: alpha is dropped; a grey image given to a colour model is replicated into every channel
  (``grey_policy = "replicate"``); a colour image given to a grey model becomes its luminance
  (``colour_policy = "luminance"``, ITU-R BT.601 weights 0.299/0.587/0.114);
* resize to the model size with bilinear interpolation (half-pixel centres, like OpenCV ``INTER_LINEAR`` and
  ``torch.nn.functional.interpolate(..., align_corners=False)``); the original size is kept so that the mask can be
  brought back with :func:`restore_mask`;
* normalisation ``percentile``: clip each image to its own [low, high] percentiles (over all channels together, so
  the colour balance is kept), then scale to [0, 1].  This works for 8-bit PNG and 16-bit / signed DICOM alike.
  ``minmax`` (0th/100th percentile) and ``none`` (values divided by 255) are also accepted.

The result is float32 ``NCHW`` with N = 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)

ROUTER_SPEC: dict[str, Any] = {
    "channels": 3,
    "size": [64, 64],
    "resize": "bilinear",
    "normalisation": "percentile",
    "percentile_low": 0.5,
    "percentile_high": 99.5,
    "grey_policy": "replicate",
    "colour_policy": "luminance",
    "layout": "NCHW",
}


@dataclass(frozen=True)
class InputSpec:
    """The ``[input]`` table of a plugin manifest."""

    channels: int = 3
    size: tuple[int, int] = (256, 256)
    resize: str = "bilinear"
    normalisation: str = "percentile"
    percentile_low: float = 0.5
    percentile_high: float = 99.5
    grey_policy: str = "replicate"
    colour_policy: str = "luminance"
    layout: str = "NCHW"
    # the largest field of view (mm, longest side) of the studies the model was trained on, with a margin; a study
    # known in mm that is larger is outside what the model can segment (e.g. a whole head for a model of crops)
    max_field_of_view_mm: float | None = None
    extra: dict = field(default_factory=dict, compare=False)

    @classmethod
    def from_manifest(cls, table: Mapping[str, Any] | "InputSpec") -> "InputSpec":
        if isinstance(table, InputSpec):
            return table
        known = {k: table[k] for k in cls.__dataclass_fields__ if k in table and k != "extra"}
        if "size" in known:
            known["size"] = (int(known["size"][0]), int(known["size"][1]))
        extra = {k: v for k, v in table.items() if k not in cls.__dataclass_fields__}
        spec = cls(**known, extra=extra)
        if spec.resize not in ("bilinear", "nearest"):
            raise ValueError(f"unsupported resize method {spec.resize!r}")
        if spec.normalisation not in ("percentile", "percentile_channel", "minmax", "none"):
            raise ValueError(f"unsupported normalisation {spec.normalisation!r}")
        if spec.layout != "NCHW":
            raise ValueError(f"unsupported layout {spec.layout!r}")
        if spec.max_field_of_view_mm is not None and not float(spec.max_field_of_view_mm) > 0:
            raise ValueError("max_field_of_view_mm must be a positive number of millimetres")
        return spec


@dataclass(frozen=True)
class PreprocessInfo:
    """What :func:`preprocess` did, so the output can be brought back to the original grid."""

    original_size: tuple[int, int]  # (H, W) of the image given
    model_size: tuple[int, int]  # (H, W) fed to the network


def to_channels(image: np.ndarray, channels: int, grey_policy: str = "replicate",
                colour_policy: str = "luminance") -> np.ndarray:
    """Return float32 (C, H, W) with the model's channel count.

    ``image`` is (H, W) grey, (H, W, 3|4) colour (channels last, as images are stored) or (H, W, 2) grey+alpha.
    """
    a = np.asarray(image)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3:
        raise ValueError(f"expected a 2-D image (H, W[, C]); got shape {a.shape}")
    c = a.shape[-1]
    if c == 2:  # grey + alpha
        a = a[..., :1]
    elif c == 4:  # RGBA: drop alpha
        a = a[..., :3]
    elif c not in (1, 3):
        raise ValueError(f"unsupported channel count {c}")
    a = a.astype(np.float32, copy=False)
    if a.shape[-1] == 3 and np.array_equal(a[..., 0], a[..., 1]) and np.array_equal(a[..., 0], a[..., 2]):
        a = a[..., :1]  # RGB with R=G=B is grey
    if channels == 1 and a.shape[-1] == 3:
        if colour_policy != "luminance":
            raise ValueError(f"unsupported colour policy {colour_policy!r}")
        a = (a @ LUMA)[..., None]
    elif channels == 3 and a.shape[-1] == 1:
        if grey_policy != "replicate":
            raise ValueError(f"unsupported grey policy {grey_policy!r}")
        a = np.repeat(a, 3, axis=-1)
    elif channels not in (1, 3):
        raise ValueError(f"unsupported model channel count {channels}")
    return np.ascontiguousarray(np.moveaxis(a, -1, 0))


def _axis_weights(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Half-pixel-centre linear interpolation indices/weights along one axis."""
    scale = n_in / n_out
    x = (np.arange(n_out, dtype=np.float64) + 0.5) * scale - 0.5
    x = np.clip(x, 0, n_in - 1)
    i0 = np.floor(x).astype(np.int64)
    i1 = np.minimum(i0 + 1, n_in - 1)
    w = (x - i0).astype(np.float32)
    return i0, i1, w


def resize_chw(a: np.ndarray, size: tuple[int, int], method: str = "bilinear") -> np.ndarray:
    """Resize (C, H, W) float32 to (C, *size).  ``bilinear`` uses half-pixel centres (no antialiasing)."""
    h, w = int(size[0]), int(size[1])
    if a.shape[1:] == (h, w):
        return a.astype(np.float32, copy=False)
    if method == "nearest":
        yi = np.minimum(((np.arange(h) + 0.5) * a.shape[1] / h).astype(np.int64), a.shape[1] - 1)
        xi = np.minimum(((np.arange(w) + 0.5) * a.shape[2] / w).astype(np.int64), a.shape[2] - 1)
        return a[:, yi][:, :, xi].astype(np.float32, copy=False)
    y0, y1, wy = _axis_weights(a.shape[1], h)
    x0, x1, wx = _axis_weights(a.shape[2], w)
    a = a.astype(np.float32, copy=False)
    rows = a[:, y0] * (1 - wy)[None, :, None] + a[:, y1] * wy[None, :, None]
    return rows[:, :, x0] * (1 - wx) + rows[:, :, x1] * wx


def _order_statistics(cum: np.ndarray, n: int, vmin: float, low: float, high: float) -> tuple[float, float]:
    """The linear-method percentiles ``low``/``high`` of n whole numbers from the cumulative counts of value - vmin."""
    out = []
    for q in (low, high):
        h = (n - 1) * q / 100.0
        k = int(np.floor(h))
        v0 = float(np.searchsorted(cum, k, side="right"))
        v1 = float(np.searchsorted(cum, min(k + 1, n - 1), side="right"))
        out.append(vmin + v0 + (h - k) * (v1 - v0))
    return np.float64(out[0]), np.float64(out[1])  # numpy scalars, as np.percentile gives


def _percentiles(flat: np.ndarray, low: float, high: float, repeat: int = 1) -> tuple[float, float]:
    """``np.percentile(np.tile(flat, repeat), [low, high])`` (linear method).  Whole-number data (8/16-bit images,
    the common case) takes an exact O(n) path through a histogram of its values instead of numpy's partial sort;
    ``repeat`` gives the percentiles of a grey image replicated into ``repeat`` channels without replicating it."""
    flat = flat.ravel()
    n = flat.size * repeat
    if flat.size >= 4096:
        if flat.dtype.kind in "iub":  # integers: no float conversion, no whole-number check
            vmin, vmax = int(flat.min()), int(flat.max())
            if vmax - vmin < (1 << 20):
                ints = flat.astype(np.int64) - vmin if vmin else flat
                return _order_statistics(np.cumsum(np.bincount(ints)) * repeat, n, float(vmin), low, high)
        else:
            vmin, vmax = float(flat.min()), float(flat.max())
            if vmax - vmin < (1 << 20):
                ints = (flat - np.float32(vmin)).astype(np.int64)
                if np.array_equal(ints, flat - np.float32(vmin)):  # whole numbers: order statistics from counts
                    return _order_statistics(np.cumsum(np.bincount(ints)) * repeat, n, vmin, low, high)
    lo, hi = np.percentile(np.tile(flat, repeat) if repeat > 1 else flat, [low, high])
    return lo, hi


def normalise(a: np.ndarray, method: str = "percentile", low: float = 0.5, high: float = 99.5) -> np.ndarray:
    """Clip to the image's own percentiles and scale to [0, 1] (float32).  A flat image becomes all zeros.

    ``percentile_channel`` does the same for each channel of a (C, H, W) array on its own: multi-sequence MR
    (pre-contrast, FLAIR, post-contrast) from different scanners then lands on one scale per sequence.
    """
    a = a.astype(np.float32, copy=False)
    if method == "percentile_channel" and a.ndim == 3:
        return np.stack([normalise(c, "percentile", low, high) for c in a])
    if method == "percentile_channel":
        method = "percentile"
    if method == "none":
        return a / np.float32(255.0)
    if method == "minmax":
        low, high = 0.0, 100.0
    finite = a[np.isfinite(a)]
    if finite.size == 0:
        return np.zeros_like(a)
    lo, hi = _percentiles(finite, low, high)
    if not hi > lo:
        return np.zeros_like(a)
    out = (np.clip(np.nan_to_num(a, nan=lo), lo, hi) - lo) / np.float32(hi - lo)
    return out.astype(np.float32, copy=False)


def _preprocess_grey(a: np.ndarray, s: InputSpec) -> tuple[np.ndarray, PreprocessInfo] | None:
    """Fast path for a 2-D grey slice (every CT/MR slice): normalise and resize one channel, then broadcast it into
    the model's channels.  Gives the same float32 values as the general path (which replicates first and then
    works on C times the data); None when the general path must decide (NaNs, other policies)."""
    if a.ndim != 2 or s.normalisation not in ("percentile", "percentile_channel", "minmax"):
        return None
    if s.channels not in (1, 3) or (s.channels == 3 and s.grey_policy != "replicate"):
        return None
    if a.dtype.kind == "f":
        if not np.isfinite(a).all():
            return None
        a = a.astype(np.float32, copy=False)
    elif a.dtype.kind not in "iub":
        return None
    low, high = (0.0, 100.0) if s.normalisation == "minmax" else (s.percentile_low, s.percentile_high)
    # "percentile" pools all channels (the replicated image has each value C times); "percentile_channel" does not
    repeat = s.channels if s.normalisation != "percentile_channel" else 1
    if a.size == 0:
        return None
    lo, hi = _percentiles(a, low, high, repeat)
    info = PreprocessInfo(original_size=(int(a.shape[0]), int(a.shape[1])), model_size=tuple(s.size))
    if hi > lo:
        # float64 arithmetic like the general path (float32 image, float64 percentile scalars), then float32
        g = ((np.clip(a, lo, hi) - lo) / np.float32(hi - lo)).astype(np.float32)
    else:
        g = np.zeros(a.shape, np.float32)
    g = resize_chw(g[None], s.size, s.resize)
    out = np.empty((1, s.channels, *g.shape[1:]), np.float32)
    out[0] = g
    return out, info


def preprocess(image: np.ndarray, spec: Mapping[str, Any] | InputSpec) -> tuple[np.ndarray, PreprocessInfo]:
    """Image (H, W[, C]) of any dtype -> float32 NCHW (1, C, H', W') at the model size, plus what to undo."""
    s = InputSpec.from_manifest(spec)
    fast = _preprocess_grey(np.asarray(image), s)
    if fast is not None:
        return fast
    return _preprocess_general(image, s)


def _preprocess_general(image: np.ndarray, s: InputSpec) -> tuple[np.ndarray, PreprocessInfo]:
    chw = to_channels(image, s.channels, s.grey_policy, s.colour_policy)
    info = PreprocessInfo(original_size=(int(chw.shape[1]), int(chw.shape[2])), model_size=tuple(s.size))
    # Normalise before resizing: the percentiles then describe the image as stored, whatever the model size.
    chw = normalise(chw, s.normalisation, s.percentile_low, s.percentile_high)
    chw = resize_chw(chw, s.size, s.resize)
    return np.ascontiguousarray(chw[None], dtype=np.float32), info


def resize_mask(mask: np.ndarray, size: tuple[int, int], method: str = "bilinear") -> np.ndarray:
    """A binary/label mask (H, W) to ``size`` for training targets: bilinear on the 0/1 map then >= 0.5."""
    m = (np.asarray(mask) > 0).astype(np.float32)[None]
    if method == "nearest":
        return resize_chw(m, size, "nearest")[0] > 0.5
    return resize_chw(m, size, "bilinear")[0] >= 0.5


def sigmoid(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return (0.5 * (np.tanh(0.5 * x) + 1.0)).astype(np.float32)


def softmax(x: np.ndarray, axis: int = 1) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def probabilities(output: np.ndarray, activation: str = "sigmoid") -> np.ndarray:
    """Network output (1, K, H, W) logits -> probabilities (K, H, W)."""
    out = np.asarray(output, dtype=np.float32)
    if out.ndim == 4:
        out = out[0]
    if activation == "sigmoid":
        return sigmoid(out)
    if activation == "softmax":
        return softmax(out[None], axis=1)[0]
    if activation in ("none", "identity"):
        return out
    raise ValueError(f"unsupported activation {activation!r}")


def restore_mask(output: np.ndarray, info: PreprocessInfo, activation: str = "sigmoid",
                 threshold: float = 0.5, resize: str = "bilinear") -> np.ndarray:
    """Inverse of :func:`preprocess` for a segmentation output.

    ``output`` holds logits (1, K, h, w) or (K, h, w) at the model size.  Probabilities are resized (bilinear, so
    edges stay smooth) to the original (H, W); then a sigmoid model gives a uint8 0/1 mask (``>= threshold``) and a
    softmax model gives the arg-max label (uint8, 0 = background).
    """
    prob = probabilities(output, activation)
    prob = resize_chw(prob, info.original_size, resize)
    if activation == "softmax":
        return np.argmax(prob, axis=0).astype(np.uint8)
    if prob.shape[0] == 1:
        return (prob[0] >= threshold).astype(np.uint8)
    # several independent sigmoid channels: label k+1 where channel k is the most probable above threshold
    best = np.argmax(prob, axis=0)
    return np.where(prob.max(axis=0) >= threshold, best + 1, 0).astype(np.uint8)


def router_input(image: np.ndarray, spec: Mapping[str, Any] | InputSpec | None = None) -> np.ndarray:
    """A 2-D slice (H, W) or colour image (H, W, 3|4) -> the router's float32 NCHW input."""
    return preprocess(image, ROUTER_SPEC if spec is None else spec)[0]


def middle_slice(array: np.ndarray) -> np.ndarray:
    """Helper for volumes (Z, Y, X[, C]): the middle slice, as the router's default view of a study."""
    a = np.asarray(array)
    if a.ndim == 4 or (a.ndim == 3 and a.shape[-1] not in (3, 4)):
        return a[a.shape[0] // 2]
    return a
