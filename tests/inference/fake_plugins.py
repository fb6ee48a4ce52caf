"""Tiny but real OpenVINO plugins for tests, built with the OpenVINO opset (no torch, milliseconds to build).

* ``make_threshold_plugin``: a segmentation "model" whose logits are ``gain * (mean over channels - 0.5)`` of the
  normalised input: it marks the bright half of an image, so its output on a given image is predictable.
* ``make_router_plugin``: a router whose logits are fixed (``logits``) whatever the input.
Both are written exactly as ``medroute quantize`` writes a plugin folder (plugin.toml with checksums, IR files).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

SEG_TOML = """[plugin]
id = "{pid}"
name = "Test {pid}"
version = "{version}"
kind = "segmentation"
description = "test plugin"
task_modality = "any"

[model]
file = "model.xml"
weights = "model.bin"
sha256 = "{sha}"
xml_sha256 = "{xsha}"
precision = "INT8"

[input]
channels = 3
size = [{h}, {w}]
resize = "bilinear"
normalisation = "percentile"
percentile_low = 0.5
percentile_high = 99.5
grey_policy = "replicate"
colour_policy = "luminance"
layout = "NCHW"

[output]
activation = "sigmoid"
threshold = 0.5

[[labels]]
value = 1
name = "{label}"
color = "#ff5a36"

[metrics]
file = "metrics.json"

[training]
dataset = "test"
split = "none"
architecture = "threshold"
widths = [1]
seed = 0
"""

ROUTER_TOML = """[plugin]
id = "router"
name = "Test router"
version = "{version}"
kind = "router"
description = "test router"
task_modality = "any"

[model]
file = "model.xml"
weights = "model.bin"
sha256 = "{sha}"
xml_sha256 = "{xsha}"
precision = "INT8"

[input]
channels = 3
size = [64, 64]
resize = "bilinear"
normalisation = "percentile"
percentile_low = 0.5
percentile_high = 99.5
grey_policy = "replicate"
colour_policy = "luminance"
layout = "NCHW"

[output]
activation = "softmax"

[router]
classes = {classes}
threshold = {threshold}
reject_class = "other"

[metrics]
file = "metrics.json"

[training]
dataset = "test"
split = "none"
architecture = "router"
widths = [1]
seed = 0
"""


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _save(model, folder: Path) -> tuple[str, str]:
    import openvino as ov

    folder.mkdir(parents=True, exist_ok=True)
    ov.save_model(model, folder / "model.xml", compress_to_fp16=False)
    (folder / "metrics.json").write_text('{"test_int8": {}, "test_fp32": {}}')
    (folder / "MODEL_CARD.md").write_text("# test plugin\n")
    return _sha(folder / "model.bin"), _sha(folder / "model.xml")


def make_threshold_plugin(folder: Path, pid: str = "bright", size=(64, 64), gain: float = 20.0,
                          version: str = "1.0.0", label: str = "bright") -> Path:
    import openvino as ov
    import openvino.opset13 as ops

    h, w = size
    x = ops.parameter([1, 3, h, w], np.float32, name="x")
    m = ops.reduce_mean(x, np.array([1], np.int64), keep_dims=True)
    y = ops.multiply(ops.subtract(m, ops.constant(np.float32(0.5))), ops.constant(np.float32(gain)))
    # a real (tiny) convolution so the graph looks like a network and has weights in model.bin
    k = np.zeros((1, 1, 3, 3), np.float32)
    k[0, 0, 1, 1] = 1.0
    y = ops.convolution(y, ops.constant(k), [1, 1], [1, 1], [1, 1], [1, 1])
    sha, xsha = _save(ov.Model([y], [x], pid), folder)
    (folder / "plugin.toml").write_text(SEG_TOML.format(pid=pid, version=version, sha=sha, xsha=xsha, h=h, w=w,
                                                        label=label))
    return folder


def make_router_plugin(folder: Path, logits=(5.0, 0.0, 0.0, 0.0), classes=("brain_mri", "nuclei", "polyp", "other"),
                       threshold: float = 0.9, version: str = "1.0.0") -> Path:
    import openvino as ov
    import openvino.opset13 as ops

    x = ops.parameter([1, 3, 64, 64], np.float32, name="x")
    m = ops.reduce_mean(x, np.array([1, 2, 3], np.int64), keep_dims=False)  # (1,)
    m = ops.reshape(m, np.array([1, 1], np.int64), special_zero=False)
    y = ops.add(ops.multiply(m, ops.constant(np.zeros((1, len(classes)), np.float32))),
                ops.constant(np.asarray(logits, np.float32)[None]))
    sha, xsha = _save(ov.Model([y], [x], "router"), folder)
    cls = "[" + ", ".join(f'"{c}"' for c in classes) + "]"
    (folder / "plugin.toml").write_text(ROUTER_TOML.format(version=version, sha=sha, xsha=xsha, classes=cls,
                                                           threshold=threshold))
    return folder


def bright_truth(image: np.ndarray) -> np.ndarray:
    """What the threshold plugin should mark on a grey image: normalised intensity above 0.5 (approximately)."""
    from viewer.inference.preprocess import normalise, to_channels

    a = normalise(to_channels(image, 3), "percentile", 0.5, 99.5)
    return (a.mean(axis=0) > 0.5).astype(np.uint8)
