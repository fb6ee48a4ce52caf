"""Undo / redo history of bounded diffs, limited by memory.  No Qt.

A :class:`Step` is what one Ctrl+Z undoes: a named list of :class:`~viewer.editing.funnel.Atom` (a whole brush
stroke is merged into one atom) plus the provenance of the slices it touched before and after.  The history keeps
at most ``limit_bytes`` (default 256 MB) of steps, dropping the oldest first; a new edit clears the redo list.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from psygnal import Signal

from .funnel import Atom

DEFAULT_LIMIT_BYTES = 256 * 1024 * 1024


@dataclass
class Step:
    name: str
    atoms: list[Atom] = field(default_factory=list)
    prov_before: dict = field(default_factory=dict)  # slice -> entry or None
    prov_after: dict = field(default_factory=dict)
    table_before: list | None = None  # label table snapshot (label add/delete steps)
    table_after: list | None = None

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.atoms) + 64 * (len(self.prov_before) + len(self.prov_after)) + 200


class History:
    """Undo and redo stacks of :class:`Step` objects with a memory bound."""

    changed = Signal()  # stacks changed (undo/redo availability, names)

    def __init__(self, limit_bytes: int = DEFAULT_LIMIT_BYTES):
        self.limit_bytes = int(limit_bytes)
        self.undo_stack: list[Step] = []
        self.redo_stack: list[Step] = []
        self.generation = 0  # bumps on every change of the label data through the history
        self.dropped = 0  # steps dropped to respect the memory bound

    @property
    def nbytes(self) -> int:
        return sum(s.nbytes for s in self.undo_stack) + sum(s.nbytes for s in self.redo_stack)

    def can_undo(self) -> bool:
        return bool(self.undo_stack)

    def can_redo(self) -> bool:
        return bool(self.redo_stack)

    def undo_name(self) -> str:
        return self.undo_stack[-1].name if self.undo_stack else ""

    def redo_name(self) -> str:
        return self.redo_stack[-1].name if self.redo_stack else ""

    def push(self, step: Step) -> None:
        self.undo_stack.append(step)
        self.redo_stack.clear()
        self.generation += 1
        self._trim()
        self.changed.emit()

    def pop_undo(self) -> Step | None:
        if not self.undo_stack:
            return None
        s = self.undo_stack.pop()
        self.redo_stack.append(s)
        self.generation += 1
        self.changed.emit()
        return s

    def pop_redo(self) -> Step | None:
        if not self.redo_stack:
            return None
        s = self.redo_stack.pop()
        self.undo_stack.append(s)
        self.generation += 1
        self.changed.emit()
        return s

    def clear(self) -> None:
        self.undo_stack.clear()
        self.redo_stack.clear()
        self.generation += 1
        self.changed.emit()

    def _trim(self) -> None:
        total = self.nbytes
        while total > self.limit_bytes and len(self.undo_stack) > 1:
            total -= self.undo_stack.pop(0).nbytes
            self.dropped += 1
