"""Fixtures: a plugin folder with fake (but real OpenVINO) plugins, and a registry over it only."""

from __future__ import annotations

import pytest

from tests.inference.fake_plugins import make_router_plugin, make_threshold_plugin


@pytest.fixture
def plugin_dir(tmp_path):
    d = tmp_path / "plugins"
    make_threshold_plugin(d / "brain_mri", "brain_mri", size=(64, 64))
    make_threshold_plugin(d / "nuclei", "nuclei", size=(64, 64))
    make_router_plugin(d / "router", logits=(5.0, 0.0, 0.0, 0.0))
    return d


@pytest.fixture
def registry(plugin_dir):
    from viewer.inference.registry import Registry

    return Registry.scan(builtin=False, user_dirs=[plugin_dir], entry_points=False)


@pytest.fixture
def engine():
    from viewer.inference.engine import get_engine

    return get_engine("CPU")
