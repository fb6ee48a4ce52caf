"""Kill the running app with SIGKILL in the middle of editing; the next start recovers every edit older than the
autosave interval (the real main window, its QTimer autosave and its recovery prompt, in subprocesses)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

DRIVER = Path(__file__).with_name("sigkill_driver.py")
ROOT = Path(__file__).resolve().parents[2]
INTERVAL = 1.0


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_sigkill_mid_edit_then_recover(tmp_path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "MEDROUTE_AUTOSAVE_S": str(INTERVAL),
           "PYTHONPATH": str(ROOT)}
    rec = tmp_path / "recovery"
    rec.mkdir()
    p = subprocess.Popen([sys.executable, str(DRIVER), "edit", str(rec)], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True, env=env)
    edits = []
    try:
        deadline = time.time() + 90
        for line in p.stdout:
            if line.startswith("EDIT"):
                _, i, t, z, y, x = line.split()
                edits.append((float(t), (int(z), int(y), int(x))))
                if len(edits) >= 35:  # ~3.5 s of editing: several autosaves, and edits still going on
                    break
            assert time.time() < deadline, "the driver did not start editing"
        kill_time = time.time()
        os.kill(p.pid, signal.SIGKILL)  # no clean-up code runs
    finally:
        p.kill()
        p.wait()
    assert p.returncode == -signal.SIGKILL
    old = [v for t, v in edits if t <= kill_time - INTERVAL]
    assert len(old) >= 15
    out = tmp_path / "recovered.npy"
    r = subprocess.run([sys.executable, str(DRIVER), "recover", str(rec), str(out)], capture_output=True, text=True,
                       env=env, timeout=120)
    assert "RECOVERED" in r.stdout, r.stdout + r.stderr
    labels = np.load(out)
    missing = [v for v in old if labels[v] != 1]
    assert not missing, f"edits older than the autosave interval were lost: {missing}"
