"""One study of a batch: open, route, segment, write the labels atomically, and describe it as a report row.

:func:`process_study` never raises for a bad study: it returns a row with ``status = "failed"`` and the error's
sentence.  It is a plain module-level function of picklable arguments so that thread pools, process pools and
Dask workers all run the same code; each process keeps one registry and one engine (compiled models are reused
across studies).
"""

from __future__ import annotations

import json
import threading
import time
import traceback
from pathlib import Path

import numpy as np

from ..errors import MedRouteError, NoSuitableModelError

_STATE: dict = {}
_STATE_LOCK = threading.Lock()


def _context(device: str, plugin_dirs: tuple[str, ...] = ()):
    """(registry, engine) for this process, created once."""
    from ..inference.engine import get_engine
    from ..inference.registry import Registry, default_registry

    if not plugin_dirs:
        return default_registry(), get_engine(device)
    with _STATE_LOCK:
        key = ("reg", plugin_dirs)
        if key not in _STATE:
            _STATE[key] = Registry.scan(extra_dirs=[Path(d) for d in plugin_dirs])
        reg = _STATE[key]
    return reg, get_engine(device)


def empty_row(path: str, output: str) -> dict:
    return {"path": path, "output": output, "task": "", "confidence": None, "labels": {}, "seconds": 0.0,
            "infer_seconds": 0.0, "status": "", "error": "", "notes": ""}


def output_is_valid(out: Path) -> bool:
    """A complete, readable label file (atomic writes mean a present file is whole; this also catches a foreign
    or damaged file left in the output folder)."""
    if not out.is_file() or out.stat().st_size == 0:
        return False
    try:
        from ..io import open_study

        lab = open_study(out)
        v = lab.voxels
        return v.size > 0 and v.dtype.kind in "iub"
    except MedRouteError:
        return False


def stats_from_file(out: Path, source: str | Path | None = None) -> dict:
    """Per label value: voxel count and mL, read back from a written label file (for resumed studies).  No mL when
    the label file says its pixel size is not in mm (see ``viewer.io.labels``: PNG/TIFF or DICOM without
    PixelSpacing), or when its ``source`` study is a PNG/TIFF (label files written before that flag existed)."""
    from ..io import open_study
    from ..io.raster import RASTER_EXTS

    lab = open_study(out)
    counts = np.bincount(np.asarray(lab.voxels).ravel().astype(np.int64), minlength=2)
    ml = float(np.prod(lab.geometry.spacing)) / 1000.0
    known = lab.size_in_mm_known and not (
        source is not None and Path(source).is_file() and Path(source).suffix.lower() in RASTER_EXTS)
    return {f"label {v}": {"voxels": int(c), "ml": round(int(c) * ml, 4) if known else None}
            for v, c in enumerate(counts) if v and c}


def result_path(out: Path) -> Path:
    """The hidden record beside a label file of what made it (task, confidence, named label counts)."""
    return out.with_name(f".{out.name}.result.json")


def write_result(out: Path, row: dict) -> None:
    from ..io._common import atomic_write_bytes, sha256_file

    rec = {"format": "medroute-batch-result", "label_sha256": sha256_file(out),
           **{k: row[k] for k in ("task", "confidence", "labels")}}
    atomic_write_bytes(result_path(out), json.dumps(rec).encode())


def resumed_result(out: Path, source: str, previous: dict | None) -> dict:
    """Task, confidence and label counts of a finished label file, for ``--resume``: from its result record when
    that was written for exactly this file; else from an earlier report row whose counts match the file; else the
    counts read back from the file (labels named by value, task unknown).  Never a row that describes another mask."""
    from ..io._common import sha256_file

    try:
        rec = json.loads(result_path(out).read_text())
        if rec.get("label_sha256") == sha256_file(out):
            return {k: rec[k] for k in ("task", "confidence", "labels")}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    counts = stats_from_file(out, source)
    old = (previous or {}).get("labels") or {}
    if old and sorted(v["voxels"] for v in old.values() if v["voxels"]) == sorted(v["voxels"] for v in counts.values()):
        return {"task": previous.get("task", ""), "confidence": previous.get("confidence"), "labels": old}
    return {"task": "", "confidence": None, "labels": counts}


def process_study(path: str, output: str, task: str = "auto", device: str = "CPU", resume: bool = False,
                  plugin_dirs: tuple[str, ...] = (), previous: dict | None = None) -> dict:
    """Segment one study and write ``output``; returns its report row (never raises for a bad study)."""
    t0 = time.perf_counter()
    row = empty_row(path, output)
    out = Path(output)
    try:
        if resume:
            for cand in (out, out.with_name(out.name[: -len(".png")] + ".nii.gz") if out.name.endswith(".png") else None):
                if cand is not None and output_is_valid(cand):
                    row.update(output=str(cand), status="skipped", **resumed_result(cand, path, previous))
                    row["seconds"] = round(time.perf_counter() - t0, 4)
                    return row
        from ..inference.pipeline import run, study_extent_mm, study_input
        from ..io import open_study, save_labels

        registry, engine = _context(device, tuple(plugin_dirs))
        study = open_study(path)
        voxels, notes = study_input(study)
        res = run(voxels, task=task, registry=registry, engine=engine, name=Path(path).name,
                  extent_mm=study_extent_mm(study))
        row["notes"] = " ".join(notes + [n for n in [registry.damaged_newer(res.plugin.id)] if n])
        if out.name.endswith(".png") and not study.is_2d:
            out = out.with_name(out.name[: -len(".png")] + ".nii.gz")
            row["output"] = str(out)
        save_labels(res.labels, study, out)
        row.update(task=res.plugin.id, confidence=round(float(res.routing.confidence), 4) if res.routing else None,
                   labels=res.label_stats(study.geometry.spacing, study.size_in_mm_known))
        write_result(out, row)
        row.update(status="ok",
                   infer_seconds=round(sum(res.timings.get(k, 0.0) for k in ("route", "preprocess", "infer",
                                                                               "postprocess", "restore")), 4))
    except NoSuitableModelError as e:
        dec = getattr(e, "decision", None)
        row.update(status="failed", error=str(e), task="none",
                   confidence=round(float(dec.confidence), 4) if dec is not None else None)
    except MedRouteError as e:
        row.update(status="failed", error=str(e))
    except MemoryError:
        row.update(status="failed", error="Not enough memory to process this study.")
    except Exception as e:  # noqa: BLE001 - a batch always finishes; the row says what went wrong
        traceback.print_exc()
        row.update(status="failed", error=f"Unexpected error ({type(e).__name__}: {e}).")
    row["seconds"] = round(time.perf_counter() - t0, 4)
    return row
