"""The editing tool panel: active label, brush, threshold, fill, islands, smoothing, interpolation, clearing,
label statistics and provenance.  It only reads the session and calls the controller / editor; it computes nothing.
"""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from ..editing import interpolate_label, keep_largest, label_statistics, remove_small_islands, smooth
from ..model.labels import default_label
from .window_level_panel import fit_to_span


def _spin(lo, hi, val, step=1.0, decimals=1, suffix=""):
    s = QtWidgets.QDoubleSpinBox()
    s.setRange(lo, hi)
    s.setDecimals(decimals)
    s.setSingleStep(step)
    s.setValue(val)
    if suffix:
        s.setSuffix(suffix)
    return s


class ToolPanel(QtWidgets.QWidget):
    def __init__(self, controller, parent=None):
        super().__init__(parent)
        self.c = controller
        self._syncing = False
        self.tool_label = QtWidgets.QLabel("Tool: Navigate")
        self.label_spin = QtWidgets.QSpinBox()
        self.label_spin.setRange(1, 255)
        self.label_name = QtWidgets.QLabel("")
        self.brush = _spin(0.1, 500, 5.0, 0.5, 1, " mm")
        self.brush_3d = QtWidgets.QCheckBox("3D sphere")
        self.preserve = QtWidgets.QCheckBox("Don't overwrite other labels")
        self.th_lo = _spin(-1e6, 1e6, 0, 10, 1)
        self.th_hi = _spin(-1e6, 1e6, 1000, 10, 1)
        self.tol = _spin(0, 1e6, 10, 1, 1)
        self.fill_3d = QtWidgets.QCheckBox("3D fill")
        self.min_vox = QtWidgets.QSpinBox()
        self.min_vox.setRange(1, 10_000_000)
        self.min_vox.setValue(20)
        self.radius = _spin(0.1, 50, 2.0, 0.5, 1, " mm")
        self.stats = QtWidgets.QTableWidget(0, 4)
        self.stats.setHorizontalHeaderLabels(("Value", "Name", "Voxels", "mL"))
        self.stats.verticalHeader().setVisible(False)
        self.stats.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.stats.horizontalHeader().setStretchLastSection(True)
        self.provenance = QtWidgets.QLabel("")
        self.provenance.setWordWrap(True)

        form = QtWidgets.QFormLayout()
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.label_spin)
        row.addWidget(self.label_name, 1)
        form.addRow("Active label", row)
        brow = QtWidgets.QHBoxLayout()
        brow.addWidget(self.brush)
        brow.addWidget(self.brush_3d)
        form.addRow("Brush", brow)
        form.addRow("", self.preserve)
        trow = QtWidgets.QHBoxLayout()
        trow.addWidget(self.th_lo)
        trow.addWidget(QtWidgets.QLabel("to"))
        trow.addWidget(self.th_hi)
        form.addRow("Threshold", trow)
        frow = QtWidgets.QHBoxLayout()
        frow.addWidget(self.tol)
        frow.addWidget(self.fill_3d)
        form.addRow("Fill tolerance", frow)

        def button(text, slot, tip=""):
            b = QtWidgets.QPushButton(text)
            b.clicked.connect(slot)
            b.setToolTip(tip)
            return b

        irow = QtWidgets.QHBoxLayout()
        irow.addWidget(self.min_vox)
        irow.addWidget(button("Remove smaller", self._remove_islands, "Erase islands smaller than this (voxels)"))
        irow.addWidget(button("Keep largest", lambda: self.c.run(lambda ed: keep_largest(ed, ed.options.active_label))))
        form.addRow("Islands", irow)
        srow = QtWidgets.QHBoxLayout()
        srow.addWidget(self.radius)
        srow.addWidget(button("Open", lambda: self._smooth("opening"), "Remove specks and spurs"))
        srow.addWidget(button("Close", lambda: self._smooth("closing"), "Fill small gaps and notches"))
        form.addRow("Smooth", srow)
        grid = QtWidgets.QGridLayout()
        grid.addWidget(button("Interpolate slices", lambda: self.c.run(
            lambda ed: interpolate_label(ed, ed.options.active_label)), "Shape-based, between edited slices"), 0, 0)
        grid.addWidget(button("Clear slice", self._clear_slice, "Clear the active label on the shown slice"), 0, 1)
        grid.addWidget(button("Clear label", lambda: self.c.run(lambda ed: ed.clear_label(ed.options.active_label))),
                       1, 0)
        grid.addWidget(button("Delete label", self._delete_label), 1, 1)
        grid.addWidget(button("New label", self._new_label, "Add the next free label value and make it active"), 2, 0)
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.tool_label)
        lay.addLayout(form)
        lay.addLayout(grid)
        lay.addWidget(QtWidgets.QLabel("Label statistics"))
        lay.addWidget(self.stats, 1)
        lay.addWidget(self.provenance)

        self.label_spin.valueChanged.connect(lambda v: self._set(active_label=v))
        self.brush.valueChanged.connect(lambda v: self._set(brush_mm=v))
        self.brush_3d.toggled.connect(lambda on: self._set(brush_3d=on))
        self.preserve.toggled.connect(lambda on: self._set(preserve_others=on))
        # the other bound keeps its exact value, not the box's rounded display
        self.th_lo.valueChanged.connect(lambda v: self._set(threshold=(v, self._threshold()[1])))
        self.th_hi.valueChanged.connect(lambda v: self._set(threshold=(self._threshold()[0], v)))
        self.tol.valueChanged.connect(lambda v: self._set(fill_tolerance=v))
        self.fill_3d.toggled.connect(lambda on: self._set(fill_3d=on))
        self._stats_timer = QtCore.QTimer(self)
        self._stats_timer.setSingleShot(True)
        self._stats_timer.setInterval(250)
        self._stats_timer.timeout.connect(self.refresh_stats)
        controller.sigSessionChanged.connect(self._on_session)
        controller.sigToolChanged.connect(lambda n: self.tool_label.setText(f"Tool: {n.capitalize()}"))

    # --- session ----------------------------------------------------------------------------------------------
    def _on_session(self, session) -> None:
        """A new session: follow it.  None (a study without labels, or none): nothing of the previous study's
        labels stays on show; the threshold boxes show this study's default range."""
        study = session.study if session is not None else self.c.win.study
        lo, hi = session.view_state.levels if session is not None else self.c.win.state.levels
        default = (lo + 0.5 * (hi - lo), hi)
        if session is not None:
            ed = session.editor
            ed.options_changed.connect(self.sync)
            session.history.changed.connect(lambda: self._stats_timer.start())
            session.labelmap.table.changed.connect(lambda _v=0: self._stats_timer.start())
            session.labelmap.table.changed.connect(lambda _v=0: self.sync())  # a model result or rename: the name
            if ed.options.threshold is None:
                ed.options.threshold = default
        self._syncing = True  # new decimals round the shown values; the options keep theirs
        try:
            if study is not None:
                rlo, rhi = study.intensity_range()
                for box in (self.th_lo, self.th_hi, self.tol):
                    fit_to_span(box, rhi - rlo if rhi > rlo else 1.0)
            if session is None:
                self.label_name.setText("")
                self.th_lo.setValue(default[0])
                self.th_hi.setValue(default[1])
        finally:
            self._syncing = False
        if session is not None:
            self.sync()  # (with no session, sync would start one: the controller's editor makes it)
        self.refresh_stats()

    def _set(self, **kw) -> None:
        if not self._syncing and self.c.editor is not None:
            self.c.editor.set_option(**kw)

    def _threshold(self) -> tuple[float, float]:
        s = self.c.session  # not the controller's editor: that would start a session
        t = None if s is None else s.editor.options.threshold
        return t if t is not None else (self.th_lo.value(), self.th_hi.value())

    def sync(self) -> None:
        ed = self.c.editor
        if ed is None:
            return
        o = ed.options
        self._syncing = True
        try:
            self.label_spin.setValue(o.active_label)
            self.label_name.setText(ed.labelmap.table.name_of(o.active_label))
            self.brush.setValue(o.brush_mm)
            self.brush_3d.setChecked(o.brush_3d)
            self.preserve.setChecked(o.preserve_others)
            if o.threshold is not None:
                self.th_lo.setValue(o.threshold[0])
                self.th_hi.setValue(o.threshold[1])
            self.tol.setValue(o.fill_tolerance)
            self.fill_3d.setChecked(o.fill_3d)
        finally:
            self._syncing = False

    def refresh_stats(self) -> None:
        s = self.c.session
        rows = (label_statistics(s.labelmap, s.study.size_in_mm_known)
                if s is not None else [])
        self.stats.setRowCount(len(rows))
        for r, d in enumerate(rows):
            ml = "n/a (no mm)" if d["ml"] is None else f"{d['ml']:.2f}"
            for col, text in enumerate((str(d["value"]), d["name"], str(d["voxels"]), ml)):
                self.stats.setItem(r, col, QtWidgets.QTableWidgetItem(text))
        n = s.provenance.counts() if s is not None else {}
        self.provenance.setText("" if s is None else
                                f"Slices: {n['model']} from a model, {n['edited']} corrected, {n['hand']} drawn by hand"
                                + (f", {n['file']} from a label file" if n.get("file") else "")
                                + f".  Undo steps: {len(s.history.undo_stack)}")

    # --- operations -----------------------------------------------------------------------------------------
    def _remove_islands(self) -> None:
        self.c.run(lambda ed: remove_small_islands(ed, ed.options.active_label, self.min_vox.value()))

    def _smooth(self, op: str) -> None:
        self.c.run(lambda ed: smooth(ed, ed.options.active_label, op, self.radius.value()))

    def _clear_slice(self) -> None:
        view = self.c.win.grid.active_view()
        if view.mapping is not None:
            self.c.run(lambda ed: ed.clear_slice(view.mapping.normal_axis, view.slice_index, ed.options.active_label))

    def _delete_label(self) -> None:
        """Delete the active label; the lowest label left becomes active (1 when none is left)."""
        self.c.run(lambda ed: ed.delete_label(ed.options.active_label))
        ed = self.c.editor
        if ed is not None:
            ed.set_option(active_label=min((v for v in ed.labelmap.table.values if v), default=1))

    def _new_label(self) -> None:
        ed = self.c.editor
        if ed is None:
            return
        used = set(ed.labelmap.table.values)
        v = next((i for i in range(1, 256) if i not in used), None)
        if v is not None:
            ed.labelmap.table.add(default_label(v))
            ed.set_option(active_label=v)
