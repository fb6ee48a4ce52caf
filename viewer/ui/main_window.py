"""The main window: slice views in the centre, window/level and labels docks, menus, status readout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6 import QtCore, QtWidgets

from ..errors import MedRouteError
from ..io.archive import is_archive_name
from ..model.labels import LabelMap
from ..model.view_state import ViewState, percentile_levels
from . import resources
from ._menus import build_menus
from .label_panel import LabelPanel
from .load_worker import LoadWorker
from .series_dialog import SeriesDialog
from .settings import ViewerSettings
from .view_grid import ViewGrid


def load_for_viewer(path: str, series):
    """Worker body: ``("choose", series_list)`` when a folder (or .zip / tar archive) holds several series and none was named,
    else the opened Study."""
    from ..io import open_study, scan

    p = Path(path)
    if series is None and (p.is_dir() or p.name.upper() == "DICOMDIR" or (is_archive_name(p.name) and not p.name.lower().endswith((".dcm.gz", ".nii.gz")))):
        try:
            found = scan(p).get("series", [])
        except MedRouteError:
            found = []
        if len(found) > 1:
            return ("choose", found)
    return open_study(p, series=series)


def open_labels(path, study) -> LabelMap:
    from ..io import load_labels

    data = load_labels(path, study)
    names = {v: n for v, (n, _c) in resources.label_names_and_colors().items()}
    lm = LabelMap.from_array(data, study, names=None, source=str(path))
    for lab in lm.table:
        if lab.value in names and lab.name == f"Label {lab.value}":
            lab.name = names[lab.value]
    return lm


class MainWindow(QtWidgets.QMainWindow):
    sigStudyLoaded = QtCore.Signal(object)
    sigLoadFailed = QtCore.Signal(str)

    def __init__(self, settings: ViewerSettings | None = None, persist: bool = True):
        super().__init__()
        self.settings = settings if settings is not None else ViewerSettings()
        self.persist = persist
        self.study = None
        self.labelmap = None
        self.last_segmentation: dict | None = None  # the applied model result's provenance (segment_action)
        self._workers: list[LoadWorker] = []
        self._pending_labels: str | None = None
        self.setWindowTitle("MedRoute Viewer")
        self.setWindowIcon(resources.icon("app"))
        self.setAcceptDrops(True)

        self.state = ViewState()
        self.state.layout = self.settings.layout
        self.grid = ViewGrid(self.state, self)
        self.setCentralWidget(self.grid)

        from .window_level_panel import WindowLevelPanel  # pyqtgraph histogram: imported with the window

        self.wl_panel = WindowLevelPanel(self.state)
        self.label_panel = LabelPanel(self.state)
        self.wl_dock = self._dock("Window / level", self.wl_panel, "wl")
        self.label_dock = self._dock("Labels", self.label_panel, "labels")

        self.readout = QtWidgets.QLabel("")
        self.statusBar().addWidget(self.readout, 1)
        self.grid.sigHover.connect(self._on_hover)
        self.state.cursor_changed.connect(lambda v: self._on_hover(v, cursor=True))
        self.state.layout_changed.connect(self._on_layout_changed)
        self.actions_ = build_menus(self)
        from .editing_controller import EditingController  # editing tools, undo, autosave (issue 6)

        self.editing = EditingController(self)
        from .segment_action import SegmentController  # AI Segment action, progress, cancel (issue 5)

        self.segmenter = SegmentController(self)
        if persist:
            self.settings.restore_window(self)

    def _dock(self, title: str, widget, name: str) -> QtWidgets.QDockWidget:
        d = QtWidgets.QDockWidget(title, self)
        d.setObjectName(f"dock_{name}")
        d.setWidget(widget)
        self.addDockWidget(QtCore.Qt.DockWidgetArea.RightDockWidgetArea, d)
        return d

    # --- opening --------------------------------------------------------------------------------------------
    def open_path(self, path, series=None, labels: str | None = None, blocking: bool = False) -> None:
        """Open a study.  ``blocking=True`` loads in this thread and raises MedRouteError (CLI, tests)."""
        path = str(path)
        self._pending_labels = labels
        if blocking:
            result = load_for_viewer(path, series)
            if isinstance(result, tuple):  # several series, none named: take the largest, as open_study does
                from ..io import open_study

                result = open_study(path)
            self._on_loaded(path, result, raise_errors=True)
            return
        self.statusBar().showMessage(f"Opening {path} ...")
        w = LoadWorker(load_for_viewer, path, series, tag=path)
        w.finished.connect(self._on_worker_finished)
        w.failed.connect(self._on_failed)
        w.thread.finished.connect(self._reap_workers)
        self._workers.append(w)
        w.start()

    @QtCore.Slot(object)
    def _on_worker_finished(self, payload) -> None:
        path, result = payload
        self._on_loaded(path, result)

    @QtCore.Slot()
    def _reap_workers(self) -> None:
        for w in list(self._workers):
            if w.thread.isFinished():
                w.thread.wait()
                self._workers.remove(w)

    def _on_loaded(self, path: str, result, raise_errors: bool = False) -> None:
        if isinstance(result, tuple) and result and result[0] == "choose":
            dlg = SeriesDialog(result[1], self)
            if dlg.exec() == QtWidgets.QDialog.DialogCode.Accepted and dlg.selected_uid():
                self.open_path(path, series=dlg.selected_uid(), labels=self._pending_labels)
            else:
                self.statusBar().clearMessage()
            return
        self.set_study(result)
        self.statusBar().showMessage(f"Opened {result.name}", 4000)
        if self.persist:
            self.settings.add_recent(path)
            self.settings.last_folder = str(Path(path).parent if Path(path).is_file() else Path(path))
            self.actions_.refresh_recent()
        if self._pending_labels:
            lab, self._pending_labels = self._pending_labels, None
            self.load_labels(lab, raise_errors=raise_errors)
        self.sigStudyLoaded.emit(result)

    @QtCore.Slot(str)
    def _on_failed(self, message: str) -> None:
        self.statusBar().clearMessage()
        self.show_error("Cannot open the study", message)
        self.sigLoadFailed.emit(message)

    def show_error(self, title: str, message: str) -> None:
        QtWidgets.QMessageBox.warning(self, title, message)

    def set_study(self, study) -> None:
        self.study = study
        self.labelmap = None
        self.last_segmentation = None
        self.label_panel.set_table(None)
        v = study.voxels
        if study.is_rgb and v.dtype == np.uint8:
            self.state.levels = (0.0, 255.0)
        elif study.is_rgb:  # 16-bit / float colour: one set of levels from all channels (a (z, y, x*c) view)
            self.state.levels = percentile_levels(v.reshape(*v.shape[:2], -1))
        else:
            self.state.levels = percentile_levels(v)
        self.grid.set_study(study)
        self.wl_panel.set_volume(study.voxels)
        preset = self.settings.preset if self.persist else ""
        if preset and not study.is_rgb:
            self.wl_panel.apply_preset_named(preset)
        self.setWindowTitle(f"{study.name} - MedRoute Viewer")
        for a in self.actions_.layout_actions.values():
            a.setEnabled(not study.is_2d)

    def load_labels(self, path, raise_errors: bool = False) -> bool:
        if self.study is None:
            msg = "Open a study first; labels are shown over a study."
            if raise_errors:
                raise MedRouteError(msg)
            self.show_error("Cannot open labels", msg)
            return False
        try:
            lm = open_labels(path, self.study)
        except MedRouteError as e:
            if raise_errors:
                raise
            self.show_error("Cannot open labels", str(e))
            return False
        self.editing.attach_loaded(lm)  # its slices count as someone's work: a model result asks first
        return True

    def set_labelmap(self, labelmap) -> None:
        self.labelmap = labelmap
        self.last_segmentation = None  # set again by the Segment action once its result is applied
        self.grid.set_labelmap(labelmap)
        self.label_panel.set_table(None if labelmap is None else labelmap.table)
        if hasattr(self, "editing"):
            self.editing.attach(labelmap)

    # --- status readout -------------------------------------------------------------------------------------
    def readout_text(self, voxel) -> str:
        if self.study is None or voxel is None:
            return ""
        z, y, x = (int(v) for v in voxel)
        world = self.study.geometry.index_to_world((x, y, z))
        val = self.study.voxels[z, y, x]
        vs = " ".join(f"{v:g}" for v in np.ravel(val)) if np.ndim(val) else f"{val:g}"
        text = (f"voxel (i,j,k) {x} {y} {z}   LPS mm {world[0]:.1f} {world[1]:.1f} {world[2]:.1f}   "
                f"value {vs}")
        if self.labelmap is not None:
            lv = self.labelmap.value_at((z, y, x))
            text += f"   label {lv}" + (f" {self.labelmap.table.name_of(lv)}" if lv else "")
        return text

    def _on_hover(self, voxel, cursor: bool = False) -> None:
        text = self.readout_text(voxel)
        if cursor:
            self.grid.info.set_cursor_text(("Cursor: " + text) if text else "")
        if text or not cursor:
            self.readout.setText(text)

    def _on_layout_changed(self, layout: str) -> None:
        if self.persist:
            self.settings.layout = layout
        a = self.actions_.layout_actions.get(layout)
        if a is not None:
            a.setChecked(True)

    # --- drag and drop / close ------------------------------------------------------------------------------
    def maybe_save(self) -> bool:
        """Every user path that replaces the study or its labels, or closes the window, asks this first: unsaved
        edits -> Save session... / Discard / Cancel.  False: the user chose to stay."""
        return not hasattr(self, "editing") or self.editing.maybe_save()

    def dragEnterEvent(self, ev):
        if ev.mimeData().hasUrls() and any(u.isLocalFile() for u in ev.mimeData().urls()):
            ev.acceptProposedAction()

    def dropEvent(self, ev):
        paths = [u.toLocalFile() for u in ev.mimeData().urls() if u.isLocalFile()]
        if not paths:
            return
        ev.acceptProposedAction()
        shift = bool(ev.modifiers() & QtCore.Qt.KeyboardModifier.ShiftModifier)
        if not self.maybe_save():
            return
        if shift and self.study is not None:
            self.load_labels(paths[0])
        else:
            self.open_path(paths[0])

    def closeEvent(self, ev):
        # the user closing the window asks (File > Quit asks before it closes); a close from code (scripts,
        # tests, benchmarks) never waits for an answer: unsaved edits stay in the recovery file
        if ev.spontaneous() and not self.maybe_save():
            ev.ignore()
            return
        if hasattr(self, "editing"):
            self.editing.shutdown()
        if hasattr(self, "segmenter"):
            self.segmenter.shutdown()
        if self.persist:
            self.settings.save_window(self)
            self.settings.sync()
        for w in list(self._workers):
            w.thread.quit()
            w.thread.wait(2000)
        super().closeEvent(ev)
