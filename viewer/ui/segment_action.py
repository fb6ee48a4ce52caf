"""The Segment action: toolbar button (Ctrl+R), "Segment on open", task override, progress with Cancel.

Flow: the worker routes the study, segments the *visible* slice first and announces it; we show it at once as a
preview overlay (the view grid draws a GUI-thread copy of the worker's output; the label layer is untouched), then the
rest of the volume fills in with a progress bar.  When the volume is done, the result becomes the label layer as
one undoable step through the editing controller (``apply_model_result``: asks before overwriting manual edits),
with provenance = plugin id + version.  Cancel stops the background work and restores the previous overlay.
Compiled models are prepared in the background when a study opens, so the first overlay comes quickly.

The path to the first overlay is kept short (``benchmarks/bench_segment_gui.py`` measures it with the real
plugins; target 150 ms): the open-time warm-up also imports the pipeline and runs the router once (first-call
costs), and pauses its remaining compiles while a press waits for its visible slice; the preview layer is put
into the views as soon as the study is routed (while the visible slice is inferred), so the first slice itself
is one slice copy and a one-slice repaint; the worker starts the rest of the volume only once that overlay is
shown (see ``SegmentWorker.shown``), so the background stream does not compete with it for the CPU.

Threads: the worker computes in a Python thread and hands results over with queued signals; only this
controller, in the GUI thread, touches the preview/label maps and the views (see ``segment_worker``).
"""

from __future__ import annotations

import threading
import time

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from ..editing.model_result import CANCEL
from ..model.labels import Label, LabelMap, LabelTable
from .segment_worker import SegmentWorker

KEY_ON_OPEN = "segment_on_open"


class SegmentController(QtCore.QObject):
    sigFirstSlice = QtCore.Signal(int, float)  # z, seconds since the action
    sigDone = QtCore.Signal(object)  # SegmentationResult
    sigCancelled = QtCore.Signal(int)
    sigFailed = QtCore.Signal(str)

    def __init__(self, win, device: str = "CPU"):
        super().__init__(win)
        self.win, self.device = win, device
        self.task = "auto"
        self.worker: SegmentWorker | None = None
        self.preview: LabelMap | None = None
        self.t_action = 0.0
        self.first_latency: float | None = None
        self.notes: list[str] = []  # what the user should know about the segmented input (a 4D image's volume)
        self._registry = self._engine = None
        self._retired: list[SegmentWorker] = []  # ended workers whose thread may still be returning
        self._shown = 0  # slices done when the preview was last refreshed
        self._no_first_pending = threading.Event()  # clear while a press waits for its visible slice
        self._no_first_pending.set()
        self.timer = QtCore.QTimer(self)
        self.timer.setInterval(150)
        self.timer.timeout.connect(self._poll)
        self._build_ui()
        win.sigStudyLoaded.connect(self._on_study_loaded)

    # --- UI -------------------------------------------------------------------------------------------------
    def _build_ui(self) -> None:
        w = self.win
        self.action = QtGui.QAction("Segment", w)
        self.action.setShortcut(QtGui.QKeySequence("Ctrl+R"))
        self.action.setToolTip("Segment the study with the routed AI model (Ctrl+R)")
        self.action.triggered.connect(lambda: self.segment())
        self.on_open = QtGui.QAction("Segment on open", w, checkable=True)
        self.on_open.setChecked(bool(w.persist and str(w.settings.q.value(KEY_ON_OPEN, "false")).lower() == "true"))
        self.on_open.toggled.connect(lambda on: w.persist and w.settings.q.setValue(KEY_ON_OPEN, on))
        self.cancel_action = QtGui.QAction("Cancel segmentation", w, enabled=False)
        self.cancel_action.triggered.connect(self.cancel)
        menu = w.menuBar().addMenu("&AI")
        menu.addAction(self.action)
        menu.addAction(self.cancel_action)
        self.task_menu = menu.addMenu("Task")
        self.task_group = QtGui.QActionGroup(w)
        menu.addAction(self.on_open)
        self.toolbar = w.addToolBar("Segment")
        self.toolbar.setObjectName("toolbar_segment")
        self.toolbar.addAction(self.action)
        self.bar = QtWidgets.QProgressBar()
        self.bar.setMaximumWidth(180)
        self.bar.setVisible(False)
        self.cancel_btn = QtWidgets.QToolButton()
        self.cancel_btn.setDefaultAction(self.cancel_action)
        self.cancel_btn.setVisible(False)
        w.statusBar().addPermanentWidget(self.bar)
        w.statusBar().addPermanentWidget(self.cancel_btn)
        self.decision_label = QtWidgets.QLabel("")
        w.statusBar().addPermanentWidget(self.decision_label)

    def _fill_task_menu(self) -> None:
        self.task_menu.clear()
        for tid in ["auto", *self.registry.task_ids()]:
            a = QtGui.QAction("Automatic (router)" if tid == "auto" else tid, self.win, checkable=True)
            a.setData(tid)
            a.setChecked(tid == self.task)
            a.triggered.connect(lambda _=False, t=tid: self.set_task(t))
            self.task_group.addAction(a)
            self.task_menu.addAction(a)

    def set_task(self, task: str) -> None:
        """AI > Task: "auto" (the router decides) or a task id, for this study only."""
        self.task = task
        for a in self.task_group.actions():
            a.setChecked(a.data() == task)

    @property
    def registry(self):
        if self._registry is None:
            from ..inference.registry import default_registry

            self._registry = default_registry()
            self._fill_task_menu()
        return self._registry

    @property
    def engine(self):
        if self._engine is None:
            from ..inference.engine import get_engine

            self._engine = get_engine(self.device)
            if self._engine.message:
                self.win.statusBar().showMessage(self._engine.message, 8000)
        return self._engine

    # --- warm-up --------------------------------------------------------------------------------------------
    def _on_study_loaded(self, study) -> None:
        self.cancel()  # a result for the previous study is never applied to this one
        self.decision_label.setText("")  # the previous study's routing and notes do not describe this one
        self.decision_label.setToolTip("")
        reg, eng = self.registry, self.engine
        self.set_task("auto")  # a task chosen for the previous study is no choice for this one
        idle = self._no_first_pending

        def warm():  # compile the router and the task models off the UI thread (cached on disk too)
            try:
                from ..inference import pipeline  # noqa: F401 - imported here, not on the first press
                from ..inference.router import router_probabilities

                if any(p.postprocess for p in reg.tasks):  # polyp's largest-component step: SimpleITK's first
                    import SimpleITK  # noqa: F401 - import costs 0.1-0.4 s, not to be paid by the first overlay
                if reg.router is not None:
                    eng.warm_up(reg.router)
                    router_probabilities(reg.router, eng, np.zeros((8, 8), np.float32))  # first-call costs
                for p in reg.tasks:
                    idle.wait(5.0)  # a press waits for its visible slice: let it have the CPU first
                    eng.warm_up(p, ("latency",))
            except Exception:  # noqa: BLE001 - the Segment action reports real problems
                pass

        # A headless render (persist=False: --screenshot) never segments; compiling there would only delay exit.
        if getattr(self.win, "persist", True):
            self._warm_thread = threading.Thread(target=warm, daemon=True, name="medroute-warmup")
            self._warm_thread.start()
        if self.on_open.isChecked():
            QtCore.QTimer.singleShot(0, self.segment)

    # --- run ------------------------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.worker is not None

    def segment(self, task: str | None = None) -> bool:
        study = self.win.study
        if study is None or self.running:
            return False
        self.t_action = time.perf_counter()
        self.first_latency = None
        z = int(np.clip(self.win.state.cursor[0], 0, study.shape[0] - 1))
        out = np.zeros(study.shape, np.uint8)
        self.preview = None
        self._shown = 0
        from ..inference.pipeline import study_input

        voxels, self.notes = study_input(study)  # a 4D image: its first volume, as the views show it
        w = SegmentWorker(voxels, out, z, task or self.task, self.registry, self.engine)
        w.study = study  # what it segments (its voxels may be a view of one volume of the study's)
        queued = QtCore.Qt.ConnectionType.QueuedConnection  # emitted in the worker thread, run in this one
        w.routed.connect(self._on_routed, queued)
        w.sliceReady.connect(self._on_first_slice, queued)
        w.finished.connect(self._on_finished, queued)
        w.cancelled.connect(self._on_cancelled, queued)
        w.failed.connect(self._on_failed, queued)
        self.worker = w
        self._no_first_pending.clear()
        self.timer.start()
        self.action.setEnabled(False)
        self.cancel_action.setEnabled(True)
        self.bar.setRange(0, study.shape[0])
        self.bar.setValue(0)
        self.bar.setVisible(True)
        self.cancel_btn.setVisible(True)
        self.win.statusBar().showMessage(" ".join(["Segmenting ...", *self.notes]))
        w.start()
        return True

    def cancel(self) -> None:
        if self.worker is not None:
            self.worker.cancel()

    def _stale(self) -> bool:
        """The running worker was cancelled, or segments a study that is no longer the one on show."""
        w = self.worker
        return w.token.cancelled or self.win.study is None or w.study is not self.win.study

    @QtCore.Slot(object)
    def _on_routed(self, payload) -> None:
        if self.worker is None:
            return  # defensive: nothing runs (each worker ends with exactly one of finished/cancelled/failed)
        if self._stale():  # its cancelled/finished signal follows; never show a preview of another study
            return
        plugin, decision = payload
        self.decision_label.setText(f"{plugin.name}: {decision.describe()}")
        self.decision_label.setToolTip(" ".join(self.notes))
        table = LabelTable([Label(lab.value, lab.name, lab.color) for lab in plugin.labels])
        # the views draw a GUI-thread-owned copy: the worker's array is written by OpenVINO threads meanwhile
        self.preview = LabelMap(np.zeros_like(self.worker.out), self.win.study.geometry, table,
                                source=f"{plugin.id} {plugin.version}")
        # shown now, still empty, while the worker infers the visible slice: the views and the info pane are
        # set up off the first overlay's path, which is then one slice copy and a one-slice repaint
        self.win.grid.set_labelmap(self.preview)

    @QtCore.Slot(int)
    def _on_first_slice(self, z: int) -> None:
        w = self.worker
        if self.preview is None or w is None or self._stale():
            if w is not None:
                w.shown.set()
            return
        self.preview.data[z] = w.out[z]
        if self.win.grid.labelmap is not self.preview:
            self.win.grid.set_labelmap(self.preview)
        _, ny, nx = self.preview.shape
        self.preview.notify((z, z + 1, 0, ny, 0, nx))
        w.shown.set()  # the worker goes on with the rest of the volume
        self._no_first_pending.set()
        self.first_latency = time.perf_counter() - self.t_action
        self.win.statusBar().showMessage(f"First slice in {self.first_latency * 1000:.0f} ms; segmenting the rest ...")
        self.sigFirstSlice.emit(z, self.first_latency)

    @QtCore.Slot()
    def _poll(self) -> None:
        """Progress (polled: the worker's counters are written by OpenVINO threads); fills in the preview."""
        w = self.worker
        if w is None:
            return
        done = w.done
        self.bar.setValue(done)
        if done != self._shown and self.preview is not None and self.win.grid.labelmap is self.preview:
            self._shown = done
            z, y, x = self.preview.shape
            np.copyto(self.preview.data, w.out)  # a GUI-thread copy: the views never see a buffer being written
            self.preview.changed.emit((0, z, 0, y, 0, x))

    def _end(self) -> None:
        self.timer.stop()
        self._no_first_pending.set()
        w, self.worker = self.worker, None
        # its thread may still be returning from _run: keep the QObject until then, so that it is destroyed here
        # in the GUI thread (its owner) and never by the worker thread dropping the last reference
        self._retired = [r for r in self._retired if r.is_alive()]
        if w is not None:
            self._retired.append(w)
        self.action.setEnabled(True)
        self.cancel_action.setEnabled(False)
        self.bar.setVisible(False)
        self.cancel_btn.setVisible(False)

    def _restore_overlay(self) -> None:
        if self.win.grid.labelmap is not self.win.labelmap:
            self.win.grid.set_labelmap(self.win.labelmap)

    @QtCore.Slot(object)
    def _on_finished(self, result) -> None:
        if self.worker is None:
            return
        if self.win.study is None or self.worker.study is not self.win.study:  # another study meanwhile
            self._end()
            self._restore_overlay()
            self.sigCancelled.emit(result.slices_done)
            return
        self._end()
        names = {lab.value: (lab.name, lab.color) for lab in result.plugin.labels}
        prov = result.provenance
        if self.win.labelmap is None:
            self.win.set_labelmap(LabelMap.empty_like(self.win.study))
        else:
            self._restore_overlay()
        editing = getattr(self.win, "editing", None)
        self.preview = None
        if editing is not None and hasattr(editing, "apply_model_result"):
            if editing.apply_model_result(result.labels, prov, names=names) == CANCEL:  # the user kept their labels
                self.win.statusBar().showMessage("Model result discarded; your labels are unchanged.", 6000)
                self.sigDone.emit(result)
                return
        else:  # no editing controller: the result becomes the label layer directly
            table = LabelTable([Label(lab.value, lab.name, lab.color) for lab in result.plugin.labels])
            self.win.set_labelmap(LabelMap(result.labels, self.win.study.geometry, table))
        lm = self.win.labelmap
        if lm is not None:
            lm.source = f"{result.plugin.id} {result.plugin.version}"
            lm.provenance = prov
        # what File > Export for retraining records (viewer.export.cases.session_provenance) and preselects
        self.win.last_segmentation = {"plugin": result.plugin.id, "version": str(result.plugin.version),
                                      "sha256": getattr(result.plugin, "sha256", ""), "created": prov.get("created"),
                                      "routing": result.routing.to_dict() if result.routing is not None else None}
        self.win.statusBar().showMessage(
            f"Segmented with {result.plugin.id} {result.plugin.version} in {result.timings.get('total', 0):.2f} s", 6000)
        self.sigDone.emit(result)

    @QtCore.Slot(int)
    def _on_cancelled(self, done: int) -> None:
        if self.worker is None:
            return
        self._end()
        self._restore_overlay()
        self.win.statusBar().showMessage(f"Segmentation cancelled after {done} slice(s); labels unchanged.", 6000)
        self.sigCancelled.emit(done)

    @QtCore.Slot(str)
    def _on_failed(self, message: str) -> None:
        if self.worker is None:
            return
        self._end()
        self._restore_overlay()
        self.decision_label.setText("")
        self.decision_label.setToolTip("")
        self.win.statusBar().clearMessage()
        self.sigFailed.emit(message)
        if not getattr(self.win, "_quiet_errors", False):
            self.win.show_error("Cannot segment", message)

    def shutdown(self) -> None:
        """Window closing: stop the background work and let its thread end before Qt goes away."""
        self.timer.stop()
        self._no_first_pending.set()  # the warm-up must not wait for a first slice that will never be shown
        if self.worker is not None:
            self.worker.cancel()
        for w in [self.worker, *self._retired]:
            if w is not None:
                w.wait(10.0)
        # OpenVINO must not be compiling in a daemon thread while the interpreter tears down (it aborts).
        warm = getattr(self, "_warm_thread", None)
        if warm is not None and warm.is_alive():
            warm.join(120.0)
