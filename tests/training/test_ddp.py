"""DDP: two gloo processes on CPU (started by torch.distributed.run) train a few steps together."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_two_process_gloo_training(tmp_path, synthetic_dataset):
    out = tmp_path / "ddp"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore", PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517",
           "-m", "viewer.cli", "train", "--task", "brain_mri", "--data", str(synthetic_dataset),
           "--device", "cpu", "--out", str(out), "--max-steps", "2", "--batch", "4", "--threads", "1"]
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stderr[-3000:]
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["world"] == 2
    log = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    assert log[-1]["step"] == 2
    assert (out / "best.pt").is_file() and (out / "last.pt").is_file()
