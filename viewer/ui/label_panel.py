"""Label overlay panel: the label table (visible, colour, value, name, opacity) and overlay display settings.

It edits the :class:`~viewer.model.labels.LabelTable` and :class:`~viewer.model.view_state.ViewState`; the views
listen to those, not to this panel.
"""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

from ..model.view_state import ViewState

_COLS = ("Show", "Colour", "Value", "Name", "Opacity")


class LabelPanel(QtWidgets.QWidget):
    def __init__(self, state: ViewState, parent=None):
        super().__init__(parent)
        self.state = state
        self.table_model = None  # LabelTable
        self._filling = False

        self.show_box = QtWidgets.QCheckBox("Show overlay")
        self.show_box.toggled.connect(lambda on: state.set_overlay(visible=on))
        self.mode_box = QtWidgets.QComboBox()
        self.mode_box.addItems(["Filled", "Outline"])
        self.mode_box.currentIndexChanged.connect(
            lambda i: state.set_overlay(mode="filled" if i == 0 else "outline"))
        self.opacity = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setToolTip("Overlay opacity")
        self.opacity.valueChanged.connect(lambda v: state.set_overlay(opacity=v / 100.0))
        self._sync_overlay()
        state.overlay_changed.connect(self._sync_overlay)  # the O key, the tool bar, a loaded session

        self.table = QtWidgets.QTableWidget(0, len(_COLS))
        self.table.setHorizontalHeaderLabels(_COLS)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setStretchLastSection(False)
        self.table.horizontalHeader().setSectionResizeMode(3, QtWidgets.QHeaderView.ResizeMode.Stretch)
        self.table.itemChanged.connect(self._on_item_changed)
        self.table.cellDoubleClicked.connect(self._on_double_click)

        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.show_box)
        row.addWidget(self.mode_box)
        row2 = QtWidgets.QHBoxLayout()
        row2.addWidget(QtWidgets.QLabel("Opacity"))
        row2.addWidget(self.opacity, 1)
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(row)
        lay.addLayout(row2)
        lay.addWidget(self.table, 1)

    def _sync_overlay(self) -> None:
        """Show the state's overlay settings without echoing them back to it (signals blocked)."""
        s, widgets = self.state, (self.show_box, self.mode_box, self.opacity)
        for w in widgets:
            w.blockSignals(True)
        try:
            self.show_box.setChecked(s.overlay_visible)
            self.mode_box.setCurrentIndex(0 if s.overlay_mode == "filled" else 1)
            self.opacity.setValue(int(round(s.overlay_opacity * 100)))
        finally:
            for w in widgets:
                w.blockSignals(False)

    def set_table(self, table) -> None:
        if self.table_model is not None:
            self.table_model.changed.disconnect(self._refill)
        self.table_model = table
        if table is not None:
            table.changed.connect(self._refill)
        self._refill()

    def _refill(self, _value=0) -> None:
        self._filling = True
        try:
            labels = list(self.table_model) if self.table_model is not None else []
            self.table.setRowCount(len(labels))
            for r, lab in enumerate(labels):
                show = QtWidgets.QTableWidgetItem()
                show.setFlags(QtCore.Qt.ItemFlag.ItemIsUserCheckable | QtCore.Qt.ItemFlag.ItemIsEnabled)
                show.setCheckState(QtCore.Qt.CheckState.Checked if lab.visible else QtCore.Qt.CheckState.Unchecked)
                colour = QtWidgets.QTableWidgetItem()
                colour.setBackground(QtGui.QColor(*lab.color))
                colour.setFlags(QtCore.Qt.ItemFlag.ItemIsEnabled)
                colour.setToolTip("Double-click to change the colour")
                value = QtWidgets.QTableWidgetItem(str(lab.value))
                value.setFlags(QtCore.Qt.ItemFlag.ItemIsEnabled)
                name = QtWidgets.QTableWidgetItem(lab.name)
                opac = QtWidgets.QTableWidgetItem(f"{lab.opacity:.2f}")
                for c, it in enumerate((show, colour, value, name, opac)):
                    it.setData(QtCore.Qt.ItemDataRole.UserRole, lab.value)
                    self.table.setItem(r, c, it)
            self.table.resizeColumnsToContents()
        finally:
            self._filling = False

    def _on_item_changed(self, item) -> None:
        if self._filling or self.table_model is None:
            return
        value = item.data(QtCore.Qt.ItemDataRole.UserRole)
        col = item.column()
        if col == 0:
            self.table_model.set(value, visible=item.checkState() == QtCore.Qt.CheckState.Checked)
        elif col == 3:
            self.table_model.set(value, name=item.text())
        elif col == 4:
            try:
                self.table_model.set(value, opacity=float(item.text()))
            except ValueError:
                self._refill()

    def _on_double_click(self, row: int, col: int) -> None:
        if col != 1 or self.table_model is None:
            return
        value = self.table.item(row, col).data(QtCore.Qt.ItemDataRole.UserRole)
        c = QtWidgets.QColorDialog.getColor(QtGui.QColor(*self.table_model[value].color), self, "Label colour")
        if c.isValid():
            self.table_model.set(value, color=(c.red(), c.green(), c.blue()))
