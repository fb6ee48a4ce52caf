"""The INT8 plugins in plugins/ are complete, match their hashes, run in OpenVINO and report honest metrics."""

from __future__ import annotations

import hashlib
import json
import tomllib
from pathlib import Path

import numpy as np
import pytest

PLUGINS = Path(__file__).resolve().parents[2] / "plugins"
IDS = ["router", "brain_mri", "nuclei", "polyp"]


@pytest.mark.parametrize("pid", IDS)
def test_shipped_plugin(pid):
    d = PLUGINS / pid
    if not (d / "plugin.toml").is_file():
        pytest.skip(f"{d} not built yet (python -m viewer.training.train_all)")
    import openvino as ov

    man = tomllib.loads((d / "plugin.toml").read_text())
    assert man["plugin"]["id"] == pid and man["model"]["precision"] == "INT8"
    assert man["model"]["sha256"] == hashlib.sha256((d / "model.bin").read_bytes()).hexdigest()
    assert man["model"]["xml_sha256"] == hashlib.sha256((d / "model.xml").read_bytes()).hexdigest()
    assert (d / "MODEL_CARD.md").is_file()
    m = json.loads((d / "metrics.json").read_text())
    assert {"test_fp32", "test_int8", "latency_ms_median", "split"} <= set(m)
    assert isinstance(m["meets_target"], bool)
    c = ov.Core().compile_model(d / "model.xml", "CPU")
    h, w = man["input"]["size"]
    out = c({0: np.zeros((1, man["input"]["channels"], h, w), np.float32)})[0]
    if pid == "router":
        assert out.shape == (1, len(man["router"]["classes"]))
    else:
        assert out.shape == (1, 1, h, w)
