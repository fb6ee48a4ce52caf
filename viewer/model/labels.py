"""Label maps and label tables.  No Qt.

* :class:`Label` - one label value with its name, colour, visibility and opacity.
* :class:`LabelTable` - the labels of a study; emits ``changed(value)`` (psygnal) when a property changes and can
  build the 256-entry RGBA lookup table the overlay renders with (value 0 is always transparent).
* :class:`LabelMap` - a ``uint8`` array ``(z, y, x)`` sharing its study's geometry exactly; emits
  ``changed(bbox)`` with the box ``(z0, z1, y0, y1, x0, x1)`` (half-open) that changed, so views refresh only
  what changed.  Editing code writes into :attr:`LabelMap.data` in place and then calls :meth:`LabelMap.notify`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from psygnal import Signal

from ..errors import GeometryMismatchError
from .geometry import Geometry

# ITK-SNAP-like default colours for labels 1..N (cycled).
DEFAULT_COLORS: tuple[tuple[int, int, int], ...] = (
    (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255), (255, 0, 255), (255, 239, 213),
    (0, 0, 205), (205, 133, 63), (210, 180, 140), (102, 205, 170), (0, 0, 128), (0, 139, 139), (46, 139, 87),
    (255, 228, 225), (106, 90, 205), (221, 160, 221), (233, 150, 122), (165, 42, 42), (255, 250, 250),
)

BBox = tuple[int, int, int, int, int, int]


@dataclass
class Label:
    value: int
    name: str
    color: tuple[int, int, int]
    visible: bool = True
    opacity: float = 1.0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["color"] = list(self.color)
        return d


def default_label(value: int) -> Label:
    return Label(int(value), f"Label {int(value)}", DEFAULT_COLORS[(int(value) - 1) % len(DEFAULT_COLORS)])


class LabelTable:
    """The labels of a study, by value (1..255).  Value 0 is background and never drawn."""

    changed = Signal(int)  # label value whose properties changed (0: the whole table)

    def __init__(self, labels: list[Label] | None = None):
        self._labels: dict[int, Label] = {}
        for lab in labels or []:
            self._check_value(lab.value)
            self._labels[lab.value] = lab

    @staticmethod
    def _check_value(value: int) -> None:
        if not 1 <= int(value) <= 255:
            raise ValueError(f"label values must be 1..255, got {value}")

    @classmethod
    def for_values(cls, values, names: dict[int, str] | None = None) -> LabelTable:
        """A table with default colours for the given non-zero values."""
        out = []
        for v in sorted(int(x) for x in values if int(x) != 0):
            lab = default_label(v)
            if names and v in names:
                lab.name = names[v]
            out.append(lab)
        return cls(out)

    # --- access ---------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._labels)

    def __iter__(self):
        return iter(sorted(self._labels.values(), key=lambda lab: lab.value))

    def __contains__(self, value) -> bool:
        return int(value) in self._labels

    def __getitem__(self, value) -> Label:
        return self._labels[int(value)]

    @property
    def values(self) -> list[int]:
        return sorted(self._labels)

    def name_of(self, value: int) -> str:
        if int(value) == 0:
            return ""
        lab = self._labels.get(int(value))
        return lab.name if lab else f"Label {int(value)}"

    # --- edits (each emits changed) -------------------------------------------------------------------------
    def add(self, label: Label) -> None:
        self._check_value(label.value)
        self._labels[label.value] = label
        self.changed.emit(label.value)

    def ensure(self, values) -> None:
        """Add default entries for values present in a label map but missing from the table."""
        added = False
        for v in values:
            v = int(v)
            if v != 0 and v not in self._labels:
                self._check_value(v)
                self._labels[v] = default_label(v)
                added = True
        if added:
            self.changed.emit(0)

    def set(self, value: int, **props) -> None:
        """Change ``name``, ``color``, ``visible`` or ``opacity`` of one label."""
        lab = self._labels[int(value)]
        for k, v in props.items():
            if k not in ("name", "color", "visible", "opacity"):
                raise AttributeError(f"labels have no property {k!r}")
            if k == "opacity":
                v = float(min(1.0, max(0.0, v)))
            elif k == "color":
                v = tuple(int(c) for c in v)[:3]
            elif k == "visible":
                v = bool(v)
            setattr(lab, k, v)
        self.changed.emit(int(value))

    # --- rendering ------------------------------------------------------------------------------------------
    def lut(self, opacity: float = 1.0) -> np.ndarray:
        """``(256, 4)`` uint8 RGBA lookup table; unknown non-zero values get their default colour."""
        out = np.zeros((256, 4), dtype=np.uint8)
        a = int(round(255 * max(0.0, min(1.0, opacity))))
        for v in range(1, 256):
            out[v, :3] = DEFAULT_COLORS[(v - 1) % len(DEFAULT_COLORS)]
            out[v, 3] = a
        for lab in self._labels.values():
            out[lab.value, :3] = lab.color
            out[lab.value, 3] = int(round(a * lab.opacity)) if lab.visible else 0
        return out

    # --- persistence ----------------------------------------------------------------------------------------
    def to_list(self) -> list[dict]:
        return [lab.to_dict() for lab in self]

    @classmethod
    def from_list(cls, items: list[dict]) -> LabelTable:
        return cls([
            Label(int(d["value"]), str(d.get("name", f"Label {d['value']}")), tuple(d.get("color", (255, 0, 0)))[:3],
                  bool(d.get("visible", True)), float(d.get("opacity", 1.0)))
            for d in items
        ])


class LabelMap:
    """A ``uint8`` label volume ``(z, y, x)`` on its study's grid, with its label table."""

    changed = Signal(object)  # bbox (z0, z1, y0, y1, x0, x1), half-open

    def __init__(self, data: np.ndarray, geometry: Geometry, table: LabelTable | None = None, source: str = ""):
        if data.ndim != 3:
            raise ValueError(f"a label map is (z, y, x), got shape {data.shape}")
        if data.dtype != np.uint8:
            raise ValueError(f"a label map is uint8, got {data.dtype}")
        self.data = data
        self.geometry = geometry
        self.source = source
        self.table = table if table is not None else LabelTable.for_values(present_values(data))

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(v) for v in self.data.shape)  # type: ignore[return-value]

    @classmethod
    def empty_like(cls, study) -> LabelMap:
        return cls(np.zeros(study.shape, dtype=np.uint8), study.geometry, LabelTable())

    @classmethod
    def from_study(cls, labels_study, study, names: dict[int, str] | None = None) -> LabelMap:
        """Validate an opened label file against ``study`` and convert it to a label map.

        Raises :class:`GeometryMismatchError` when the grids differ and ``ValueError``-free typed errors for
        values that are not labels (negative, fractional, above 255, or colour images).
        """
        src = labels_study.source[0] if getattr(labels_study, "source", None) else "the label file"
        if labels_study.voxels.ndim != 3:
            raise GeometryMismatchError(
                f"{src} has {labels_study.n_channels} channels; a label file must be a single-channel image.", src)
        if tuple(labels_study.shape) != tuple(study.shape):
            raise GeometryMismatchError(
                f"{src} has size {fmt_shape(labels_study.shape)} but the study is {fmt_shape(study.shape)}; "
                "labels must be on the same voxel grid as the study.", src)
        if not labels_study.geometry.is_close(study.geometry, atol=1e-3):
            raise GeometryMismatchError(
                f"{src} has the same size as the study but a different position, spacing or orientation; "
                "labels must be on the same voxel grid as the study.", src)
        return cls.from_array(labels_study.voxels, study, names, source=src)

    @classmethod
    def from_array(cls, data: np.ndarray, study, names: dict[int, str] | None = None, source: str = "") -> LabelMap:
        """A label map from integer values already on ``study``'s grid (e.g. :func:`viewer.io.load_labels`)."""
        src = source or "the label file"
        if tuple(data.shape) != tuple(study.shape):
            raise GeometryMismatchError(
                f"{src} has size {fmt_shape(data.shape)} but the study is {fmt_shape(study.shape)}; "
                "labels must be on the same voxel grid as the study.", src)
        data = _as_label_array(data, src)
        return cls(data, study.geometry, LabelTable.for_values(present_values(data), names), source=source)

    def notify(self, bbox: BBox | None = None) -> None:
        """Tell listeners that ``data`` changed inside ``bbox`` (the whole volume when None)."""
        if bbox is None:
            z, y, x = self.shape
            bbox = (0, z, 0, y, 0, x)
        self.table.ensure(present_values(self.data[bbox[0]:bbox[1], bbox[2]:bbox[3], bbox[4]:bbox[5]]))
        self.changed.emit(tuple(int(v) for v in bbox))

    def value_at(self, voxel) -> int:
        z, y, x = (int(v) for v in voxel)
        return int(self.data[z, y, x])


def present_values(data: np.ndarray) -> list[int]:
    """Non-zero values present in a uint8 array (bincount: fast, no sort)."""
    counts = np.bincount(data.ravel(), minlength=256) if data.size else np.zeros(256, int)
    return [int(v) for v in np.nonzero(counts)[0] if v != 0]


def fmt_shape(shape) -> str:
    return " x ".join(str(int(v)) for v in shape)


def _as_label_array(a: np.ndarray, src: str) -> np.ndarray:
    if a.dtype == np.uint8:
        return a
    if a.dtype.kind == "b":
        return a.astype(np.uint8)
    if a.dtype.kind not in "iuf":
        raise GeometryMismatchError(f"{src} does not hold label values (data type {a.dtype}).", src)
    lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
    if lo < 0 or hi > 255:
        raise GeometryMismatchError(
            f"{src} holds values from {lo:g} to {hi:g}; label values must be whole numbers 0..255.", src)
    out = a.astype(np.uint8)
    if a.dtype.kind == "f" and not np.array_equal(out, a):
        raise GeometryMismatchError(f"{src} holds fractional values; it looks like an image, not a label file.", src)
    return out
