"""The editing tool bar: navigate / brush / eraser / fill / threshold / polygon / picker, undo and redo."""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

_ORDER = ("tool_navigate", "tool_brush", "tool_eraser", "tool_fill", "tool_threshold", "tool_polygon",
          "tool_picker", None, "undo", "redo")


class EditToolBar(QtWidgets.QToolBar):
    def __init__(self, controller, parent=None):
        super().__init__("Editing", parent)
        self.setObjectName("toolbar_editing")
        self.setToolButtonStyle(QtCore.Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.controller = controller
        for k in _ORDER:
            if k is None:
                self.addSeparator()
                continue
            a = controller.actions.get(k)
            if a is not None:
                self.addAction(a)

