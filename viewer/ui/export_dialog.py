"""File -> Export for retraining: a small dialog over :mod:`viewer.export` (the logic lives there, headless)."""

from __future__ import annotations

from pathlib import Path

from PySide6 import QtWidgets

from ..errors import MedRouteError
from ..export.dataset import OVERWRITE_HINT


class ExportDialog(QtWidgets.QDialog):
    """Task, layout, destination, overwrite and DICOM SEG choices; :meth:`options` returns them."""

    def __init__(self, parent=None, tasks=(), task: str = "", is_dicom: bool = False, folder: str = ""):
        super().__init__(parent)
        self.setWindowTitle("Export for retraining")
        form = QtWidgets.QFormLayout(self)
        self.task = QtWidgets.QComboBox()
        self.task.setEditable(True)
        self.task.addItems(list(tasks) or ["brain_mri"])
        if task:
            self.task.setCurrentText(task)
        self.fmt = QtWidgets.QComboBox()
        self.fmt.addItem("nnU-Net v2 (DatasetNNN_Name)", "nnunet")
        self.fmt.addItem("Medical Segmentation Decathlon (TaskNN_Name)", "msd")
        row = QtWidgets.QHBoxLayout()
        self.out = QtWidgets.QLineEdit(folder or str(Path.home() / "nnUNet_raw"))
        browse = QtWidgets.QPushButton("Browse...")
        browse.clicked.connect(self._browse)
        row.addWidget(self.out)
        row.addWidget(browse)
        self.overwrite = QtWidgets.QCheckBox("Replace this study's labels if it was exported before")
        self.seg = QtWidgets.QCheckBox("Also write a DICOM SEG for PACS (kept outside the dataset)")
        self.seg.setEnabled(is_dicom)
        self.seg.setChecked(is_dicom)
        form.addRow("Task", self.task)
        form.addRow("Layout", self.fmt)
        form.addRow("Destination", row)
        form.addRow(self.overwrite)
        form.addRow(self.seg)
        note = QtWidgets.QLabel("Case ids are pseudonyms; the key linking them to this study stays on this computer.")
        note.setWordWrap(True)
        form.addRow(note)
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.Ok | QtWidgets.QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _browse(self) -> None:
        d = QtWidgets.QFileDialog.getExistingDirectory(self, "Export into folder", self.out.text())
        if d:
            self.out.setText(d)

    def options(self) -> dict:
        return {"task": self.task.currentText().strip(), "fmt": self.fmt.currentData(), "out": self.out.text().strip(),
                "overwrite": self.overwrite.isChecked(), "dicom_seg": self.seg.isEnabled() and self.seg.isChecked()}


def run_export(win, opts: dict):
    """Export the window's current session with ``opts``; returns the :class:`ExportReport`."""
    from ..editing import Session
    from ..export import case_from_session
    from ..export.cli import export_with_segs
    from ..export.dataset import LAYOUTS, resolve_dataset_dir

    editing = getattr(win, "editing", None)
    session = editing.ensure_session() if editing is not None else None
    if session is None:
        session = Session(win.study, win.labelmap)
    case = case_from_session(session, getattr(win, "last_segmentation", None))  # model, routing, time
    seg_dir = None
    if opts.get("dicom_seg"):  # beside the dataset, never inside it (a SEG carries the patient's identity)
        ds = resolve_dataset_dir(opts["out"], LAYOUTS[opts["fmt"]](), opts["task"])
        seg_dir = ds.parent / f"{ds.name}_dicom_seg"
    return export_with_segs([case], opts["out"], opts["task"], opts["fmt"], seg_dir, overwrite=opts["overwrite"])


def export_for_retraining(win) -> None:
    if win.study is None or win.labelmap is None:
        win.show_error("Nothing to export", "Open a study and segment or draw labels first.")
        return
    try:
        from ..inference.registry import default_registry

        tasks = default_registry().task_ids()
    except MedRouteError:
        tasks = []
    seg = getattr(win, "last_segmentation", None) or {}
    task = seg.get("plugin") or (tasks[0] if tasks else "")
    dlg = ExportDialog(win, tasks, task, str(win.study.format).upper().startswith("DICOM"))
    if dlg.exec() != QtWidgets.QDialog.Accepted:
        return
    try:
        rep = run_export(win, dlg.options())
    except MedRouteError as e:
        tick = f'{OVERWRITE_HINT} (tick "{dlg.overwrite.text()}")'  # the dialog's way to overwrite, not the CLI's
        win.show_error("Export failed", str(e).replace(OVERWRITE_HINT, tick))
        return
    msg = f"Exported to {rep.dataset} ({rep.num_training} cases)."
    if rep.dicom_seg:
        msg += f"\nDICOM SEG: {rep.dicom_seg[0]}"
    msg += "".join(f"\nNote: {n}" for n in rep.notes)
    QtWidgets.QMessageBox.information(win, "Export for retraining", msg)
