"""Applying a model's segmentation as ONE undoable step, without silently discarding manual edits.  No Qt.

When the session holds manual edits or labels loaded from a file (provenance says "hand", "edited" or "file"
somewhere) the caller must choose:
``"replace"`` (the model result replaces all labels), ``"fill_empty"`` (only slices with no labels at all take
the model's labels) or ``"cancel"``.  Without a choice :class:`EditConflictError` is raised so the UI can ask.
"""

from __future__ import annotations

import numpy as np

from ..errors import EditConflictError, GeometryMismatchError
from ..model.labels import Label, default_label

REPLACE, FILL_EMPTY, CANCEL = "replace", "fill_empty", "cancel"
MODES = (REPLACE, FILL_EMPTY, CANCEL)


def needs_choice(session) -> bool:
    """True when applying a model result could overwrite manual edits or loaded labels (ask replace / fill empty /
    cancel)."""
    return session.provenance.has_user_labels()


def _prov_dict(provenance) -> dict:
    if isinstance(provenance, dict):
        return {"plugin": str(provenance.get("plugin", provenance.get("id", "model"))),
                "version": str(provenance.get("version", ""))}
    return {"plugin": str(getattr(provenance, "plugin", getattr(provenance, "id", "model"))),
            "version": str(getattr(provenance, "version", ""))}


def apply_model_result(session, labels: np.ndarray, provenance, mode: str | None = None,
                       names: dict | None = None):
    """Apply model ``labels`` (uint8 on the study grid) to ``session``; returns the history step (None: nothing).

    ``provenance``: ``{"plugin": id, "version": v}`` (or an object with those attributes).  ``names``: optional
    ``{value: name}`` or ``{value: (name, colour)}`` for the label table.
    """
    if mode is not None and mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    if mode == CANCEL:
        return None
    if mode is None:
        if needs_choice(session):
            raise EditConflictError(
                "This study has manual edits or loaded labels; choose whether the model result replaces them, fills "
                "only the empty slices, or is cancelled.")
        mode = REPLACE
    labels = np.asarray(labels)
    if tuple(labels.shape) != tuple(session.study.shape):
        raise GeometryMismatchError(
            f"The model result is {labels.shape} but the study is {session.study.shape}; it cannot be applied.")
    labels = labels.astype(np.uint8, copy=False)
    ed = session.editor
    prov = _prov_dict(provenance)
    table = session.labelmap.table
    for v, n in (names or {}).items():
        if int(v) and int(v) not in table:
            name, colour = (n if isinstance(n, (tuple, list)) else (n, default_label(int(v)).color))
            table.add(Label(int(v), str(name), tuple(colour)))
    nz, ny, nx = labels.shape
    full = (0, nz, 0, ny, 0, nx)
    label = f"Model {prov['plugin']} {prov['version']}".strip()
    if mode == REPLACE:
        mask = None
    else:
        empty = ~ed.data.reshape(nz, -1).any(axis=1)
        mask = np.zeros(labels.shape, bool)
        mask[empty] = labels[empty] != 0
        label += " (empty slices only)"
    with ed.group(label):
        ed.paint(full, mask, labels, respect_options=False, origin=prov)
    step = ed.history.undo_stack[-1] if ed.history.undo_stack and ed.history.undo_stack[-1].name == label else None
    if mode == REPLACE:  # slices the model labelled but that were already identical still count as model output
        same = [int(z) for z in np.flatnonzero(labels.reshape(nz, -1).any(axis=1))
                if ed.provenance.source(int(z)) == ""]
        ed.provenance.set_model(same, prov["plugin"], prov["version"])
    return step
