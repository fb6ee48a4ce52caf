"""pyqtgraph's HistogramLUTItem and levels path (PySide6 6.12.0 aborted here with none_dealloc)."""

from __future__ import annotations

import numpy as np
from tests.ui.ui_helpers import SAG, grab_view, to_array


def test_histogram_lut_item_levels_path_renders(app, qtbot):
    import pyqtgraph as pg

    rng = np.random.default_rng(0)
    data = rng.normal(300, 80, (256, 256)).astype(np.int16)
    img = pg.ImageItem(axisOrder="row-major")
    img.setImage(data, autoLevels=False, levels=(100, 500))
    w = pg.HistogramLUTWidget(image=img)
    qtbot.addWidget(w)
    w.resize(200, 400)
    w.show()
    qtbot.waitExposed(w)
    for _ in range(5):  # repeated level changes and histogram refreshes
        w.item.setLevels(150, 450)
        img.setImage(data + 10, autoLevels=True)
        w.item.imageChanged(autoLevel=True)
        app.processEvents()
    lo, hi = w.item.getLevels()
    assert lo < hi
    assert img.getLevels() is not None
    shot = to_array(w.grab().toImage())
    assert shot.std() > 5
    x, y = w.item.plot.getData()
    assert x is not None and len(x) > 10


def test_histogram_region_drives_views(window, shared_data):
    window.open_path(shared_data.joinpath(*SAG), blocking=True)
    hist = window.wl_panel.histogram
    hist.show()
    before = grab_view(window.grid.views["axial"])
    hist.item.setLevels(50, 200)  # as when dragging the region
    hist.item.region.sigRegionChangeFinished.emit(hist.item.region)
    assert window.state.levels == (50.0, 200.0)
    assert window.grid.windowing.levels == (50.0, 200.0)
    after = grab_view(window.grid.views["axial"])
    assert np.abs(after.astype(int) - before.astype(int)).mean() > 2
    assert to_array(hist.grab().toImage()).std() > 5
    window.wl_panel.apply_preset_named("Auto")
    assert window.state.levels != (50.0, 200.0)
    window.wl_panel.apply_preset_named("Bone")
    assert window.state.window == (1800.0, 400.0)



GC_SCRIPT = """
import gc, threading, time
from viewer.ui.app import make_app
from PySide6 import QtCore
app = make_app(headless=True)
assert not gc.isenabled(), "automatic collection still on"
where = []
class Cycle:
    def __init__(self):
        self.me = self
    def __del__(self):
        where.append(threading.current_thread() is threading.main_thread())
n = 2 * gc.get_threshold()[0]
for _ in range(n):
    Cycle()
t = threading.Thread(target=lambda: [[[] for _ in range(10)] for _ in range(200_000)])
t.start(); t.join()
assert where == [], "the worker thread collected"
end = time.time() + 10
while len(where) < n and time.time() < end:
    app.processEvents(); QtCore.QThread.msleep(20)
assert len(where) == n and all(where), (len(where), n)
print("ok")
"""


def test_garbage_is_collected_in_the_gui_thread_only():
    """Cyclic garbage (widgets included) must not be destroyed by a worker thread that happens to allocate: that
    deadlocked a CI run between the GIL and a Qt mutex. make_app moves collection onto a GUI-thread timer.  Run in a
    fresh interpreter: it switches the process's automatic collection off."""
    import os
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-c", GC_SCRIPT], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stderr[-2000:]
