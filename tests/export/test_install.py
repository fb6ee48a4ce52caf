"""Installing plugin versions into the user plugin folder: keeps the previous one, refuses worse, rolls back."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from viewer.export.install import PluginInstallError, install_plugin, installed_versions, rollback
from viewer.inference.registry import Registry

ROUTER = Path(__file__).resolve().parents[2] / "plugins" / "router"


def _version(tmp_path: Path, version: str, primary: float, baseline: str | None, base_primary=None,
             sha: str | None = None, tag: str = "") -> Path:
    """A copy of the shipped router plugin as plugin 'demo' with the given version and metrics."""
    if not (ROUTER / "plugin.toml").is_file():
        pytest.skip("plugins/router is not built")
    d = tmp_path / "src" / (version + tag) / "demo"
    shutil.copytree(ROUTER, d)
    import re

    t = (d / "plugin.toml").read_text().replace('id = "router"', 'id = "demo"')
    t = re.sub(r'(?m)^version = "[^"]*"', f'version = "{version}"', t, count=1)
    (d / "plugin.toml").write_text(t)
    m = {"primary_int8": primary, "eval_set_sha256": "e" * 64}
    if baseline:
        m["comparison"] = {"baseline_version": baseline, "baseline_sha256": sha, "primary_baseline": base_primary,
                           "primary_new": primary, "n_cases": 12, "metric": "dice"}
    (d / "metrics.json").write_text(json.dumps(m))
    return d


def _active(root) -> str:
    return Registry.scan(builtin=False, entry_points=False, user_dirs=[root]).plugins["demo"].version


def test_install_keeps_previous_refuses_worse_and_rolls_back(tmp_path):
    root = tmp_path / "user_plugins"
    r1 = install_plugin(_version(tmp_path, "1.0.0", 0.70, None), root)
    assert r1.previous is None and _active(root) == "1.0.0"
    r2 = install_plugin(_version(tmp_path, "1.0.1", 0.74, "1.0.0", 0.70), root)
    assert r2.previous == "1.0.0" and _active(root) == "1.0.1" and installed_versions("demo", root) == ["1.0.0"]
    with pytest.raises(PluginInstallError, match="worse"):
        install_plugin(_version(tmp_path, "1.0.2", 0.60, "1.0.1", 0.74), root)
    with pytest.raises(PluginInstallError, match="not newer"):
        install_plugin(_version(tmp_path, "1.0.1", 0.80, "1.0.1", 0.74, tag="again"), root)
    with pytest.raises(PluginInstallError, match="same validation set"):
        d = _version(tmp_path, "1.0.3", 0.90, "0.9", 0.5)  # compared with another version, other set
        m = json.loads((d / "metrics.json").read_text())
        m["eval_set_sha256"] = "f" * 64
        (d / "metrics.json").write_text(json.dumps(m))
        install_plugin(d, root)
    assert _active(root) == "1.0.1"
    r4 = install_plugin(_version(tmp_path, "1.0.4", 0.60, "1.0.1", 0.74), root, force=True)
    assert r4.verdict == "forced" and _active(root) == "1.0.4"
    assert installed_versions("demo", root) == ["1.0.0", "1.0.1"]
    back = rollback("demo", root)
    assert back.version == "1.0.1" and _active(root) == "1.0.1"
    assert installed_versions("demo", root) == ["1.0.0", "1.0.4"]
    assert rollback("demo", root, version="1.0.0").version == "1.0.0" and _active(root) == "1.0.0"


def test_cli_install_and_rollback(tmp_path, capsys):
    from viewer.cli import main

    root = tmp_path / "user_plugins"
    assert main(["export", "--install-plugin", str(_version(tmp_path, "1.0.0", 0.7, None)), "--plugin-dir", str(root)]) == 0
    worse = _version(tmp_path, "1.0.1", 0.5, "1.0.0", 0.7)
    assert main(["export", "--install-plugin", str(worse), "--plugin-dir", str(root)]) == 2
    assert "worse" in capsys.readouterr().err
    assert main(["export", "--install-plugin", str(worse), "--plugin-dir", str(root), "--force"]) == 0
    assert main(["export", "--rollback", "demo", "--plugin-dir", str(root)]) == 0
    assert _active(root) == "1.0.0"
