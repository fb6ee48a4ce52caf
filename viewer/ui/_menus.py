"""Menus, toolbar and shortcuts of the main window (kept apart so main_window.py stays small)."""

from __future__ import annotations

from pathlib import Path

from PySide6 import QtGui, QtWidgets

from . import resources

_STUDY_FILTER = "Images (*.nii *.nii.gz *.dcm *.png *.jpg *.jpeg *.tif *.tiff *.nrrd *.mha *.mhd DICOMDIR *.zip *.tar *.tgz *.gz *.bz2 *.xz);;All files (*)"
_LABEL_FILTER = "Label files (*.nii *.nii.gz *.png *.nrrd *.mha);;All files (*)"


class MenuActions:
    def __init__(self, win):
        self.win = win
        self.layout_actions: dict[str, QtGui.QAction] = {}
        self.recent_menu: QtWidgets.QMenu | None = None

    def refresh_recent(self) -> None:
        m = self.recent_menu
        if m is None:
            return
        m.clear()
        items = self.win.settings.recent() if self.win.persist else []
        for p in items:
            a = m.addAction(p)
            a.triggered.connect(lambda _=False, p=p: self.win.maybe_save() and self.win.open_path(p))
        if items:
            m.addSeparator()
            m.addAction("Clear list", lambda: (self.win.settings.clear_recent(), self.refresh_recent()))
        m.setEnabled(bool(items))

    # --- dialogs --------------------------------------------------------------------------------------------
    def open_file(self) -> None:
        p, _ = QtWidgets.QFileDialog.getOpenFileName(self.win, "Open study", self.win.settings.last_folder,
                                                     _STUDY_FILTER)
        if p and self.win.maybe_save():
            self.win.open_path(p)

    def open_folder(self) -> None:
        p = QtWidgets.QFileDialog.getExistingDirectory(self.win, "Open folder (DICOM series or image stack)",
                                                       self.win.settings.last_folder)
        if p and self.win.maybe_save():
            self.win.open_path(p)

    def open_labels(self) -> None:
        if self.win.study is None:
            self.win.show_error("Cannot open labels", "Open a study first; labels are shown over a study.")
            return
        p, _ = QtWidgets.QFileDialog.getOpenFileName(self.win, "Open labels", self.win.settings.last_folder,
                                                     _LABEL_FILTER)
        if p and self.win.maybe_save():
            self.win.load_labels(p)

    def save_screenshot(self) -> None:
        p, _ = QtWidgets.QFileDialog.getSaveFileName(self.win, "Save screenshot", str(Path.home() / "medroute.png"),
                                                     "PNG (*.png)")
        if p:
            self.win.grid.grab().save(p)


def build_menus(win) -> MenuActions:
    acts = MenuActions(win)
    mb = win.menuBar()

    def act(menu, text, slot, shortcut=None, icon=None, checkable=False):
        a = QtGui.QAction(text, win)
        if icon:
            a.setIcon(resources.icon(icon))
        if shortcut:
            a.setShortcut(QtGui.QKeySequence(shortcut))
        a.setCheckable(checkable)
        a.triggered.connect(slot)
        if menu is not None:
            menu.addAction(a)
        return a

    f = mb.addMenu("&File")
    a_open = act(f, "&Open file...", acts.open_file, "Ctrl+O", "open_file")
    a_folder = act(f, "Open &folder...", acts.open_folder, "Ctrl+Shift+O", "open_folder")
    a_labels = act(f, "Open &labels...", acts.open_labels, "Ctrl+L", "labels")
    acts.recent_menu = f.addMenu("&Recent studies")
    acts.refresh_recent()
    f.addSeparator()
    act(f, "&Export for retraining...", lambda: __import__("viewer.ui.export_dialog", fromlist=["x"])
        .export_for_retraining(win))
    act(f, "Save &screenshot...", acts.save_screenshot, "Ctrl+Shift+S")
    f.addSeparator()
    act(f, "&Quit", lambda: win.maybe_save() and win.close(), "Ctrl+Q")

    v = mb.addMenu("&View")
    group = QtGui.QActionGroup(win)
    for name, key in (("1x1", "Ctrl+1"), ("1x3", "Ctrl+2"), ("2x2", "Ctrl+3")):
        a = act(v, f"Layout {name}", lambda _=False, n=name: win.state.set_layout(n), key, f"layout_{name}", True)
        group.addAction(a)
        acts.layout_actions[name] = a
    acts.layout_actions[win.state.layout].setChecked(True)
    v.addSeparator()
    a_fit = act(v, "&Fit to window", win.grid.fit_all, "Ctrl+0", "fit")  # F is the fill tool
    a_cross = act(v, "Show &crosshair", lambda on: [vw.set_crosshair_visible(on) for vw in win.grid.views.values()],
                  "C", "crosshair", True)
    a_cross.setChecked(True)
    a_overlay = act(v, "Show label &overlay", lambda on: win.state.set_overlay(visible=on), "O", "labels", True)
    a_overlay.setChecked(win.state.overlay_visible)
    win.state.overlay_changed.connect(lambda: a_overlay.setChecked(win.state.overlay_visible))
    v.addSeparator()
    v.addAction(win.wl_dock.toggleViewAction())
    v.addAction(win.label_dock.toggleViewAction())

    w = mb.addMenu("&Window/level")
    for p in resources.window_presets():
        def apply(_=False, p=p):
            win.wl_panel.apply_preset(p)
            if win.persist:
                win.settings.preset = p["name"]
        act(w, p["name"], apply, p.get("shortcut"))

    h = mb.addMenu("&Help")
    act(h, "&Mouse and keys", lambda: QtWidgets.QMessageBox.information(win, "Mouse and keys", _HELP))

    tb = win.addToolBar("Main")
    tb.setObjectName("toolbar_main")
    for a in (a_open, a_folder, a_labels):
        tb.addAction(a)
    tb.addSeparator()
    for a in acts.layout_actions.values():
        tb.addAction(a)
    tb.addSeparator()
    for a in (a_fit, a_cross, a_overlay):
        tb.addAction(a)
    return acts


_HELP = """Left click / drag: move the crosshair (all views follow)
Wheel, Up/Down, Page Up/Down: change slice
Ctrl + wheel: zoom;  middle drag: pan;  Ctrl+0: fit
Right drag: window (left/right) and level (up/down)
Ctrl+1/2/3: layouts 1x1, 1x3, 2x2;  O: overlay on/off;  C: crosshair
Drop a file or folder to open it; Shift+drop a label file to show it over the study."""
