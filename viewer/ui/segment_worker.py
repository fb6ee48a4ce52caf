"""The Segment worker: routing and the INT8 model run in a background thread; results come back as Qt signals.

The core call is :func:`viewer.inference.pipeline.segment_study` (a plain blocking function with a progress
callback and a cancel token); this class only runs it off the GUI thread and turns its outcome into signals.
The visible slice is segmented first and announced with ``sliceReady``; the rest of the volume is written into
``out`` by OpenVINO's callback threads, and the controller polls :attr:`done` from the GUI thread.

Threading rules (why this is a ``threading.Thread`` and not a ``QThread``):

* The engine keeps one LATENCY infer request per thread in a ``threading.local``.  A ``QThread`` is not a Python
  thread: each slot call into Python gets a temporary Python thread state that Shiboken deletes when the slot
  returns, and that deletion destroys the thread-local OpenVINO infer request; its destructor releases and
  re-takes the GIL in the middle of the thread-state teardown and the interpreter crashes (SIGSEGV in
  ``tstate_delete_common`` under ``Shiboken::GilState::release`` after ``QThread::started``).  A Python thread
  owns its thread state for its whole life, so the request is destroyed safely when the thread ends.
* This QObject lives in the GUI thread (it is created there and never moved); its signals are emitted from the
  worker thread and delivered through queued connections, so every slot - and everything that touches the label
  map, psygnal listeners or pyqtgraph items - runs in the GUI thread.  The worker thread touches only numpy.
* OpenVINO's callback threads only store two integers here (``done``, ``total``); no Qt call happens there.
* After announcing the visible slice the worker waits (``SHOWN_WAIT_S`` at most) until the controller has put it
  on screen (``shown``, set in the GUI thread): the volume stream would otherwise take both the CPU and the GIL
  from the GUI thread in the very milliseconds it draws the first overlay.
"""

from __future__ import annotations

import threading
import time
import traceback

import numpy as np
from PySide6 import QtCore

from ..errors import MedRouteError

SHOWN_WAIT_S = 0.5  # the longest the background volume waits for the first overlay to be on screen


class SegmentWorker(QtCore.QObject):
    routed = QtCore.Signal(object)  # (plugin, RoutingDecision)
    sliceReady = QtCore.Signal(int)  # z of the visible slice, already written into ``out``
    finished = QtCore.Signal(object)  # SegmentationResult
    cancelled = QtCore.Signal(int)  # slices done
    failed = QtCore.Signal(str)

    def __init__(self, voxels: np.ndarray, out: np.ndarray, first: int, task: str, registry, engine):
        super().__init__()  # no parent: the Python wrapper owns it, the thread's reference keeps it alive
        from ..inference.pipeline import CancelToken

        self.voxels, self.out, self.first, self.task = voxels, out, int(first), task
        self.registry, self.engine = registry, engine
        self.study = None  # the Study these voxels come from (set by the controller; stale when another is shown)
        self.token = CancelToken()
        self.shown = threading.Event()  # set by the controller once the visible slice is on screen
        self.done, self.total = 0, int(voxels.shape[0])
        self.timings: dict = {}
        self._thread = threading.Thread(target=self._run, name="medroute-segment", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def cancel(self) -> None:
        self.token.cancel()
        self.shown.set()

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> bool:
        """Join the thread (``timeout`` seconds at most); True when it has ended."""
        if self._thread.ident is not None:
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def _progress(self, done: int, total: int) -> None:
        # OpenVINO's callback threads: plain attribute writes only (polled from the GUI thread)
        self.done, self.total = done, total

    def _on_slice(self, z: int, _mask) -> None:
        self.timings["first_slice"] = round(time.perf_counter() - self._t0, 4)
        self.sliceReady.emit(z)
        self.shown.wait(SHOWN_WAIT_S)  # let the GUI thread draw it before the volume stream starts

    def _run(self) -> None:  # the worker thread
        from ..inference.pipeline import SegmentationResult, segment_study
        from ..inference.pipeline import study_extent_mm
        from ..inference.router import choose_task

        try:
            self._t0 = t0 = time.perf_counter()
            extent = study_extent_mm(self.study) if self.study is not None else None  # the model's field of view
            plugin, decision = choose_task(self.voxels, self.registry, self.engine, self.task, extent_mm=extent)
            t_route = time.perf_counter() - t0
            self.timings["route"] = round(t_route, 4)
            self.routed.emit((plugin, decision))
            if self.token.cancelled:
                self.cancelled.emit(0)
                return
            labels, timings, n = segment_study(
                self.voxels, plugin, self.engine, first=self.first, out=self.out, on_slice=self._on_slice,
                progress=self._progress, cancel=self.token)
            timings = {"route": round(t_route, 4), **timings}
            self.timings.update(timings)
            if self.token.cancelled and n < self.voxels.shape[0]:
                self.cancelled.emit(n)
            else:
                self.finished.emit(SegmentationResult(labels, plugin, decision, self.engine.device, timings, n, True))
        except MedRouteError as e:
            self.failed.emit(str(e))
        except Exception as e:  # noqa: BLE001 - shown as a sentence, details to the log
            traceback.print_exc()
            self.failed.emit(f"Segmentation failed ({type(e).__name__}: {e}).")
