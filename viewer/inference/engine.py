"""The OpenVINO engine: device choice with CPU fallback, a compiled-model cache, latency and throughput paths.

* ``Engine("CPU" | "GPU" | "AUTO" | "GPU.1" ...)``: when the device is not present the engine falls back to CPU
  and says so in :attr:`Engine.message` (the CLI prints it; the GUI shows it in the status bar).
* Compiled models are cached per (model file, checksum, device, mode), in memory for this process and on disk
  through OpenVINO's ``CACHE_DIR`` (``$MEDROUTE_CACHE_DIR``, default ``~/.cache/medroute/openvino``; set it to
  an empty string to disable), so a second start compiles in a fraction of the time.
* ``mode="latency"`` (``PERFORMANCE_HINT=LATENCY``) serves one slice at a time: the visible slice, the router,
  2-D images.  Each thread keeps its own infer request, so batch threads do not contend on one.
* ``mode="throughput"`` (``PERFORMANCE_HINT=THROUGHPUT``) with an ``AsyncInferQueue`` serves whole volumes: all
  CPU streams busy, results handed to a callback as they complete.
* Inputs are passed with ``share_inputs=True`` (no copy of the preprocessed tensor); outputs are views of the
  request's tensor, valid until that request runs again, so callers post-process them right away.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from ..errors import InferenceError
from .manifest import Plugin

ENV_CACHE_DIR = "MEDROUTE_CACHE_DIR"
DEVICE_CHOICES = ("CPU", "GPU", "AUTO", "NPU")

_CORE = None
_CORE_LOCK = threading.Lock()


def core():
    """The process-wide ``openvino.Core`` (creating one costs tens of ms)."""
    global _CORE
    with _CORE_LOCK:
        if _CORE is None:
            import openvino as ov

            c = ov.Core()
            cache = os.environ.get(ENV_CACHE_DIR, str(Path.home() / ".cache" / "medroute" / "openvino"))
            if cache:
                try:
                    Path(cache).mkdir(parents=True, exist_ok=True)
                    c.set_property({"CACHE_DIR": cache})
                except (OSError, RuntimeError):
                    pass  # a read-only home only costs compile time
            _CORE = c
        return _CORE


def available_devices() -> list[str]:
    """OpenVINO devices on this machine, e.g. ``['CPU', 'GPU.0', 'GPU.1']``."""
    try:
        return list(core().available_devices)
    except RuntimeError:
        return []


def device_names() -> list[dict]:
    out = []
    for d in available_devices():
        try:
            name = str(core().get_property(d, "FULL_DEVICE_NAME"))
        except RuntimeError:
            name = d
        out.append({"device": d, "name": name})
    return out


def resolve_device(requested: str | None) -> tuple[str, str]:
    """``(device to use, message)``; the message is empty unless we fell back to CPU."""
    req = (requested or "CPU").strip().upper()
    devs = available_devices()
    if req == "AUTO":
        return ("AUTO" if devs else "CPU"), ""
    family = {d.split(".")[0] for d in devs}
    if req in devs or (req in family and "." not in req):
        return req, ""
    have = ", ".join(devs) or "none"
    return "CPU", f"The device {req} is not available on this computer (found: {have}); using the CPU instead."


class Engine:
    """Compiles plugins' models for one device and runs them."""

    def __init__(self, device: str | None = "CPU", precision_hint: str | None = None):
        self.requested = (device or "CPU").upper()
        self.device, self.message = resolve_device(self.requested)
        self.precision_hint = precision_hint
        self._compiled: dict[tuple, object] = {}
        self._lock = threading.Lock()
        self._local = threading.local()

    def __repr__(self) -> str:
        return f"Engine(device={self.device!r})"

    # --- compilation ----------------------------------------------------------------------------------------
    def compiled(self, plugin: Plugin | str | Path, mode: str = "latency"):
        """The compiled model for ``plugin`` (a Plugin or a model.xml path), cached."""
        xml = plugin.model_xml if isinstance(plugin, Plugin) else Path(plugin)
        sha = plugin.sha256 if isinstance(plugin, Plugin) else ""
        key = (str(xml), sha, self.device, mode, self.precision_hint)
        c = self._compiled.get(key)
        if c is not None:
            return c
        with self._lock:
            c = self._compiled.get(key)
            if c is None:
                cfg = {"PERFORMANCE_HINT": "THROUGHPUT" if mode == "throughput" else "LATENCY"}
                if self.precision_hint:
                    cfg["INFERENCE_PRECISION_HINT"] = self.precision_hint
                try:
                    c = core().compile_model(str(xml), self.device, cfg)
                except RuntimeError as e:
                    name = plugin.id if isinstance(plugin, Plugin) else xml.name
                    first = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
                    raise InferenceError(f"The model '{name}' could not be prepared on {self.device} ({first}).") from e
                self._compiled[key] = c
        return c

    def warm_up(self, plugin: Plugin, modes: Iterable[str] = ("latency",)) -> None:
        for m in modes:
            self.compiled(plugin, m)

    # --- inference ------------------------------------------------------------------------------------------
    def _request(self, plugin: Plugin):
        reqs = getattr(self._local, "reqs", None)
        if reqs is None:
            reqs = self._local.reqs = {}
        c = self.compiled(plugin, "latency")
        r = reqs.get(id(c))
        if r is None:
            r = reqs[id(c)] = c.create_infer_request()
        return r

    def infer(self, plugin: Plugin, x: np.ndarray) -> np.ndarray:
        """One synchronous inference (LATENCY).  The result is a view valid until this thread's next call."""
        # A thread not started by Python (QThread, QThreadPool, a C++ pool) gets a temporary Python thread state
        # per call, deleted on return together with its threading.local; destroying an infer request inside that
        # teardown crashes the interpreter.  Such threads get a request (and a result) of their own per call.
        foreign = isinstance(threading.current_thread(), threading._DummyThread)
        req = self.compiled(plugin, "latency").create_infer_request() if foreign else self._request(plugin)
        try:
            req.infer({0: x}, share_inputs=True, share_outputs=True)
        except RuntimeError as e:
            raise InferenceError(f"The model '{plugin.id}' failed on {self.device} ({str(e).splitlines()[0][:200]}).") from e
        out = req.get_output_tensor(0).data
        return out.copy() if foreign else out

    def infer_stream(self, plugin: Plugin, inputs: Iterable[tuple[int, np.ndarray]],
                     on_result: Callable[[int, np.ndarray], None], cancelled: Callable[[], bool] | None = None,
                     jobs: int | None = None) -> int:
        """THROUGHPUT inference of many inputs with an ``AsyncInferQueue``.

        ``inputs`` yields ``(key, NCHW array)``; ``on_result(key, output)`` runs in OpenVINO's callback thread
        as each completes (the output view is valid only during the call).  Stops early when ``cancelled()``
        becomes true; returns the number of inputs submitted.
        """
        import openvino as ov

        c = self.compiled(plugin, "throughput")
        if jobs is None:
            try:
                jobs = int(c.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
            except RuntimeError:
                jobs = 2
        q = ov.AsyncInferQueue(c, max(1, jobs))
        errors: list[BaseException] = []
        keep: dict[int, np.ndarray] = {}  # inputs must outlive their request (share_inputs)

        def done(request, key):
            try:
                keep.pop(key, None)
                if not errors:
                    on_result(key, request.get_output_tensor(0).data)
            except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread
                errors.append(e)

        q.set_callback(done)
        n = 0
        try:
            for key, x in inputs:
                if errors or (cancelled is not None and cancelled()):
                    break
                keep[key] = x
                q.start_async({0: x}, userdata=key, share_inputs=True)
                n += 1
        finally:
            q.wait_all()
        if errors:
            e = errors[0]
            if isinstance(e, RuntimeError):
                raise InferenceError(f"The model '{plugin.id}' failed on {self.device} ({str(e).splitlines()[0][:200]}).") from e
            raise e
        return n


_ENGINES: dict[tuple, Engine] = {}
_ENGINES_LOCK = threading.Lock()


def get_engine(device: str | None = "CPU", precision_hint: str | None = None) -> Engine:
    """A shared engine per device (so compiled models are reused across studies and threads)."""
    key = ((device or "CPU").upper(), precision_hint)
    with _ENGINES_LOCK:
        e = _ENGINES.get(key)
        if e is None:
            e = _ENGINES[key] = Engine(device, precision_hint)
        return e
