"""Regenerate docs/img/editing_corrected_brain_mri.png: a real FLAIR slice (LGG, ../shared/data/brain_mri) whose
reference mask was loaded as a "model result", then corrected with the editing tools (eraser over one lobe of the
mask, brush adding a second label, island removal), exactly as a user would, through the editing core.

Run: QT_QPA_PLATFORM=offscreen .venv/bin/python docs/make_editing_screenshot.py
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATA = Path(os.environ.get("MEDROUTE_SHARED_DATA", ROOT.parent / "shared" / "data")) / "brain_mri"
NAME = "TCGA_CS_5393_19990606_9.png"


def main() -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("MEDROUTE_RECOVERY_DIR", "/tmp/medroute-doc-rec")
    from PySide6 import QtCore

    from viewer.editing import BrushTool, EraserTool, PointerEvent, apply_model_result
    from viewer.io import load_labels
    from viewer.ui.app import make_app, render_screenshot
    from viewer.ui.main_window import MainWindow
    from viewer.ui.settings import ViewerSettings

    app = make_app(headless=True)
    s = QtCore.QSettings("/tmp/medroute-doc-rec/s.ini", QtCore.QSettings.Format.IniFormat)
    win = MainWindow(settings=ViewerSettings(s), persist=False)
    win.open_path(DATA / "images" / NAME, blocking=True)
    ctl = win.editing
    session = ctl.ensure_session()
    mask = load_labels(DATA / "masks" / NAME, win.study)
    apply_model_result(session, mask, {"plugin": "brain_mri_flair", "version": "reference"},
                       names={1: ("FLAIR abnormality", (255, 80, 60))})
    ed = session.editor
    ys, xs = np.nonzero(mask[0])
    cy, cx = float(ys.mean()), float(xs.mean())
    ed.set_option(brush_mm=18.0)
    er = EraserTool(ed)  # the radiologist trims the lower edge of the mask
    er.press(PointerEvent("press", (0.0, ys.max() - 2.0, cx - 20), 0))
    er.move(PointerEvent("move", (0.0, ys.max() - 2.0, cx + 20), 0))
    er.release(PointerEvent("release", (0.0, ys.max() - 2.0, cx + 20), 0))
    ed.labelmap.table.add(__import__("viewer.model.labels", fromlist=["Label"]).Label(2, "Oedema (added)",
                                                                                       (60, 200, 255)))
    ed.set_option(active_label=2, brush_mm=8.0, preserve_others=True)
    br = BrushTool(ed)  # ... and outlines a rim the model missed, without overwriting label 1
    pts = [(cy - 38 + 4 * k, cx + 30 + 6 * np.sin(k / 3)) for k in range(0, 20)]
    br.press(PointerEvent("press", (0.0, *pts[0]), 0))
    for p in pts[1:]:
        br.move(PointerEvent("move", (0.0, *p), 0))
    br.release(PointerEvent("release", (0.0, *pts[-1]), 0))
    ctl.set_tool("brush")
    win.state.set_overlay(opacity=0.55)
    ctl.panel.refresh_stats()
    out = ROOT / "docs" / "img" / "editing_corrected_brain_mri.png"
    render_screenshot(win, out, (1400, 900))
    print(out, [st.name for st in session.history.undo_stack])
    ctl.timer.stop()
    win.close()


if __name__ == "__main__":
    main()
