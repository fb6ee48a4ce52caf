"""viewer.editing: Qt-free label editing (see ../shared/DESIGN.md and docs/editing.md).

All tools change voxels through one routine, :meth:`Editor.paint`, which records a bounded-diff undo atom,
updates per-slice provenance and reports the dirty box.
"""

from .autosave import Autosaver, find_recoveries, find_recovery, recovery_path
from .brush import BrushTool, EraserTool, ThresholdTool, capsule_mask
from .editor import Editor, EditOptions
from .fill import FillTool, PolygonTool, flood_region, polygon_mask
from .history import History, Step
from .interpolate import interpolate_label
from .model_result import CANCEL, FILL_EMPTY, REPLACE, apply_model_result, needs_choice
from .morphology import keep_largest, remove_small_islands, smooth
from .pointer import PointerEvent, Tool
from .provenance import Provenance
from .session import Session
from .stats import label_statistics
from .tools import PickerTool, make_tool

__all__ = [
    "Autosaver", "BrushTool", "CANCEL", "Editor", "EditOptions", "EraserTool", "FILL_EMPTY", "FillTool", "History",
    "PickerTool", "PointerEvent", "PolygonTool", "Provenance", "REPLACE", "Session", "Step", "ThresholdTool", "Tool",
    "apply_model_result", "capsule_mask", "find_recoveries", "find_recovery", "flood_region", "interpolate_label", "keep_largest",
    "label_statistics", "make_tool", "needs_choice", "polygon_mask", "recovery_path", "remove_small_islands",
    "smooth",
]
