"""The plugin SDK example (docs/example_plugin) is a real pip package: build its model, install it into a temporary
``--target`` folder, and check that the registry discovers it through the ``medroute.plugins`` entry point (without
importing it), that ``medroute models --check`` accepts it and that ``medroute segment --task`` runs it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "example_plugin"
PLUGIN_ID = "example_bright"


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """docs/example_plugin copied, its model built, then ``pip install --target`` (no network, no build isolation)."""
    work = tmp_path_factory.mktemp("example_plugin")
    src = work / "src_copy"
    shutil.copytree(EXAMPLE, src, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    subprocess.run([sys.executable, str(src / "src" / "medroute_example_plugin" / "make_model.py")], check=True,
                   capture_output=True, text=True, timeout=120)
    target = work / "site"
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                        "--no-index", "--target", str(target), str(src)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return target


def test_make_model_fills_in_checksums(installed):
    toml = next(installed.glob("medroute_example_plugin/plugins/example_bright/plugin.toml")).read_text()
    assert "0" * 64 not in toml
    assert (installed / "medroute_example_plugin" / "plugins" / "example_bright" / "model.bin").is_file()


def test_registry_discovers_entry_point(installed, monkeypatch):
    from viewer.inference.registry import Registry

    monkeypatch.syspath_prepend(str(installed))  # importlib.metadata searches sys.path at call time
    before = set(sys.modules)
    reg = Registry.scan(builtin=False, user_dirs=[], entry_points=True)
    assert PLUGIN_ID in reg.plugins, (reg.search_path, [str(e) for e in reg.problems])
    p = reg.task(PLUGIN_ID)
    assert p.source == "entry point example"
    assert p.folder == (installed / "medroute_example_plugin" / "plugins" / PLUGIN_ID).resolve()
    assert [(lab.value, lab.name) for lab in p.labels] == [(1, "bright structure")]
    assert "medroute_example_plugin" not in set(sys.modules) - before  # scanning ran no plugin code


def _cli(args, installed, tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(installed), str(ROOT)]),
               MEDROUTE_PLUGIN_DIR=str(tmp_path / "no_user_plugins"), QT_QPA_PLATFORM="offscreen")
    return subprocess.run([sys.executable, "-m", "viewer.cli", *args], capture_output=True, text=True, env=env,
                          timeout=180, cwd=tmp_path)


def test_cli_lists_checks_and_runs_it(installed, tmp_path):
    r = _cli(["models", "--json"], installed, tmp_path)
    assert r.returncode == 0, r.stderr
    tasks = {t["id"]: t for t in json.loads(r.stdout)["tasks"]}
    assert tasks[PLUGIN_ID]["source"] == "entry point example"

    folder = installed / "medroute_example_plugin" / "plugins" / PLUGIN_ID
    r = _cli(["models", "--check", str(folder), "--json"], installed, tmp_path)
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert not rep["problems"] and rep["checked"][0]["output"][-2:] == [64, 64]

    # a bright square on a dark background: the example model segments the square
    from PIL import Image

    img = np.zeros((80, 120), np.uint8)
    img[20:60, 30:90] = 200
    Image.fromarray(img).save(tmp_path / "square.png")
    r = _cli(["segment", str(tmp_path / "square.png"), "--out", str(tmp_path / "mask.png"), "--task", PLUGIN_ID,
              "--json"], installed, tmp_path)
    assert r.returncode == 0, r.stderr
    mask = np.asarray(Image.open(tmp_path / "mask.png"))
    assert mask.shape == img.shape
    inside, outside = mask[25:55, 35:85], mask[img == 0]
    assert (inside == 1).mean() > 0.95 and (outside == 0).mean() > 0.95


def test_broken_checksum_is_reported_not_raised(installed, tmp_path, monkeypatch):
    """A damaged installed plugin is listed as a problem; the scan itself goes on."""
    bad = tmp_path / "site"
    shutil.copytree(installed, bad)
    mb = bad / "medroute_example_plugin" / "plugins" / PLUGIN_ID / "model.bin"
    mb.write_bytes(mb.read_bytes()[:-4] + b"\0\0\0\0")
    monkeypatch.syspath_prepend(str(bad))
    from viewer.inference.registry import Registry

    reg = Registry.scan(builtin=False, user_dirs=[], entry_points=True)
    assert PLUGIN_ID not in reg.plugins
    assert any("sha256" in str(e) for e in reg.problems)
