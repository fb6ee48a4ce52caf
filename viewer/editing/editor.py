"""The editor: one label map, its undo history and provenance, the editing options, and THE paint funnel.

Every tool (brush, eraser, threshold paint, fill, polygon, islands, smoothing, interpolation, clear, model
results, label deletion) changes voxels only through :meth:`Editor.paint`, which applies the change inside a box,
records the undo atom, updates per-slice provenance and reports the dirty box (``LabelMap.changed``).  No Qt.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
from psygnal import Signal

from ..errors import EditError
from ..model.labels import Label, LabelMap, default_label
from .funnel import Atom, BBox, box_slices, clip_box, merge_atoms, tight_box, union_box
from .history import History, Step
from .provenance import Provenance


@dataclass
class EditOptions:
    active_label: int = 1
    preserve_others: bool = False  # do not overwrite (or erase) labels other than the active one
    brush_mm: float = 5.0  # brush diameter in millimetres
    brush_3d: bool = False  # sphere instead of a disc on the current plane
    threshold: tuple[float, float] | None = None  # threshold paint: intensity range
    fill_tolerance: float = 10.0
    fill_3d: bool = False


def default_fill_tolerance(image: np.ndarray | None, cap: float = 10.0) -> float:
    """The fill tool's starting tolerance: 10 intensity units (CT numbers, MR and 8-bit grey values), or 4 % of
    the image's 1st-99th percentile range when that is smaller, so a fill on a 0..0.003 mm^2/s ADC map or a 0..1
    probability map starts with a sensible region instead of flooding the slice."""
    if image is None or image.size == 0:
        return cap
    sample = np.asarray(image).reshape(-1)[:: max(1, image.size // 200_000)].astype(np.float64)
    sample = sample[np.isfinite(sample)]
    if sample.size == 0:
        return cap
    lo, hi = np.percentile(sample, [1, 99])
    tol = 0.04 * float(hi - lo)
    if not tol > 0 or tol >= cap:
        return cap
    return float(f"{tol:.2g}")


class Editor:
    options_changed = Signal()

    def __init__(self, labelmap: LabelMap, image: np.ndarray | None = None, history: History | None = None,
                 provenance: Provenance | None = None):
        self.labelmap = labelmap
        self.image = image  # (z, y, x) intensities for threshold paint and fill (first channel of colour data)
        self.history = history if history is not None else History()
        self.provenance = provenance if provenance is not None else Provenance()
        self.options = EditOptions(fill_tolerance=default_fill_tolerance(image))
        # where long computations run: ``background(compute, apply, title)`` must call ``apply(compute())`` on the
        # thread that owns the label map.  None: right here (headless use, tests); the GUI runs ``compute`` on a
        # worker thread so a 3D fill of a large volume does not freeze the window.
        self.background = None
        self._group: Step | None = None
        self._group_box: BBox | None = None

    # --- options --------------------------------------------------------------------------------------------
    @property
    def data(self) -> np.ndarray:
        return self.labelmap.data

    @property
    def spacing_zyx(self) -> tuple[float, float, float]:
        sx, sy, sz = self.labelmap.geometry.spacing
        return float(sz), float(sy), float(sx)

    def set_option(self, **kw) -> None:
        for k, v in kw.items():
            if not hasattr(self.options, k):
                raise AttributeError(f"no editing option {k!r}")
            if k == "active_label":
                v = int(v)
                if not 1 <= v <= 255:
                    raise EditError(f"Label values are 1 to 255, not {v}.")
                if v not in self.labelmap.table:
                    self.labelmap.table.add(default_label(v))
            if k == "brush_mm":
                v = float(min(max(v, 0.1), 500.0))
            setattr(self.options, k, v)
        self.options_changed.emit()

    # --- the paint funnel -----------------------------------------------------------------------------------
    def paint(self, bbox, mask: np.ndarray | None, value, *, respect_options: bool = True,
              origin: dict | None = None, name: str = "Edit") -> Atom | None:
        """Set voxels inside ``bbox`` where ``mask`` is True to ``value`` (an int, or an array of the box shape).

        ``bbox`` may reach outside the volume (it is clipped, with the mask).  With ``respect_options`` and
        "preserve other labels" on, painting only touches background or the active label and erasing (value 0)
        only removes the active label.  ``origin`` marks a model result (``{"plugin", "version"}``) for
        provenance; otherwise the touched slices count as hand edits.  Records one undo atom (in the open group,
        or as its own step named ``name``), emits ``LabelMap.changed(box)`` and returns the atom (None: no voxel
        changed).
        """
        shape = self.data.shape
        if mask is None:
            mask = np.ones(tuple(int(bbox[2 * i + 1]) - int(bbox[2 * i]) for i in range(3)), bool)
        clipped = clip_box(bbox, shape)
        if clipped is None:
            return None
        box, sub = clipped
        mask = mask[sub]
        arr = np.ndim(value) > 0
        if arr:
            value = np.asarray(value)[sub]
        region = self.data[box_slices(box)]
        m = mask
        if respect_options and self.options.preserve_others:
            act = self.options.active_label
            if not arr and int(value) == 0:
                m = m & (region == act)
            else:
                m = m & ((region == 0) | (region == value))
        changed = m & (region != value)
        tb = tight_box(changed, (box[0], box[2], box[4]))
        if tb is None:
            return None
        if tb != box:  # shrink to what changed: the atom stays proportional to the changed region
            loc = (slice(tb[0] - box[0], tb[1] - box[0]), slice(tb[2] - box[2], tb[3] - box[2]),
                   slice(tb[4] - box[4], tb[5] - box[4]))
            changed, box = changed[loc], tb
            region = self.data[box_slices(box)]
            if arr:
                value = value[loc]
        old = region[changed]
        new = value[changed].astype(np.uint8) if arr else np.full(old.shape, int(value), np.uint8)
        region[changed] = new
        atom = Atom.from_mask(box, changed, old, new)
        zs = atom.slices_touched(0)
        before = self.provenance.snapshot(zs)
        if origin is None:
            self.provenance.mark_manual(zs)
        elif origin.get("interpolated"):  # filled between key slices: not a key slice itself
            self.provenance.mark_interpolated(zs)
        else:  # a model result: slices it leaves empty have no source any more
            filled = [int(z) for z in zs if self.data[int(z)].any()]
            self.provenance.clear(zs)
            self.provenance.set_model(filled, origin.get("plugin", "model"), origin.get("version", ""))
        after = self.provenance.snapshot(zs)
        if self._group is not None:
            self._group.atoms.append(atom)
            for z, e in before.items():
                self._group.prov_before.setdefault(z, e)
            self._group.prov_after.update(after)
            self._group_box = union_box(self._group_box, box)
        else:
            self.history.push(Step(name, [atom], before, after))
        self.labelmap.notify(box)
        return atom

    # --- grouping (a stroke is one step) --------------------------------------------------------------------
    def begin(self, name: str) -> None:
        if self._group is not None:
            self.end()
        self._group = Step(name)
        self._group_box = None

    def rename_group(self, name: str) -> None:
        if self._group is not None:
            self._group.name = name

    def end(self) -> Step | None:
        g, self._group = self._group, None
        if g is None or not g.atoms:
            return None
        merged = merge_atoms(self.data, g.atoms)
        g.atoms = [merged] if merged is not None else []
        if not g.atoms:
            return None
        self.history.push(g)
        return g

    @contextlib.contextmanager
    def group(self, name: str):
        self.begin(name)
        try:
            yield
        finally:
            self.end()

    # --- undo / redo ----------------------------------------------------------------------------------------
    def undo(self) -> BBox | None:
        if self._group is not None:
            self.end()
        step = self.history.pop_undo()
        if step is None:
            return None
        box = None
        for a in reversed(step.atoms):
            a.undo(self.data)
            box = union_box(box, a.bbox)
        self.provenance.restore(step.prov_before)
        if step.table_before is not None:
            self._restore_table(step.table_before)
        if box is not None:
            self.labelmap.changed.emit(box)
        return box

    def redo(self) -> BBox | None:
        step = self.history.pop_redo()
        if step is None:
            return None
        box = None
        for a in step.atoms:
            a.redo(self.data)
            box = union_box(box, a.bbox)
        self.provenance.restore(step.prov_after)
        if step.table_after is not None:
            self._restore_table(step.table_after)
        if box is not None:
            self.labelmap.notify(box)
        return box

    def _restore_table(self, items: list) -> None:
        t = self.labelmap.table
        keep = {int(d["value"]) for d in items}
        for v in list(t.values):
            if v not in keep:
                t._labels.pop(v, None)
        for d in items:
            t._labels[int(d["value"])] = Label(int(d["value"]), d["name"], tuple(d["color"]), d["visible"],
                                               d["opacity"])
        t.changed.emit(0)

    # --- label-level operations -----------------------------------------------------------------------------
    def clear_slice(self, axis: int, index: int, value: int | None = None) -> Atom | None:
        """Clear one slice (all labels, or only ``value``)."""
        box = [0, self.data.shape[0], 0, self.data.shape[1], 0, self.data.shape[2]]
        box[2 * axis], box[2 * axis + 1] = int(index), int(index) + 1
        region = self.data[box_slices(tuple(box))]
        mask = region != 0 if value is None else region == int(value)
        what = "all labels" if value is None else f"label {value}"
        return self.paint(tuple(box), mask, 0, respect_options=False, name=f"Clear slice {index + 1}, {what}")

    def clear_label(self, value: int) -> Atom | None:
        mask = self.data == int(value)
        return self.paint((0, *self.data.shape[:1], 0, self.data.shape[1], 0, self.data.shape[2]), mask, 0,
                          respect_options=False, name=f"Clear label {value}")

    def delete_label(self, value: int) -> None:
        """Remove a label from the table and clear its voxels - one undoable step."""
        t = self.labelmap.table
        before = t.to_list()
        with self.group(f"Delete label {value}"):
            self.clear_label(value)
        step = self.history.undo_stack[-1] if self.history.undo_stack and \
            self.history.undo_stack[-1].name == f"Delete label {value}" else None
        t._labels.pop(int(value), None)
        t.changed.emit(0)
        if step is None:
            step = Step(f"Delete label {value}")
            self.history.push(step)
        step.table_before, step.table_after = before, t.to_list()

    def pick_label(self, voxel) -> int:
        """Make the label under ``voxel`` active (background: keep the current one); returns it."""
        v = self.labelmap.value_at(voxel)
        if v:
            self.set_option(active_label=v)
        return self.options.active_label
