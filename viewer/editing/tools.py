"""Tool registry (name -> tool class) and the label picker.  No Qt."""

from __future__ import annotations

from .brush import BrushTool, EraserTool, ThresholdTool
from .fill import FillTool, PolygonTool
from .pointer import PointerEvent, Tool, in_bounds


class PickerTool(Tool):
    """Click a voxel: its label becomes the active label."""

    name = "picker"
    title = "Pick label"

    def press(self, ev: PointerEvent) -> None:
        if in_bounds(ev.voxel, self.editor.data.shape):
            self.editor.pick_label(ev.index)


TOOLS = {c.name: c for c in (BrushTool, EraserTool, ThresholdTool, FillTool, PolygonTool, PickerTool)}


def make_tool(name: str, editor) -> Tool:
    return TOOLS[name](editor)
