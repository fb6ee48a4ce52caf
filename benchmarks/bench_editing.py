"""Editing benchmark: brush dab (with the overlay refresh and repaint), undo of a 50-dab stroke, fill,
interpolation and memory per undo step, on a 512 x 512 x 300 int16 volume.

Run: ``medroute bench --suite editing --json`` (or ``python benchmarks/bench_editing.py``).  Offscreen Qt main
window in 1x1 layout (axial 512 x 512 slice).  A "dab" is one brush stamp through the paint funnel (undo atom,
provenance, ``LabelMap.changed``), the overlay refresh of the view showing that slice and one event-loop pass
(``processEvents``) that repaints only the dirty rectangle; side by side, the same dab with a synchronous repaint of
the whole viewport.  "undo_stroke" is Ctrl+Z of a 50-dab stroke (one step) including the same refresh.
Targets: dab <= 8 ms median, undo <= 20 ms median, memory per step proportional to the changed region.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
DATA = Path(os.environ.get("MEDROUTE_SHARED_DATA", ROOT.parent / "shared" / "data"))
SAG = DATA / "dicom_series" / "sag_anon_t1_mprage"
SHAPE = (300, 512, 512)


def _volume(shape):
    """Real MR slices (nearest-resampled to 512 x 512, ping-pong along z) when the shared data is there."""
    out = np.empty(shape, np.int16)
    if SAG.is_dir():
        from viewer.io import open_study

        src = open_study(SAG).voxels
        src = src[..., 0] if src.ndim == 4 else src
        name = "sag_anon_t1_mprage resampled to 300 x 512 x 512"
    else:
        z, y, x = np.mgrid[0:16, 0:64, 0:64]
        src = (1000 * np.exp(-((y - 32) ** 2 + (x - 32) ** 2) / 400.0) * (1 + 0 * z)).astype(np.int16)
        name = "synthetic 300 x 512 x 512 (shared data absent)"
    zs, ys, xs = src.shape
    yi, xi = np.arange(shape[1]) * ys // shape[1], np.arange(shape[2]) * xs // shape[2]
    for k in range(shape[0]):
        j = k % (2 * zs)
        j = j if j < zs else 2 * zs - 1 - j
        out[k] = src[j][np.ix_(yi, xi)]
    return out, name


def _median_ms(ts) -> float:
    return round(statistics.median(ts) * 1000, 3)


def run(quick: bool = False) -> dict:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("MEDROUTE_RECOVERY_DIR", str(Path(os.environ.get("TMPDIR", "/tmp")) / "medroute-bench-rec"))
    from PySide6 import QtCore

    from viewer.editing import BrushTool, PointerEvent, interpolate_label
    from viewer.editing.fill import flood_region
    from viewer.model.geometry import Geometry
    from viewer.model.study import Study
    from viewer.ui.app import make_app
    from viewer.ui.main_window import MainWindow

    app = make_app(headless=True)
    vol, name = _volume(SHAPE)
    study = Study(vol, Geometry(spacing=(0.5, 0.5, 1.0)), modality="MR", format="synthetic", source=["bench"])
    s = QtCore.QSettings(str(Path(os.environ["MEDROUTE_RECOVERY_DIR"]) / "bench.ini"), QtCore.QSettings.Format.IniFormat)
    from viewer.ui.settings import ViewerSettings

    win = MainWindow(settings=ViewerSettings(s), persist=False)
    win.state.set_layout("1x1")
    win.resize(1400, 1000)
    win.show()
    win.set_study(study)
    for _ in range(3):
        app.processEvents()
    ctl = win.editing
    ed = ctl.ensure_session().editor
    view = win.grid.views[win.grid.active_plane]
    axis = view.mapping.normal_axis
    port = view.graphics.viewport()
    zc = view.slice_index
    ed.set_option(brush_mm=5.0, active_label=1)
    tool = BrushTool(ed)
    tool._axis = axis
    n = 60 if quick else 300
    rng = np.random.default_rng(0)
    dab_ts, full_ts = [], []
    for _ in range(n):
        p = [0.0, 0.0, 0.0]
        p[axis] = zc
        others = [a for a in range(3) if a != axis]
        p[others[0]], p[others[1]] = rng.uniform(40, 470, 2)
        t0 = time.perf_counter()
        tool.dab(tuple(p), tuple(p), 1)
        app.processEvents()  # the event loop repaints the dirty rectangle, as during a real stroke
        dab_ts.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        tool.dab(tuple(p), tuple(p), 2)
        port.repaint()  # side by side: a full synchronous repaint of the 1x1 viewport
        full_ts.append(time.perf_counter() - t0)

    # undo of a 50-dab stroke (one step), timed with the refresh; redo untimed; repeat
    undo_ts, redo_ts, step_bytes, step_vox = [], [], [], []
    reps = 5 if quick else 20
    for r in range(reps):
        start = np.array([zc, 60.0 + 15 * r, 60.0])
        ev = lambda kind, p: PointerEvent(kind, tuple(p), axis)  # noqa: E731
        tool.press(ev("press", start))
        for i in range(1, 50):
            tool.move(ev("move", start + np.array([0, 0.3 * i, 7.0 * i])))
        tool.release(ev("release", start + np.array([0, 0.3 * 49, 7.0 * 49])))
        step = ed.history.undo_stack[-1]
        step_bytes.append(step.nbytes)
        step_vox.append(sum(a.n_changed for a in step.atoms))
        before = ed.data.copy() if r == 0 else None
        t0 = time.perf_counter()
        ed.undo()
        app.processEvents()
        undo_ts.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ed.redo()
        app.processEvents()
        redo_ts.append(time.perf_counter() - t0)
        if before is not None:
            assert np.array_equal(before, ed.data), "redo did not restore the stroke bit-exactly"

    # memory per step for brushes of several sizes (proportional to the changed region)
    mem = []
    for mm in (2.0, 5.0, 10.0, 20.0, 40.0):
        ed.set_option(brush_mm=mm, active_label=2)
        tool.press(PointerEvent("press", (zc, 256.0, 256.0), axis))
        tool.release(PointerEvent("release", (zc, 256.0, 256.0), axis))
        st = ed.history.undo_stack[-1]
        mem.append({"brush_mm": mm, "changed_voxels": sum(a.n_changed for a in st.atoms), "bytes": st.nbytes})
        ed.undo()

    # fill: 2D on the shown slice and 3D, intensity tolerance 10 % of the range around the seed
    img = ed.image
    seed = [zc, 256, 256]
    tol = float(np.percentile(img[zc], 99) - np.percentile(img[zc], 1)) * 0.1
    fill2d, fill3d = [], []
    for _ in range(3 if quick else 7):
        t0 = time.perf_counter()
        got = flood_region(img, tuple(seed), tol, axis)
        if got:
            ed.paint(got[0], got[1], 3, name="Fill")
        app.processEvents()
        fill2d.append(time.perf_counter() - t0)
        ed.undo()
    for _ in range(1 if quick else 3):
        t0 = time.perf_counter()
        got = flood_region(img, tuple(seed), tol, None)
        if got:
            ed.paint(got[0], got[1], 3, name="Fill 3D")
        fill3d.append(time.perf_counter() - t0)
        ed.undo()

    # interpolation: hand-drawn discs on axial slices 100 and 140 (20 mm and 40 mm), 39 gap slices
    ed.set_option(active_label=4)
    ed.set_option(brush_3d=False)
    interp = []
    for _ in range(2 if quick else 5):
        for z, mm in ((100, 20.0), (140, 40.0)):
            ed.set_option(brush_mm=mm)
            t = BrushTool(ed)
            t.press(PointerEvent("press", (z, 256.0, 256.0), 0))
            t.release(PointerEvent("release", (z, 256.0, 256.0), 0))
        t0 = time.perf_counter()
        interpolate_label(ed, 4, axis=0)
        interp.append(time.perf_counter() - t0)
        for _ in range(3):
            ed.undo()
    win.editing.timer.stop()
    win.close()
    per_vox = [m["bytes"] / max(m["changed_voxels"], 1) for m in mem]
    return {
        "volume": name + ", spacing 0.5 x 0.5 x 1 mm, int16",
        "brush_dab": {"median_ms": _median_ms(dab_ts), "p90_ms": round(float(np.percentile(dab_ts, 90)) * 1000, 3),
                      "n": n, "brush_mm": 5.0, "target_ms": 8.0,
                      "full_viewport_repaint_median_ms": _median_ms(full_ts),
                      "viewport": f"{port.width()} x {port.height()} px"},
        "undo_stroke": {"median_ms": _median_ms(undo_ts), "dabs": 50, "n": reps, "target_ms": 20.0},
        "redo_stroke": {"median_ms": _median_ms(redo_ts), "n": reps},
        "fill": {"median_ms_2d": _median_ms(fill2d), "median_ms_3d": _median_ms(fill3d), "tolerance": round(tol, 1)},
        "interpolation": {"median_ms": _median_ms(interp), "gap_slices": 39, "slice": "512 x 512"},
        "memory_per_undo_step": {"stroke_50_dabs_bytes": int(statistics.median(step_bytes)),
                                 "stroke_50_dabs_changed_voxels": int(statistics.median(step_vox)),
                                 "single_dab_by_size": mem,
                                 "bytes_per_changed_voxel": [round(v, 2) for v in per_vox],
                                 "volume_bytes": int(np.prod(SHAPE))},
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
