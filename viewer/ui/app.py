"""Starting the viewer: QApplication set-up, the sample study, headless screenshots."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ..errors import MedRouteError


def sample_study_path() -> Path:
    """A real 3D MR brain volume bundled with nibabel (its test data ``anatomical.nii``, 33x41x25, 2 mm)."""
    import nibabel

    p = Path(nibabel.__file__).resolve().parent / "tests" / "data" / "anatomical.nii"
    if not p.is_file():
        raise MedRouteError("No sample study is installed (nibabel's test data is missing); give a path to open.")
    return p


def configure_pyqtgraph() -> None:
    import pyqtgraph as pg

    pg.setConfigOptions(imageAxisOrder="row-major", background="k", foreground="#d8dadf", antialias=False)


_GUI_GC = None


def make_app(headless: bool = False):
    if headless and not os.environ.get("QT_QPA_PLATFORM"):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6 import QtWidgets

    from . import resources

    app = QtWidgets.QApplication.instance()
    if app is None:
        app = QtWidgets.QApplication(sys.argv[:1])
        app.setApplicationName("MedRoute Viewer")
        app.setOrganizationName("MedRoute")
    configure_pyqtgraph()
    global _GUI_GC
    if _GUI_GC is None:
        # Python's cyclic garbage collector runs in whichever thread happens to allocate: in the study loader's worker
        # thread it destroyed unreferenced widgets there while the GUI thread destroyed another one (a deadlock
        # between the GIL and a Qt mutex, seen in CI).  pyqtgraph's GarbageCollector turns automatic collection off
        # and collects on a GUI-thread timer instead, so widgets are only ever destroyed in the GUI thread.
        from pyqtgraph.util.garbage_collector import GarbageCollector

        _GUI_GC = GarbageCollector(interval=1.0)  # module-level: lives as long as the process, not a Qt wrapper
    app.setStyleSheet(resources.stylesheet())
    app.setWindowIcon(resources.icon("app"))
    return app


def _parse_size(size: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in size.lower().split("x"))
        return max(w, 200), max(h, 200)
    except ValueError:
        raise MedRouteError(f"--size must look like 1400x1000, got '{size}'.") from None


def render_screenshot(win, out, size=(1400, 1000)) -> Path:
    """Show ``win`` at ``size``, let it lay out, fit the views and save a PNG of the whole window."""
    from PySide6 import QtWidgets

    app = QtWidgets.QApplication.instance()
    win.resize(*size)
    win.show()
    for _ in range(3):
        app.processEvents()
    win.grid.fit_all()
    app.processEvents()
    out = Path(out)
    if out.parent and not out.parent.exists():
        raise MedRouteError(f"{out.parent}: the folder for the screenshot does not exist.")
    if not win.grab().save(str(out), "PNG"):
        raise MedRouteError(f"{out}: the screenshot could not be written.")
    return out


def run_view(paths=(), labels=None, layout=None, series=None, screenshot=None, size="1400x1000") -> int:
    headless = bool(screenshot)
    if headless and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    app = make_app(headless=headless)
    from .main_window import MainWindow

    win = MainWindow(persist=not headless)
    if layout:
        win.state.set_layout(layout)
    path = paths[0] if paths else str(sample_study_path())
    if headless:
        win.open_path(path, series=series, labels=labels, blocking=True)
        out = render_screenshot(win, screenshot, _parse_size(size))
        print(out)
        win.close()
        return 0
    win.show()
    open_at_start(win, path, series, labels, named=bool(paths))
    return int(app.exec())


def open_at_start(win, path, series=None, labels=None, named: bool = False) -> None:
    """A crash left autosaved edits: offer them first.  Recovered, they stay on show (nothing replaces them
    unasked), and a study named on the command line that was therefore not opened is named in the status bar."""
    if not win.editing.offer_recovery():
        win.open_path(path, series=series, labels=labels)
        return
    from ..editing.session import study_reference

    here = study_reference(win.study)["path"]  # the recovered study (open_session opened it)
    if named and (not here or Path(here).resolve() != Path(path).resolve()):
        win.statusBar().showMessage(f"Recovered unsaved edits on {win.study.name}; {Path(path).name} was not opened "
                                    "(open it with File > Open when you are done).", 60000)
