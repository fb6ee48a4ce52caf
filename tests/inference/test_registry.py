"""Registry and manifest validation: discovery order, checksums, clear errors, no plugin code run at scan time."""

from __future__ import annotations

import shutil
import sys

import pytest

from tests.inference.fake_plugins import make_threshold_plugin
from viewer.errors import PluginError, UnknownTaskError
from viewer.inference.manifest import load_manifest
from viewer.inference.registry import Registry


def test_scan_finds_tasks_and_router(registry):
    assert registry.task_ids() == ["brain_mri", "nuclei"]
    assert registry.router is not None and registry.router.classes[-1] == "other"
    p = registry.task("brain_mri")
    assert p.input.size == (64, 64) and p.labels[0].name == "bright" and p.labels[0].color == (255, 90, 54)
    assert p.provenance == {"plugin": "brain_mri", "version": "1.0.0", "sha256": p.sha256}
    with pytest.raises(UnknownTaskError, match="available: brain_mri, nuclei"):
        registry.task("liver")
    with pytest.raises(UnknownTaskError, match="router, not a segmentation task"):
        registry.task("router")


def test_damaged_weights_are_reported_not_loaded(plugin_dir):
    with open(plugin_dir / "nuclei" / "model.bin", "r+b") as f:
        f.seek(0)
        f.write(b"\x00\x01\x02\x03")
    reg = Registry.scan(builtin=False, user_dirs=[plugin_dir], entry_points=False)
    assert reg.task_ids() == ["brain_mri"]
    assert len(reg.problems) == 1 and "does not match the sha256" in str(reg.problems[0])
    with pytest.raises(PluginError, match="reinstall the plugin"):
        reg.get("nuclei")


@pytest.mark.parametrize("edit, message", [
    (lambda s: s.replace('kind = "segmentation"', 'kind = "classifier"'), "kind 'classifier'"),
    (lambda s: s.replace('normalisation = "percentile"', 'normalisation = "zscore"'), "unsupported normalisation"),
    (lambda s: s.replace('color = "#ff5a36"', 'color = "red"'), "#rrggbb"),
    (lambda s: s.replace("[output]", "[outputs]"), r"no \[output\] table"),
    (lambda s: s.replace('sha256 = "', 'sha256 = "zz', 1), "64-digit hex"),
    (lambda s: s + "\n[[[broken", "not valid TOML"),
    (lambda s: s + "\n[postprocess]\nbiggest_blob = true\n", r"unknown \[postprocess\] option 'biggest_blob'"),
])
def test_manifest_errors_name_the_problem(plugin_dir, edit, message):
    f = plugin_dir / "brain_mri" / "plugin.toml"
    f.write_text(edit(f.read_text()))
    with pytest.raises(PluginError, match=message):
        load_manifest(plugin_dir / "brain_mri")


def test_missing_model_file(plugin_dir):
    (plugin_dir / "brain_mri" / "model.xml").unlink()
    with pytest.raises(PluginError, match="model file model.xml is missing"):
        load_manifest(plugin_dir / "brain_mri")


def test_user_folder_newer_version_wins(tmp_path, plugin_dir, monkeypatch):
    user = tmp_path / "user"
    make_threshold_plugin(user / "brain_mri", "brain_mri", version="1.1.0")
    monkeypatch.setenv("MEDROUTE_PLUGIN_DIR", str(user))
    reg = Registry.scan(builtin=False, extra_dirs=[plugin_dir], entry_points=False)
    # plugin_dir comes last but holds 1.0.0: the newer user plugin stays
    assert reg.get("brain_mri").version == "1.1.0"
    assert [p.version for p in reg.shadowed] == ["1.0.0"]


def test_entry_point_plugins_found_without_importing(tmp_path, monkeypatch):
    """A package advertised in the medroute.plugins group is located through its files, never imported."""
    site = tmp_path / "site"
    pkg = site / "acme_plugins"
    make_threshold_plugin(pkg / "liver", "liver")
    (pkg / "__init__.py").write_text("raise RuntimeError('plugin code ran at scan time')\n")
    dist = site / "acme_plugins-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-plugins\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[medroute.plugins]\nacme = acme_plugins\n")
    monkeypatch.syspath_prepend(str(site))
    reg = Registry.scan(builtin=False, user_dirs=[], entry_points=True)
    assert "liver" in reg.task_ids(), reg.problems
    assert reg.get("liver").source == "entry point acme"
    assert "acme_plugins" not in sys.modules


def test_builtin_plugins_validate():
    """The committed plugins/ folder: every plugin there parses and matches its checksum."""
    from viewer.inference.registry import BUILTIN_DIR

    if not BUILTIN_DIR.is_dir() or not any(BUILTIN_DIR.iterdir()):
        pytest.skip("no built-in plugins committed yet")
    reg = Registry.scan(builtin=True, user_dirs=[], entry_points=False)
    assert not reg.problems, [str(e) for e in reg.problems]
    assert reg.router is not None


def test_copy_of_plugin_folder_is_still_valid(tmp_path, plugin_dir):
    shutil.copytree(plugin_dir / "nuclei", tmp_path / "copy")
    assert load_manifest(tmp_path / "copy").id == "nuclei"
