"""``medroute view --screenshot`` end to end, in a subprocess (as a user runs it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from tests.ui.ui_helpers import HIPPO_IMG, HIPPO_LAB, SAG

ROOT = Path(__file__).resolve().parents[2]


def _run(*args, timeout=120):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    return subprocess.run([sys.executable, "-m", "viewer.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def _png(path):
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGB"))


def test_screenshot_2x2_with_labels(shared_data, tmp_path):
    out = tmp_path / "shot.png"
    r = _run("view", str(shared_data.joinpath(*HIPPO_IMG)), "--labels", str(shared_data.joinpath(*HIPPO_LAB)),
             "--layout", "2x2", "--screenshot", str(out), "--size", "1000x800")
    assert r.returncode == 0, r.stderr
    img = _png(out)
    assert img.shape[:2] == (800, 1000)
    red = (img[..., 0] > 150) & (img[..., 1] < 80) & (img[..., 2] < 80)
    assert red.sum() > 100  # label 1 visible


def test_screenshot_sag_series_and_bare_path_form(shared_data, tmp_path):
    out = tmp_path / "sag.png"
    r = _run(str(shared_data.joinpath(*SAG)), "--layout", "1x3", "--screenshot", str(out))
    assert r.returncode == 0, r.stderr
    assert _png(out).std() > 20


def test_sample_study_when_no_path(tmp_path):
    out = tmp_path / "sample.png"
    r = _run("view", "--screenshot", str(out))
    assert r.returncode == 0, r.stderr
    assert _png(out).std() > 20


def test_bad_inputs_exit_2_with_one_line(tmp_path, shared_data):
    r = _run("view", str(tmp_path / "missing.nii.gz"), "--screenshot", str(tmp_path / "x.png"))
    assert r.returncode == 2 and r.stderr.startswith("error: ") and "Traceback" not in r.stderr
    r = _run("view", str(shared_data.joinpath(*SAG)), "--labels", str(shared_data.joinpath(*HIPPO_LAB)),
             "--screenshot", str(tmp_path / "x.png"))
    assert r.returncode == 2 and "error: " in r.stderr and "Traceback" not in r.stderr


def test_info_command_does_not_import_qt():
    code = ("import sys; from viewer.cli import build_parser; build_parser(); "
            "print(any(m.startswith(('PySide6', 'pyqtgraph')) for m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.stdout.strip() == "False", r.stderr
