"""Questions the editing code asks the user: recover after a crash, what to do with manual edits when a model
result arrives (replace / fill only empty slices / cancel), and whether to save unsaved edits before the study or
its labels are replaced or the window closes.  Plain functions over QMessageBox (tests monkeypatch them)."""

from __future__ import annotations

import time

from PySide6 import QtWidgets

from ..editing.model_result import CANCEL, FILL_EMPTY, REPLACE

SAVE, DISCARD = "save", "discard"


def ask_recover(parent, meta: dict) -> bool:
    """Offer to recover the autosaved work described by ``meta`` (one of ``find_recoveries``)."""
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(meta.get("saved", 0)))
    name = meta.get("study", {}).get("name", "a study")
    box = QtWidgets.QMessageBox(parent)
    box.setIcon(QtWidgets.QMessageBox.Icon.Question)
    box.setWindowTitle("Recover unsaved work?")
    box.setText(f"Label edits on {name} were never saved: MedRoute stopped, or the study was closed, before they "
                f"were. They were autosaved at {when}.")
    box.setInformativeText("Recover them now? If you discard them they cannot be brought back.")
    rec = box.addButton("Recover", QtWidgets.QMessageBox.ButtonRole.AcceptRole)
    box.addButton("Discard", QtWidgets.QMessageBox.ButtonRole.DestructiveRole)
    box.setDefaultButton(rec)
    box.exec()
    return box.clickedButton() is rec


def ask_model_mode(parent) -> str:
    """Manual edits exist: replace them, fill only empty slices, or cancel?  Returns the mode."""
    box = QtWidgets.QMessageBox(parent)
    box.setIcon(QtWidgets.QMessageBox.Icon.Question)
    box.setWindowTitle("Keep your edits?")
    box.setText("This study has labels you drew, corrected or loaded from a file.")
    box.setInformativeText("Replace them with the model result, use the model only on slices that are still "
                           "empty, or cancel? Either way the model result can be undone with Ctrl+Z.")
    fill = box.addButton("Fill empty slices only", QtWidgets.QMessageBox.ButtonRole.AcceptRole)
    rep = box.addButton("Replace", QtWidgets.QMessageBox.ButtonRole.DestructiveRole)
    cancel = box.addButton(QtWidgets.QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(fill)
    box.exec()
    clicked = box.clickedButton()
    return FILL_EMPTY if clicked is fill else REPLACE if clicked is rep else CANCEL if clicked is cancel else CANCEL


def ask_save_changes(parent, name: str) -> str:
    """Unsaved label edits on study ``name`` are about to be replaced: SAVE, DISCARD or CANCEL."""
    box = QtWidgets.QMessageBox(parent)
    box.setIcon(QtWidgets.QMessageBox.Icon.Warning)
    box.setWindowTitle("Save your edits?")
    box.setText(f"The label edits on {name} have not been saved.")
    box.setInformativeText("Save them as a session first, discard them, or cancel and stay on this study?")
    save = box.addButton("Save session...", QtWidgets.QMessageBox.ButtonRole.AcceptRole)
    discard = box.addButton(QtWidgets.QMessageBox.StandardButton.Discard)
    box.addButton(QtWidgets.QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(save)
    box.exec()
    clicked = box.clickedButton()
    return SAVE if clicked is save else DISCARD if clicked is discard else CANCEL
