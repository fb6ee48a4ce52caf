"""UI benchmark: slice change to finished repaint (overlay on) and memory of a big study with its overlay.

Run: ``medroute bench --suite ui --json`` (or ``python benchmarks/bench_ui.py``).  Offscreen Qt, 1400x1000 window,
2x2 layout.  Each "slice change" moves the cursor one slice along a view's normal and then synchronously repaints
every visible slice view (``viewport().repaint()``), so the time covers windowing, overlay, QImage conversion
and painting.  Baseline side by side: handing the raw int16 slice with levels to pyqtgraph's ImageItem (its
``makeARGB`` fallback), which is what the viewer avoids.
"""

from __future__ import annotations

import gc
import os
import statistics
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("MEDROUTE_SHARED_DATA", ROOT.parent / "shared" / "data"))
SAG = DATA / "dicom_series" / "sag_anon_t1_mprage"


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _source_study():
    from viewer.io import open_study

    if SAG.is_dir():
        return open_study(SAG), "sag_anon_t1_mprage (192 x 256 x 256)"
    from viewer.ui.app import sample_study_path

    return open_study(sample_study_path()), "nibabel anatomical.nii (shared data absent)"


def _mask_for(vol: np.ndarray) -> np.ndarray:
    """A real-looking label map: two labels from intensity thresholds, built slice by slice."""
    lab = np.zeros(vol.shape[:3], np.uint8)
    hi = np.percentile(vol[:: max(1, vol.shape[0] // 16)], [70, 90])
    for z in range(vol.shape[0]):
        s = vol[z]
        lab[z][s > hi[0]] = 1
        lab[z][s > hi[1]] = 2
    return lab


def _big_volume(src: np.ndarray, shape) -> np.ndarray:
    """A (z, 512, 512) int16 volume resampled (nearest) and tiled from real slices, filled in place."""
    out = np.empty(shape, np.int16)
    zs, ys, xs = src.shape
    yi = (np.arange(shape[1]) * ys // shape[1])
    xi = (np.arange(shape[2]) * xs // shape[2])
    for z in range(shape[0]):
        k = z % (2 * zs)
        k = k if k < zs else 2 * zs - 1 - k  # ping-pong through the real slices
        out[z] = src[k][np.ix_(yi, xi)]
    return out


def _study(vol, geometry=None):
    from viewer.model.geometry import Geometry
    from viewer.model.study import Study

    return Study(vol, geometry or Geometry(spacing=(0.5, 0.5, 1.0)), modality="MR", format="synthetic",
                 source=["bench"])


def _time_slice_changes(app, win, plane: str, n: int) -> list[float]:
    grid = win.grid
    view = grid.views[plane]
    axis = view.mapping.normal_axis
    visible = [v for p, v in grid.views.items() if v.isVisible() and p in grid.planes]
    times = []
    direction = 1
    for _ in range(n):
        if not 0 <= win.state.cursor[axis] + direction < view.mapping.n_slices:
            direction = -direction
        t0 = time.perf_counter()
        win.state.move_cursor(axis, direction)
        for v in visible:
            v.graphics.viewport().repaint()
        times.append((time.perf_counter() - t0) * 1000)
    app.processEvents()
    return times


def _baseline_raw_int16(app, win, plane: str, n: int) -> list[float]:
    """What pyqtgraph does with a raw int16 slice + levels (makeARGB path), same view, overlay on."""
    view = win.grid.views[plane]
    m = view.mapping
    vox = win.study.voxels
    lo, hi = win.state.levels
    visible = [v for p, v in win.grid.views.items() if v.isVisible() and p in win.grid.planes]
    times = []
    for i in range(n):
        s = (view.slice_index + i) % m.n_slices
        t0 = time.perf_counter()
        view.image_item.setImage(np.ascontiguousarray(m.slice_view(vox, s)), autoLevels=False, levels=(lo, hi))
        for v in visible:  # same repaint work as the measured path
            v.graphics.viewport().repaint()
        times.append((time.perf_counter() - t0) * 1000)
    view.image_item.setImage(view.windowing.apply(m.slice_view(vox, view.slice_index)), autoLevels=False)
    view.image_item.setLevels(None)
    return times


def _summary(times: list[float]) -> dict:
    return {"median_ms": round(statistics.median(times), 3), "p90_ms": round(float(np.percentile(times, 90)), 3),
            "n": len(times)}


def run(quick: bool = False) -> dict:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from viewer.model.labels import LabelMap
    from viewer.ui.app import make_app
    from viewer.ui.main_window import MainWindow

    app = make_app(headless=True)
    n = 30 if quick else 150
    win = MainWindow(persist=False)
    win.state.set_layout("2x2")
    win.resize(1400, 1000)
    win.show()
    app.processEvents()
    result: dict = {}

    # --- memory first, in a clean process state: 512 x 512 x 500 int16 + overlay ------------------------------
    src, src_name = _source_study()
    src_vox = np.asarray(src.voxels, dtype=np.int16) if src.voxels.dtype != np.int16 else src.voxels
    gc.collect()
    rss0 = _rss()
    big = _study(_big_volume(src_vox, (300 if quick else 500, 512, 512)))
    win.set_study(big)
    win.set_labelmap(LabelMap.from_array(_mask_for(big.voxels), big))
    win.grid.fit_all()
    app.processEvents()
    for v in win.grid.views.values():
        v.graphics.viewport().repaint()
    gc.collect()
    rss1 = _rss()
    raw = big.voxels.nbytes
    result["memory_512x512x%d_int16" % big.shape[0]] = {
        "raw_mb": round(raw / 2**20, 1), "rss_delta_mb": round((rss1 - rss0) / 2**20, 1),
        "ratio_to_raw": round((rss1 - rss0) / raw, 3), "target_ratio_max": 2.5,
    }
    win.set_labelmap(None)
    del big
    gc.collect()

    # --- slice change timings ------------------------------------------------------------------------------
    cases = {}
    # 256^2: the real 192-slice sagittal series (its acquisition plane) with a label overlay.
    win.set_study(src)
    win.set_labelmap(LabelMap.from_array(_mask_for(src.voxels), src))
    app.processEvents()
    cases["sag192_256x256_sagittal"] = _time_slice_changes(app, win, "sagittal", n)
    cases["sag192_axial_reformat"] = _time_slice_changes(app, win, "axial", n)
    # 512^2: 512 x 512 x 300 int16 built from the real slices.
    vol = _study(_big_volume(src_vox, (300, 512, 512)))
    win.set_study(vol)
    win.set_labelmap(LabelMap.from_array(_mask_for(vol.voxels), vol))
    app.processEvents()
    cases["vol300_512x512_axial"] = _time_slice_changes(app, win, "axial", n)
    cases["vol300_coronal_reformat_300x512"] = _time_slice_changes(app, win, "coronal", n)
    base = _baseline_raw_int16(app, win, "axial", max(10, n // 3))

    result["slice_change"] = {k: _summary(v) for k, v in cases.items()}
    result["slice_change"]["median_ms"] = round(statistics.median(
        [statistics.median(v) for v in cases.values()]), 3)
    result["slice_change"]["target_median_ms_max"] = 8.0
    result["baseline_pyqtgraph_int16_levels_512x512"] = _summary(base)
    result["setup"] = {"source": src_name, "window": "1400x1000 offscreen, 2x2", "overlay": "on (filled, 2 labels)",
                       "repaint": "all visible slice views, synchronous", "quick": quick}
    win.close()
    return result


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
