"""One pipeline for every task: preprocess -> infer -> postprocess -> restore to the study grid, each stage timed.

Plain blocking functions with a progress callback and a cancel token (no Qt): the CLI and batch mode call them
directly, the GUI wraps them in a worker thread.

* :func:`segment_slice` - one slice with the LATENCY request (the visible slice, 2-D images).
* :func:`segment_study` - a whole study: an optional ``first`` slice synchronously (so the viewer can show it at
  once), then every other slice through the THROUGHPUT ``AsyncInferQueue``; preprocessing of the next slices
  overlaps inference of the previous ones, and each result is written straight into the output volume.
* :func:`run` - open nothing, decide the task (router or user), segment: what ``medroute segment`` and batch do.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..errors import CancelledError
from .engine import Engine, get_engine
from .manifest import Plugin
from .postprocess import apply as apply_postprocess
from .preprocess import PreprocessInfo, preprocess, probabilities, resize_chw
from .registry import Registry, default_registry
from .router import RoutingDecision, choose_task

STAGES = ("route", "preprocess", "infer", "postprocess", "restore")


class CancelToken:
    """Set from any thread with :meth:`cancel`; long work polls :attr:`cancelled`."""

    def __init__(self):
        self._ev = threading.Event()

    def cancel(self) -> None:
        self._ev.set()

    @property
    def cancelled(self) -> bool:
        return self._ev.is_set()

    def __call__(self) -> bool:
        return self._ev.is_set()


@dataclass
class SegmentationResult:
    labels: np.ndarray  # uint8 (z, y, x) on the study grid
    plugin: Plugin
    routing: RoutingDecision | None
    device: str
    timings: dict = field(default_factory=dict)  # seconds per stage (summed over slices) + "total"
    slices_done: int = 0
    complete: bool = True

    @property
    def provenance(self) -> dict:
        d = {"plugin": self.plugin.id, "version": self.plugin.version, "device": self.device,
             "created": time.strftime("%Y-%m-%dT%H:%M:%S"), "complete": self.complete}
        if self.routing is not None:
            d["routing"] = {"task": self.routing.task, "confidence": round(float(self.routing.confidence), 4),
                            "override": self.routing.override}
        return d

    def label_stats(self, spacing, spacing_known: bool = True) -> dict:
        """Per label name: voxel count and volume in mL (``spacing`` in mm, any order: the product is used).
        ``spacing_known=False`` (a PNG/TIFF photo or micrograph has no pixel size in mm): ``ml`` is None, since a
        volume in millilitres would be made up."""
        counts = np.bincount(self.labels.ravel(), minlength=256)
        ml = float(np.prod([float(s) for s in spacing])) / 1000.0
        return {lab.name: {"voxels": int(counts[lab.value]),
                           "ml": round(int(counts[lab.value]) * ml, 4) if spacing_known else None}
                for lab in self.plugin.labels}


def _add(t: dict, stage: str, dt: float, lock: threading.Lock | None = None) -> None:
    if lock is None:
        t[stage] = t.get(stage, 0.0) + dt
    else:
        with lock:
            t[stage] = t.get(stage, 0.0) + dt


def postprocess_restore(out: np.ndarray, info: PreprocessInfo, plugin: Plugin, t: dict,
                        lock: threading.Lock | None = None) -> np.ndarray:
    """Network output (logits at the model size) -> uint8 mask on the slice's own grid (same result as
    :func:`viewer.inference.preprocess.restore_mask`)."""
    t0 = time.perf_counter()
    same = tuple(info.original_size) == tuple(info.model_size)
    if same and plugin.activation == "sigmoid" and out.shape[-3] == 1:
        # sigmoid(x) >= thr  <=>  x >= logit(thr): one comparison, no resize needed
        logit = float(np.log(plugin.threshold / (1.0 - plugin.threshold)))
        mask = apply_postprocess((out.reshape(out.shape[-2:]) >= logit).view(np.uint8), plugin.postprocess)
        _add(t, "postprocess", time.perf_counter() - t0, lock)
        return mask
    prob = probabilities(out, plugin.activation)
    t1 = time.perf_counter()
    _add(t, "postprocess", t1 - t0, lock)
    prob = resize_chw(prob, info.original_size, plugin.input.resize)
    if plugin.activation == "softmax":
        mask = np.argmax(prob, axis=0).astype(np.uint8)
    elif prob.shape[0] == 1:
        mask = (prob[0] >= plugin.threshold).view(np.uint8)
    else:
        best = np.argmax(prob, axis=0)
        mask = np.where(prob.max(axis=0) >= plugin.threshold, best + 1, 0).astype(np.uint8)
    t2 = time.perf_counter()
    _add(t, "restore", t2 - t1, lock)
    if plugin.postprocess:
        mask = apply_postprocess(mask, plugin.postprocess)
        _add(t, "postprocess", time.perf_counter() - t2, lock)
    return mask


def _map_values(mask: np.ndarray, plugin: Plugin) -> np.ndarray:
    """Channel index k+1 -> the manifest's label value (identity for the usual 1..K labels)."""
    values = [lab.value for lab in plugin.labels]
    if values == list(range(1, len(values) + 1)):
        return mask
    lut = np.zeros(256, np.uint8)
    lut[1:len(values) + 1] = values
    return lut[mask]


def segment_slice(image: np.ndarray, plugin: Plugin, engine: Engine, timings: dict | None = None) -> np.ndarray:
    """One 2-D slice (H, W[, C]) -> uint8 mask (H, W), LATENCY path."""
    t = timings if timings is not None else {}
    t0 = time.perf_counter()
    x, info = preprocess(image, plugin.input)
    t1 = time.perf_counter()
    out = engine.infer(plugin, x)
    _add(t, "preprocess", t1 - t0)
    _add(t, "infer", time.perf_counter() - t1)
    return _map_values(postprocess_restore(out, info, plugin, t), plugin)


def segment_study(voxels: np.ndarray, plugin: Plugin, engine: Engine, *, first: int | None = None,
                  on_slice: Callable[[int, np.ndarray], None] | None = None,
                  progress: Callable[[int, int], None] | None = None,
                  cancel: CancelToken | Callable[[], bool] | None = None,
                  out: np.ndarray | None = None) -> tuple[np.ndarray, dict, int]:
    """Segment every slice of ``voxels`` (z, y, x[, c]).  Returns (labels, timings, slices done).

    ``first`` is segmented before anything else (the visible slice) and handed to ``on_slice`` at once;
    ``progress(done, total)`` is called after each slice (from OpenVINO's callback threads for the rest);
    ``cancel`` stops the work early (slices not reached stay 0).
    """
    nz = int(voxels.shape[0])
    labels = out if out is not None else np.zeros(voxels.shape[:3], np.uint8)
    t: dict = {}
    lock = threading.Lock()
    done = [0]
    is_cancelled = (lambda: False) if cancel is None else cancel
    t_start = time.perf_counter()
    if first is not None and 0 <= first < nz:
        labels[first] = segment_slice(voxels[first], plugin, engine, t)
        done[0] = 1
        if on_slice:
            on_slice(first, labels[first])
        if progress:
            progress(1, nz)
    rest = [z for z in range(nz) if z != first]
    if len(rest) <= 1:  # 2-D images: the latency path is the fastest
        for z in rest:
            if is_cancelled():
                break
            labels[z] = segment_slice(voxels[z], plugin, engine, t)
            done[0] += 1
            if progress:
                progress(done[0], nz)
    elif rest:
        infos: dict[int, PreprocessInfo] = {}

        def inputs():
            for z in rest:
                t0 = time.perf_counter()
                x, info = preprocess(voxels[z], plugin.input)
                infos[z] = info
                _add(t, "preprocess", time.perf_counter() - t0, lock)
                yield z, x

        def on_result(z, y):
            labels[z] = _map_values(postprocess_restore(y, infos.pop(z), plugin, t, lock), plugin)
            with lock:
                done[0] += 1
                d = done[0]
            if progress:
                progress(d, nz)

        t0 = time.perf_counter()
        engine.infer_stream(plugin, inputs(), on_result, cancelled=is_cancelled)
        wall = time.perf_counter() - t0
        # inference overlaps preprocessing: count as "infer" the stream's wall time not spent preprocessing here
        _add(t, "infer", max(0.0, wall - t.get("preprocess", 0.0)))
    t["total"] = time.perf_counter() - t_start
    return labels, {k: round(v, 4) for k, v in t.items()}, done[0]


def study_input(study) -> tuple[np.ndarray, list[str]]:
    """The voxels the models see for a :class:`viewer.model.study.Study`, and notes for the user.

    Grey (z, y, x) and colour (z, y, x, 3|4) studies go as they are, grey + alpha as grey.  The volumes of a 4D
    image (time points, diffusion directions, echoes: ``metadata["volumes_as_channels"]``) and other multi-channel
    images are not colours: the models get the first volume / channel, the one the viewer shows, and a note says so.
    """
    v = study.voxels
    if v.ndim != 4:
        return v, []
    c = int(v.shape[3])
    n_vol = study.metadata.get("volumes_as_channels")
    not_colour = n_vol or study.metadata.get("components_as_channels")
    if not not_colour and (c in (3, 4) or c == 2):  # colour, or grey + alpha (preprocess drops the alpha)
        return v, []
    what = f"the first of its {c} {'volumes' if n_vol else 'channels'} (the one the viewer shows)"
    return v[..., 0], [f"{study.name} is a {'4D image' if n_vol else 'multi-channel image'}: the task models take one "
                       f"grey or colour image per slice, so {what} was segmented."]


def study_extent_mm(study) -> tuple[float, float, float] | None:
    """The study's field of view in mm (x, y, z), None when its pixel size is not known in mm (PNG, TIFF ...)."""
    if not study.size_in_mm_known:
        return None
    z, y, x = study.shape[:3]
    sx, sy, sz = study.geometry.spacing
    return float(x * sx), float(y * sy), float(z * sz)


def run(voxels: np.ndarray, task: str | None = "auto", device: str | None = "CPU",
        registry: Registry | None = None, engine: Engine | None = None, name: str = "this study",
        progress=None, cancel=None, extent_mm=None) -> SegmentationResult:
    """Decide the task (router or ``task``) and segment the whole study.  ``extent_mm``: see
    :func:`study_extent_mm` (the routed model's field of view is checked against it)."""
    registry = registry if registry is not None else default_registry()
    engine = engine if engine is not None else get_engine(device)
    t0 = time.perf_counter()
    plugin, decision = choose_task(voxels, registry, engine, task, name, extent_mm)
    t_route = time.perf_counter() - t0
    labels, timings, n = segment_study(voxels, plugin, engine, progress=progress, cancel=cancel)
    timings = {"route": round(t_route, 4), **timings}
    timings["total"] = round(time.perf_counter() - t0, 4)
    complete = n == voxels.shape[0]
    if not complete and cancel is not None and cancel():
        raise CancelledError(f"Segmentation of {name} was cancelled after {n} of {voxels.shape[0]} slices.")
    return SegmentationResult(labels, plugin, decision, engine.device, timings, n, complete)
