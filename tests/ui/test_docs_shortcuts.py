"""docs/viewer.md's key table agrees with the shortcuts the window really has (and with Help > Shortcuts)."""

from __future__ import annotations

import re
from pathlib import Path

from PySide6 import QtGui

from viewer.ui.shortcuts_dialog import SHORTCUTS

DOC = Path(__file__).resolve().parents[2] / "docs" / "viewer.md"


def _doc_rows() -> dict[str, str]:
    """Action text -> key text of the doc's 'Mouse / key' table."""
    rows = [r.strip().strip("|").split("|") for r in DOC.read_text().splitlines() if r.startswith("| ")]
    return {a.strip(): k.strip() for k, a in (r[:2] for r in rows if len(r) >= 2)}


def _bound(window) -> dict[str, str]:
    """Shortcut -> action text over every action of the main window."""
    out = {}
    for a in window.findChildren(QtGui.QAction):
        for s in a.shortcuts():
            out[s.toString()] = a.text().replace("&", "")
    return out


def test_doc_keys_for_presets_fit_and_editing_are_the_real_ones(window):
    rows, bound = _doc_rows(), _bound(window)
    presets = next(k for a, k in rows.items() if a.startswith("window presets"))
    assert presets.startswith("Alt+1") and presets.endswith("Alt+6")
    assert bound["Alt+1"].startswith("Auto") and bound["Alt+6"] == "Full range"  # the keys really apply presets
    fit = next(k for a, k in rows.items() if "fit" in a)
    assert "Ctrl+0" in fit and bound["Ctrl+0"] == "Fit to window" and not re.search(r"\bF\b", fit)
    assert bound["F"] == "Fill" and bound["1"] == "Active label 1"  # so neither may be documented as view keys
    help_keys = {action: keys for keys, action in SHORTCUTS}  # Help > Shortcuts says the same
    assert help_keys["Fit to window"] == "Ctrl+0" and help_keys["Window / level presets"].startswith("Alt+1")
    tools = next(k for a, k in rows.items() if a.startswith("editing tools"))
    assert {"B", "E", "F", "T", "P", "K", "N"} <= set(re.split(r"[\s,;]+", tools))
