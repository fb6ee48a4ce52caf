"""Glue between the main window and the Qt-free editing core.

Owns the :class:`~viewer.editing.Session` of the open study, the active tool, the autosave timer, the editing
actions and shortcuts, the tool bar and the tool panel dock.  Left-button events on a slice view go to the active
painting tool as neutral :class:`~viewer.editing.PointerEvent` (an event filter on each view's viewport, so the
views themselves know nothing about editing); with no tool (Navigate) they move the crosshair as before.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from ..editing import Autosaver, PointerEvent, Session, apply_model_result, find_recoveries, make_tool
from ..editing.model_result import CANCEL, needs_choice
from ..errors import MedRouteError
from ..model.labels import LabelMap
from .brush_cursor import BrushCursor
from .edit_toolbar import EditToolBar
from . import editing_prompts as prompts
from .shortcuts_dialog import ShortcutsDialog
from .tool_panel import ToolPanel

_T = QtCore.QEvent.Type
_MODS = {QtCore.Qt.KeyboardModifier.ShiftModifier: "shift", QtCore.Qt.KeyboardModifier.ControlModifier: "ctrl",
         QtCore.Qt.KeyboardModifier.AltModifier: "alt"}
TOOL_KEYS = {"navigate": "N", "brush": "B", "eraser": "E", "fill": "F", "threshold": "T", "polygon": "P",
             "picker": "K"}


def autosave_interval_s() -> float:
    try:
        return max(0.2, float(os.environ.get("MEDROUTE_AUTOSAVE_S", "5")))
    except ValueError:
        return 5.0


def view_voxel(view, widget_pos) -> tuple[tuple[float, float, float], QtCore.QPointF] | None:
    """Continuous voxel (z, y, x) (whole numbers = centres) and view position (mm) under a viewport pixel."""
    m = view.mapping
    if m is None:
        return None
    p = view.vb.mapSceneToView(view.graphics.mapToScene(widget_pos.toPoint()))
    colf = p.x() / m.col_spacing - 0.5
    rowf = p.y() / m.row_spacing - 0.5
    v = [0.0, 0.0, 0.0]
    v[m.row_axis] = (m.n_rows - 1 - rowf) if m.row_flip else rowf
    v[m.col_axis] = (m.n_cols - 1 - colf) if m.col_flip else colf
    v[m.normal_axis] = float(view.slice_index)
    return tuple(v), p  # type: ignore[return-value]


def view_point(view, voxel) -> tuple[float, float]:
    """The inverse of :func:`view_voxel`: view position (mm) of a continuous voxel (z, y, x)."""
    m = view.mapping
    r, c = voxel[m.row_axis], voxel[m.col_axis]
    rowf = (m.n_rows - 1 - r) if m.row_flip else r
    colf = (m.n_cols - 1 - c) if m.col_flip else c
    return (colf + 0.5) * m.col_spacing, (rowf + 0.5) * m.row_spacing


def _remove(path) -> None:
    """Delete a recovery file; one that cannot be deleted now (in use, read-only) is offered again next time."""
    try:
        Path(path).unlink(missing_ok=True)
    except OSError:
        pass


class EditingController(QtCore.QObject):
    sigSessionChanged = QtCore.Signal(object)  # Session or None
    _sigBackgroundDone = QtCore.Signal(object)  # (session, apply, (ok, result or exception)), from a worker thread
    sigToolChanged = QtCore.Signal(str)

    def __init__(self, win):
        super().__init__(win)
        self.win = win
        self.session: Session | None = None
        self.tool = None
        self.tool_name = "navigate"
        self.autosaver: Autosaver | None = None
        self.session_path: str | None = None
        self._saved_revision = None
        self._painting = None  # view being painted on
        self._pending: Session | None = None  # a loaded session whose label map is about to be shown
        self.busy: str | None = None  # the title of a background edit (3D fill) while it runs
        self._sigBackgroundDone.connect(self._background_done, QtCore.Qt.ConnectionType.QueuedConnection)
        self.cursors = {}
        self.bands = {}  # polygon tool: the vertices placed so far + the rubber-band segment to the mouse
        self._band_view = None
        for plane, view in win.grid.views.items():
            view.graphics.viewport().installEventFilter(self)
            view.graphics.viewport().setMouseTracking(True)
            c = BrushCursor()
            view.vb.addItem(c, ignoreBounds=True)
            self.cursors[plane] = c
            band = pg.PlotCurveItem(pen=pg.mkPen((255, 220, 60), width=2))
            band.setZValue(30)
            view.vb.addItem(band, ignoreBounds=True)
            self.bands[plane] = band
        win.state.cursor_changed.connect(self._on_cursor)
        self.timer = QtCore.QTimer(self)
        self.timer.timeout.connect(self._autosave_tick)
        self.actions: dict[str, QtGui.QAction] = {}
        self._build_menu()
        self.toolbar = EditToolBar(self)
        win.addToolBar(self.toolbar)
        self.panel = ToolPanel(self)
        scroll = QtWidgets.QScrollArea()  # the panel is tall: never let it force the window taller
        scroll.setWidget(self.panel)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        self.dock = win._dock("Editing", scroll, "editing")
        win.sigStudyLoaded.connect(self._on_study_loaded)

    # --- session lifecycle ----------------------------------------------------------------------------------
    def _on_study_loaded(self, study) -> None:
        if self.win.labelmap is None:
            self.attach(None)  # a new study without labels: the old session is gone

    def ensure_session(self) -> Session | None:
        """Editing starts on an empty label map when the study has none yet."""
        if self.session is None and self.win.study is not None:
            self.win.set_labelmap(LabelMap.empty_like(self.win.study))
        return self.session

    def attach(self, labelmap, session: Session | None = None) -> None:
        """Called by the main window whenever its label map changes (study opened, labels loaded, model)."""
        self._finish_stroke()
        if labelmap is None or self.win.study is None:
            self.session = None
        elif session is not None and session.labelmap is labelmap:
            self.session = session
        elif self._pending is not None and self._pending.labelmap is labelmap:
            self.session = self._pending
        elif self.session is None or self.session.labelmap is not labelmap:
            self.session = Session(self.win.study, labelmap, self.win.state)
        if self.autosaver is not None and self.autosaver.session is not self.session:
            self._retire_autosaver()
        if self.session is not None and (self.autosaver is None or self.autosaver.session is not self.session):
            self.session.editor.background = self._run_in_background
            self.session.history.changed.connect(lambda: self._update_actions())
            self.autosaver = Autosaver(self.session, interval_s=autosave_interval_s())
            self._saved_revision = self.session.revision
            self.timer.start(int(self.autosaver.tick_interval_s * 1000))
        elif self.session is None:
            self.autosaver = None
            self.timer.stop()
        self.set_tool(self.tool_name)
        self._update_actions()
        self.sigSessionChanged.emit(self.session)

    @property
    def editor(self):
        s = self.ensure_session()
        return None if s is None else s.editor

    def _retire_autosaver(self) -> None:
        """The session is being replaced (another study, labels loaded, window emptied).  Unsaved edits stay in its
        recovery file, written now, and are offered at the next start; otherwise the file is removed."""
        a, self.autosaver = self.autosaver, None
        if a.session.revision != self._saved_revision:
            a.flush()
            if a.last_error:
                self.win.show_error("Unsaved edits could not be kept",
                                    f"The label edits on {a.session.study.name} were not saved and could not be "
                                    f"written to the recovery file: {a.last_error}")
            else:
                self.win.statusBar().showMessage(
                    f"Unsaved label edits on {a.session.study.name} were kept for recovery at the next start.", 8000)
        else:
            a.discard()

    def _autosave_tick(self) -> None:
        if self.autosaver is not None:
            self.autosaver.tick()

    def shutdown(self) -> None:
        """Window closing: unsaved edits stay in the recovery file (offered at next start); else remove it."""
        self.timer.stop()
        a = self.autosaver
        if a is None:
            return
        if self.unsaved:
            a.flush()
        else:
            a.discard()

    def offer_recovery(self, ask=None) -> bool:
        """At start: for each recovery file left by a run that did not close cleanly (newest first), ask; a
        declined one is deleted, an accepted one is reopened (the others stay for the next start).  The recovered
        labels count as unsaved: they move to this run's own recovery file and are kept until saved."""
        for meta in find_recoveries():
            if not (ask or prompts.ask_recover)(self.win, meta):
                _remove(meta["recovery_path"])
                continue
            if not self.open_session(meta["recovery_path"]):
                return False
            self.session_path = None  # not the user's session file: "Save session" asks where
            self._saved_revision = None
            a = self.autosaver
            if a is not None:
                a.flush()
                if not a.last_error and Path(a.path) != Path(meta["recovery_path"]):
                    _remove(meta["recovery_path"])
            return True
        return False

    def open_session(self, path) -> bool:
        try:
            from ..editing.session import read_session_meta, study_reference

            ref = read_session_meta(path)["study"]
            if self.win.study is None or list(self.win.study.shape) != list(ref["shape"]) or \
                    study_reference(self.win.study)["path"] != ref["path"]:
                self.win.open_path(ref["path"], series=ref.get("series_uid") or None, blocking=True)
            s = Session.load(path, study=self.win.study)
        except MedRouteError as e:
            self.win.show_error("Cannot open the session", str(e))
            return False
        s.provenance.mark_file(s.labelmap.data)  # labels the session does not account for: protected like edits
        self.win.state.set_layout(s.view_state.layout)
        self._attach_session(s)
        self.win.state.set_cursor(s.view_state.cursor)
        self.session_path = str(path)
        return True

    def attach_loaded(self, labelmap) -> None:
        """Labels loaded from a file become the label layer; their slices have provenance "file", so that a model
        result asks before replacing them."""
        s = Session(self.win.study, labelmap, self.win.state)
        s.provenance.mark_file(labelmap.data)
        self._attach_session(s)

    def _attach_session(self, s: Session) -> None:
        s.view_state = self.win.state
        self._pending = s
        try:
            self.win.set_labelmap(s.labelmap)  # calls attach(), which picks up self._pending
        finally:
            self._pending = None

    def save_session(self, path=None) -> bool:
        if self.session is None:
            return False
        if path is None:
            start = self.session_path or str(QtCore.QDir.homePath() + f"/{self.win.study.name}.mrsession")
            path, _ = QtWidgets.QFileDialog.getSaveFileName(self.win, "Save session", start,
                                                            "MedRoute session (*.mrsession)")
            if not path:
                return False
        try:
            self.session.save(path)
        except MedRouteError as e:
            self.win.show_error("Cannot save the session", str(e))
            return False
        self.session_path = str(path)
        self._saved_revision = self.session.revision
        self.win.statusBar().showMessage(f"Session saved to {path}", 4000)
        return True

    @property
    def unsaved(self) -> bool:
        """The session changed since it was last saved (or was recovered and never saved)."""
        return self.session is not None and self.session.revision != self._saved_revision

    def maybe_save(self) -> bool:
        """Before another study or labels replace the session, or the window closes: with unsaved edits ask
        Save session... / Discard / Cancel.  True: go on (saved, discarded or nothing to save); False: stay.
        Discarded edits are not kept for recovery either; without asking (scripts) they are."""
        if not self.unsaved:
            return True
        choice = prompts.ask_save_changes(self.win, self.session.study.name)
        if choice == prompts.SAVE:
            return self.save_session()
        if choice == prompts.DISCARD:
            self._saved_revision = self.session.revision  # the recovery file is removed when the session goes
            return True
        return False

    def apply_model_result(self, labels, provenance, names=None, ask=None):
        """For the Segment action: apply a model result as one undoable step, asking before touching edits.
        Returns the history step (None: nothing changed), or CANCEL when the user kept their labels."""
        if self.session is None:
            return None
        mode = None
        if needs_choice(self.session):
            mode = (ask or prompts.ask_model_mode)(self.win)
            if mode == CANCEL:
                return CANCEL
        return apply_model_result(self.session, labels, provenance, mode, names=names)

    # --- tools ----------------------------------------------------------------------------------------------
    def set_tool(self, name: str) -> None:
        self._finish_stroke()
        self.tool_name = name
        ed = None if self.session is None else self.session.editor
        self.tool = None if name == "navigate" else make_tool(name, ed) if ed is not None else None
        a = self.actions.get(f"tool_{name}")
        if a is not None and not a.isChecked():
            a.setChecked(True)
        for c in self.cursors.values():
            c.setVisible(False)
        self._draw_band()
        self.sigToolChanged.emit(name)

    def _draw_band(self, view=None, end=None) -> None:
        """Show the vertices placed so far on ``view`` and the segment from the last one to the mouse at ``end``;
        clear the other views.  With no view, or once the polygon is closed or cancelled, every view is cleared."""
        pts = self.tool.points if view is not None and self.tool_name == "polygon" and self.tool is not None else []
        for plane, band in self.bands.items():
            v = self.win.grid.views[plane]
            xy = [view_point(v, p) for p in pts] if v is view else []
            if xy and end is not None:
                xy.append((end.x(), end.y()))
            a = np.asarray(xy, float).reshape(-1, 2)
            band.setData(a[:, 0], a[:, 1])

    def _on_cursor(self, voxel) -> None:
        """Another slice on show: a polygon being placed on the old slice is dropped (it would fill there)."""
        pts = getattr(self.tool, "points", None) if self.tool_name == "polygon" else None
        if pts and int(round(pts[0][self.tool.axis])) != voxel[self.tool.axis]:
            self.tool.cancel()
            self._draw_band()

    def _finish_stroke(self) -> None:
        if self._painting is not None and self.tool is not None:
            self.tool.cancel()
        self._painting = None

    def change_brush(self, factor: float) -> None:
        if self.editor is not None:
            self.editor.set_option(brush_mm=round(self.editor.options.brush_mm * factor, 2))
            for c in self.cursors.values():
                c.set_diameter(self.editor.options.brush_mm)

    def set_active_label(self, value: int) -> None:
        if self.editor is not None:
            self.editor.set_option(active_label=value)

    # --- long edits off the GUI thread ------------------------------------------------------------------------
    def _run_in_background(self, compute, apply, title: str) -> None:
        """``compute()`` on a worker thread (it only reads the volume), then ``apply(result)`` here, in the GUI
        thread, as one undo step.  Painting, undo and redo wait until it is done; a result that arrives after the
        study or session changed is dropped."""
        if self.busy:
            return
        self.busy = title
        session = self.session
        self.win.statusBar().showMessage(f"{title} ...")
        QtWidgets.QApplication.setOverrideCursor(QtCore.Qt.CursorShape.BusyCursor)

        def work():
            try:
                res = (True, compute())
            except Exception as e:  # noqa: BLE001 - handed to the GUI thread, shown or re-raised there
                res = (False, e)
            self._sigBackgroundDone.emit((session, apply, res))

        threading.Thread(target=work, name=f"medroute-{title}", daemon=True).start()

    def _background_done(self, payload) -> None:
        session, apply, (ok, value) = payload
        title, self.busy = self.busy, None
        QtWidgets.QApplication.restoreOverrideCursor()
        self.win.statusBar().clearMessage()
        if session is not self.session:
            return  # the study was closed or replaced meanwhile
        if not ok:
            if isinstance(value, (MedRouteError, MemoryError)):
                self.win.show_error(f"Cannot do the {title}", str(value) or "Not enough memory for this volume.")
                return
            raise value
        try:
            apply(value)
        except MedRouteError as e:
            self.win.show_error(f"Cannot do the {title}", str(e))

    def undo(self) -> None:
        if self.busy:
            return
        if self.session is not None:
            self._finish_stroke()
            self.session.editor.undo()

    def redo(self) -> None:
        if self.busy:
            return
        if self.session is not None:
            self.session.editor.redo()

    def run(self, fn, *args, **kw):
        """Run an editing operation, turning typed errors into a message."""
        if self.editor is None:
            return None
        try:
            return fn(self.editor, *args, **kw)
        except MedRouteError as e:
            self.win.show_error("Cannot do that", str(e))
            return None

    # --- mouse routing --------------------------------------------------------------------------------------
    def _view_of(self, obj):
        for plane, v in self.win.grid.views.items():
            if v.graphics.viewport() is obj:
                return plane, v
        return None, None

    def eventFilter(self, obj, ev):
        t = ev.type()
        if t not in (_T.MouseButtonPress, _T.MouseMove, _T.MouseButtonRelease, _T.MouseButtonDblClick, _T.Leave):
            return False
        plane, view = self._view_of(obj)
        if view is None or self.tool_name == "navigate" or self.win.study is None:
            return False
        if self.busy:  # a 3D fill is running: no painting until its result is in
            return t != _T.Leave
        if self.tool is None:
            self.ensure_session()  # creates the session (and the tool) on an empty label map
            if self.tool is None:
                return False
        cur = self.cursors[plane]
        if t == _T.Leave:
            cur.setVisible(False)
            return False
        got = view_voxel(view, ev.position())
        if got is None:
            return False
        voxel, vpos = got
        if self.tool_name in ("brush", "eraser", "threshold"):
            cur.set_diameter(self.editor.options.brush_mm)
            cur.move_to(vpos)
            cur.setVisible(True)
        mods = frozenset(n for k, n in _MODS.items() if ev.modifiers() & k)
        left = QtCore.Qt.MouseButton.LeftButton
        axis = view.mapping.normal_axis
        kind = None
        if t == _T.MouseButtonPress and ev.button() == left:
            self.win.grid.set_active(plane)
            self._painting = self._band_view = view
            kind = "press"
        elif t == _T.MouseButtonDblClick and ev.button() == left:
            kind = "double"
        elif t == _T.MouseMove and self._painting is view and ev.buttons() & left:
            kind = "move"
        elif t == _T.MouseButtonRelease and ev.button() == left and self._painting is view:
            self._painting = None
            kind = "release"
        if kind is not None:
            self.tool.handle(PointerEvent(kind, voxel, axis, mods))
        if self.tool_name == "polygon" and (kind is not None or view is self._band_view):
            self._draw_band(view, vpos)
        return kind is not None

    # --- actions, menus, shortcuts --------------------------------------------------------------------------
    def _act(self, key, text, slot, shortcut=None, checkable=False):
        a = QtGui.QAction(text, self.win)
        if shortcut:
            a.setShortcuts([QtGui.QKeySequence(s) for s in ([shortcut] if isinstance(shortcut, str) else shortcut)])
        a.setCheckable(checkable)
        a.triggered.connect(slot)
        self.win.addAction(a)  # shortcuts work wherever the focus is in the window
        self.actions[key] = a
        return a

    def _build_menu(self) -> None:
        from ..editing import interpolate_label

        win = self.win
        group = QtGui.QActionGroup(win)
        titles = {"navigate": "Navigate", "brush": "Brush", "eraser": "Eraser", "fill": "Fill",
                  "threshold": "Threshold paint", "polygon": "Polygon / lasso", "picker": "Pick label"}
        for name, title in titles.items():
            keys = [TOOL_KEYS[name]] + (["Esc"] if name == "navigate" else [])
            a = self._act(f"tool_{name}", title, lambda _=False, n=name: self.set_tool(n), keys, True)
            group.addAction(a)
        self.actions["tool_navigate"].setChecked(True)
        self._act("undo", "&Undo", self.undo, "Ctrl+Z")
        self._act("redo", "&Redo", self.redo, ["Ctrl+Shift+Z", "Ctrl+Y"])
        self._act("smaller", "Brush smaller", lambda: self.change_brush(1 / 1.25), "[")
        self._act("larger", "Brush larger", lambda: self.change_brush(1.25), "]")
        for n in range(1, 10):
            self._act(f"label_{n}", f"Active label {n}", lambda _=False, n=n: self.set_active_label(n), str(n))
        self._act("interpolate", "&Interpolate between edited slices",
                  lambda: self.run(lambda ed: interpolate_label(ed, ed.options.active_label)), "Ctrl+I")
        self._act("save_session", "Save &session...", lambda: self.save_session(), "Ctrl+S")
        self._act("open_session", "Open sess&ion...", self._open_session_dialog, "Ctrl+Shift+L")
        self._act("shortcuts", "&Shortcuts...", lambda: ShortcutsDialog(win).exec(), "F1")
        mb = win.menuBar()
        help_menu = next((a for a in mb.actions() if a.text().replace("&", "") == "Help"), None)
        m = QtWidgets.QMenu("&Edit", win)
        mb.insertMenu(help_menu, m) if help_menu is not None else mb.addMenu(m)
        for k in ("undo", "redo", None, *[f"tool_{n}" for n in titles], None, "smaller", "larger", "interpolate"):
            m.addSeparator() if k is None else m.addAction(self.actions[k])
        file_menu = mb.actions()[0].menu()
        quit_a = next((a for a in file_menu.actions() if a.text().replace("&", "") == "Quit"), None)
        for k in ("open_session", "save_session"):
            file_menu.insertAction(quit_a, self.actions[k])
        if help_menu is not None:
            help_menu.menu().addAction(self.actions["shortcuts"])
        self.edit_menu = m

    def _open_session_dialog(self) -> None:
        p, _ = QtWidgets.QFileDialog.getOpenFileName(self.win, "Open session", QtCore.QDir.homePath(),
                                                     "MedRoute session (*.mrsession)")
        if p and self.win.maybe_save():
            self.open_session(p)

    def _update_actions(self) -> None:
        h = None if self.session is None else self.session.history
        u, r = self.actions["undo"], self.actions["redo"]
        u.setEnabled(bool(h and h.can_undo()))
        r.setEnabled(bool(h and h.can_redo()))
        u.setText(f"&Undo {h.undo_name()}" if h and h.can_undo() else "&Undo")
        r.setText(f"&Redo {h.redo_name()}" if h and h.can_redo() else "&Redo")
