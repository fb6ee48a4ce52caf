"""Finding and loading files under the top-level ``resources/`` folder (stylesheet, icons, presets, colours)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from PySide6 import QtGui

_DIR = Path(__file__).resolve().parent.parent.parent / "resources"

_FALLBACK_PRESETS = [{"name": "Auto (0.5-99.5 %)", "kind": "percentile", "low": 0.5, "high": 99.5, "shortcut": "Alt+1"}]


def resources_dir() -> Path:
    return _DIR


def icon(name: str) -> QtGui.QIcon:
    p = _DIR / "icons" / f"{name}.svg"
    return QtGui.QIcon(str(p)) if p.is_file() else QtGui.QIcon()


def stylesheet() -> str:
    p = _DIR / "style" / "dark.qss"
    return p.read_text(encoding="utf-8") if p.is_file() else ""


@lru_cache(maxsize=1)
def window_presets() -> list[dict]:
    p = _DIR / "presets" / "window_level.json"
    try:
        return list(json.loads(p.read_text(encoding="utf-8"))["presets"])
    except (OSError, ValueError, KeyError):
        return list(_FALLBACK_PRESETS)


@lru_cache(maxsize=1)
def label_names_and_colors() -> dict[int, tuple[str, tuple[int, int, int]]]:
    p = _DIR / "colortables" / "labels.json"
    try:
        items = json.loads(p.read_text(encoding="utf-8"))["labels"]
        return {int(d["value"]): (str(d["name"]), tuple(int(c) for c in d["color"])[:3]) for d in items}
    except (OSError, ValueError, KeyError):
        return {}
