"""Choose one series when a folder holds several."""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets


class SeriesDialog(QtWidgets.QDialog):
    def __init__(self, series: list[dict], parent=None):
        super().__init__(parent)
        self.setWindowTitle("Choose a series")
        self.series = series
        self.list = QtWidgets.QTreeWidget()
        self.list.setHeaderLabels(["Description", "Modality", "Slices", "Size", "Series UID"])
        self.list.setRootIsDecorated(False)
        for s in series:
            it = QtWidgets.QTreeWidgetItem([
                s.get("description") or "(no description)", s.get("modality", ""), str(s.get("slices", "")),
                " x ".join(str(v) for v in s.get("shape", [])), s.get("uid", ""),
            ])
            it.setData(0, QtCore.Qt.ItemDataRole.UserRole, s.get("uid"))
            self.list.addTopLevelItem(it)
        # Largest series first selected (what open_study picks by default).
        if series:
            best = max(range(len(series)), key=lambda i: int(series[i].get("slices", 0) or 0))
            self.list.setCurrentItem(self.list.topLevelItem(best))
        for c in range(5):
            self.list.resizeColumnToContents(c)
        self.list.itemDoubleClicked.connect(lambda *_: self.accept())
        buttons = QtWidgets.QDialogButtonBox(
            QtWidgets.QDialogButtonBox.StandardButton.Open | QtWidgets.QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay = QtWidgets.QVBoxLayout(self)
        lay.addWidget(QtWidgets.QLabel(f"This folder holds {len(series)} series. Which one should be opened?"))
        lay.addWidget(self.list, 1)
        lay.addWidget(buttons)
        self.resize(720, 320)

    def selected_uid(self) -> str | None:
        it = self.list.currentItem()
        return None if it is None else it.data(0, QtCore.Qt.ItemDataRole.UserRole)
