"""Build the example plugin's tiny model and finish its manifest (run once before ``pip install``).

The "network" is hand-made with OpenVINO's opset (no training, no torch): grey level of the three input
channels -> a 3x3 box blur -> ``20 * (x - 0.6)`` logits.  With the manifest's sigmoid output and threshold 0.5,
it segments whatever is brighter than 60 % of the slice's (percentile-normalised) intensity range.  Real plugins
are trained and packaged with ``medroute train`` / ``medroute quantize`` instead (docs/plugins.md).

    python make_model.py [PLUGIN_DIR]     (default: plugins/example_bright next to this file)
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path

import numpy as np


def build(size=(64, 64)):
    import openvino as ov
    import openvino.opset13 as ops

    x = ops.parameter([1, 3, *size], np.float32, name="image")
    grey = ops.convolution(x, ops.constant(np.full((1, 3, 1, 1), 1 / 3, np.float32)), [1, 1], [0, 0], [0, 0], [1, 1])
    blur = ops.convolution(grey, ops.constant(np.full((1, 1, 3, 3), 1 / 9, np.float32)), [1, 1], [1, 1], [1, 1],
                           [1, 1])
    logits = ops.multiply(ops.subtract(blur, ops.constant(np.float32(0.6))), ops.constant(np.float32(20.0)))
    logits.output(0).get_tensor().set_names({"logits"})
    return ov.Model([logits], [x], "example_bright")


def sha256(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def main(folder: Path) -> None:
    import openvino as ov

    folder.mkdir(parents=True, exist_ok=True)
    ov.save_model(build(), folder / "model.xml", compress_to_fp16=False)
    toml = folder / "plugin.toml"
    text = toml.read_text(encoding="utf-8")
    text = re.sub(r'(?m)^sha256 = ".*"$', f'sha256 = "{sha256(folder / "model.bin")}"', text)
    text = re.sub(r'(?m)^xml_sha256 = ".*"$', f'xml_sha256 = "{sha256(folder / "model.xml")}"', text)
    toml.write_text(text, encoding="utf-8")
    (folder / "metrics.json").write_text(json.dumps({"task": "example_bright", "note": "hand-made model, not "
                                                     "trained; no test metrics", "primary_int8": None}, indent=1))
    print(f"example plugin model written to {folder}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent / "plugins" / "example_bright")
