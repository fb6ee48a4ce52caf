"""Neutral pointer events and the tool contract.  No Qt.

The UI turns mouse events into :class:`PointerEvent` (continuous voxel position ``(z, y, x)`` where whole numbers
are voxel centres, the normal axis of the view it happened in, and modifier names) and feeds them to the active
:class:`Tool`.  Tests drive tools with synthetic events and no QApplication.
"""

from __future__ import annotations

from dataclasses import dataclass, field

PRESS, MOVE, RELEASE, DOUBLE = "press", "move", "release", "double"


@dataclass(frozen=True)
class PointerEvent:
    kind: str  # press | move | release | double
    voxel: tuple[float, float, float]  # continuous (z, y, x)
    axis: int = 0  # normal array axis of the view (the slice is voxel[axis])
    modifiers: frozenset = field(default_factory=frozenset)  # {"shift", "ctrl", "alt"}

    @property
    def index(self) -> tuple[int, int, int]:
        return tuple(int(round(v)) for v in self.voxel)  # type: ignore[return-value]

    @property
    def slice_index(self) -> int:
        return int(round(self.voxel[self.axis]))


class Tool:
    """Base class: a tool receives press / move / release (and double-click) events."""

    name = "tool"
    paints = True  # the UI routes left-button events to painting tools instead of the crosshair

    def __init__(self, editor):
        self.editor = editor

    def handle(self, ev: PointerEvent) -> None:
        getattr(self, ev.kind)(ev)

    def press(self, ev: PointerEvent) -> None:  # pragma: no cover - default: nothing
        pass

    def move(self, ev: PointerEvent) -> None:
        pass

    def release(self, ev: PointerEvent) -> None:
        pass

    def double(self, ev: PointerEvent) -> None:
        pass

    def cancel(self) -> None:
        pass


def in_bounds(voxel, shape) -> bool:
    return all(0 <= int(round(v)) < n for v, n in zip(voxel, shape))
