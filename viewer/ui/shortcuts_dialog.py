"""Help -> Shortcuts: every editing and viewing key in one table."""

from __future__ import annotations

from PySide6 import QtWidgets

SHORTCUTS = (
    ("B", "Brush (hold Shift while painting to erase)"),
    ("E", "Eraser"),
    ("F", "Fill (connected region within the tolerance)"),
    ("T", "Threshold paint (brush limited to an intensity range)"),
    ("P", "Polygon / lasso (drag, or click vertices and double-click)"),
    ("K", "Pick the label under the mouse"),
    ("N / Esc", "Navigate (crosshair) - no tool"),
    ("[  /  ]", "Brush smaller / larger"),
    ("1 - 9", "Active label"),
    ("Ctrl+Z", "Undo"),
    ("Ctrl+Shift+Z, Ctrl+Y", "Redo"),
    ("Ctrl+I", "Interpolate the active label between edited slices"),
    ("Ctrl+S / Ctrl+Shift+L", "Save session / open session"),
    ("Wheel, Up/Down, Page Up/Down", "Change slice"),
    ("Ctrl + wheel, middle drag", "Zoom, pan"),
    ("Ctrl+0", "Fit to window"),
    ("Right drag", "Window / level"),
    ("Alt+1 ... Alt+6", "Window / level presets"),
    ("Ctrl+1 / 2 / 3", "Layouts 1x1, 1x3, 2x2"),
    ("O / C", "Label overlay / crosshair on or off"),
)


class ShortcutsDialog(QtWidgets.QDialog):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Shortcuts")
        table = QtWidgets.QTableWidget(len(SHORTCUTS), 2, self)
        table.setHorizontalHeaderLabels(("Keys", "Action"))
        table.verticalHeader().setVisible(False)
        table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        for r, (k, a) in enumerate(SHORTCUTS):
            table.setItem(r, 0, QtWidgets.QTableWidgetItem(k))
            table.setItem(r, 1, QtWidgets.QTableWidgetItem(a))
        table.resizeColumnsToContents()
        table.horizontalHeader().setStretchLastSection(True)
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay = QtWidgets.QVBoxLayout(self)
        lay.addWidget(table)
        lay.addWidget(buttons)
        self.table = table
        self.resize(560, 560)
