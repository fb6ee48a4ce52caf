"""Where each slice's labels came from.  No Qt.

Per slice along array axis 0 (the stored slice axis), one entry:

* ``{"source": "model", "plugin": id, "version": v}`` - written by a model and not touched since;
* ``{"source": "edited", "plugin": id, "version": v}`` - written by a model, then corrected by hand;
* ``{"source": "hand"}`` - drawn by hand on a slice the model left empty (or with no model at all);
* ``{"source": "interpolated"}`` - filled by interpolation between slices drawn by hand (not a key slice for the
  next interpolation, which may redo it); corrected by hand it becomes ``{"source": "edited", "from":
  "interpolated"}``;
* ``{"source": "file"}`` - loaded from a label file (or a session that did not say where they came from): someone's
  work, protected like hand edits; corrected by hand it becomes ``{"source": "edited", "from": "file"}``.

Slices without an entry hold no labels from anyone.  Saved with the session and carried to export.
"""

from __future__ import annotations

import numpy as np

MODEL, EDITED, HAND, FILE, INTERPOLATED = "model", "edited", "hand", "file", "interpolated"


class Provenance:
    def __init__(self, entries: dict[int, dict] | None = None):
        self.entries: dict[int, dict] = {int(k): dict(v) for k, v in (entries or {}).items()}

    def get(self, z: int) -> dict | None:
        e = self.entries.get(int(z))
        return dict(e) if e else None

    def source(self, z: int) -> str:
        e = self.entries.get(int(z))
        return e["source"] if e else ""

    def snapshot(self, zs) -> dict:
        return {int(z): self.get(z) for z in zs}

    def restore(self, snap: dict) -> None:
        for z, e in snap.items():
            if e is None:
                self.entries.pop(int(z), None)
            else:
                self.entries[int(z)] = dict(e)

    def mark_manual(self, zs) -> None:
        """Slices changed by a hand edit: model -> edited, file -> edited (from file), nothing -> hand; edited/hand
        stay."""
        for z in zs:
            z = int(z)
            e = self.entries.get(z)
            if e is None:
                self.entries[z] = {"source": HAND}
            elif e["source"] == MODEL:
                self.entries[z] = {**e, "source": EDITED}
            elif e["source"] in (FILE, INTERPOLATED):
                self.entries[z] = {"source": EDITED, "from": e["source"]}

    def mark_interpolated(self, zs) -> None:
        """Slices filled by interpolation: empty ones (or earlier interpolations) become "interpolated"; a slice
        with another source keeps it."""
        for z in zs:
            e = self.entries.get(int(z))
            if e is None or e["source"] == INTERPOLATED:
                self.entries[int(z)] = {"source": INTERPOLATED}

    def mark_file(self, labels: np.ndarray) -> None:
        """Labelled slices of ``labels`` (z, y, x) that have no source yet came from a file (label file, session)."""
        for z in np.flatnonzero(np.asarray(labels).reshape(len(labels), -1).any(axis=1)):
            self.entries.setdefault(int(z), {"source": FILE})

    def set_model(self, zs, plugin: str, version: str) -> None:
        for z in zs:
            self.entries[int(z)] = {"source": MODEL, "plugin": str(plugin), "version": str(version)}

    def clear(self, zs) -> None:
        for z in zs:
            self.entries.pop(int(z), None)

    def manual_slices(self) -> list[int]:
        return sorted(z for z, e in self.entries.items() if e["source"] in (EDITED, HAND))

    def has_manual_edits(self) -> bool:
        return any(e["source"] in (EDITED, HAND) for e in self.entries.values())

    def has_user_labels(self) -> bool:
        """Labels a model must not overwrite unasked: hand edits, or labels loaded from a file."""
        return any(e["source"] in (EDITED, HAND, FILE, INTERPOLATED) for e in self.entries.values())

    def counts(self) -> dict[str, int]:
        out = {MODEL: 0, EDITED: 0, HAND: 0}
        for e in self.entries.values():
            out[e["source"]] = out.get(e["source"], 0) + 1
        return out

    def to_dict(self) -> dict:
        return {str(z): dict(e) for z, e in sorted(self.entries.items())}

    @classmethod
    def from_dict(cls, d: dict | None) -> Provenance:
        """ValueError when ``d`` is not what :meth:`to_dict` writes (slice number -> entry with a "source")."""
        entries = {int(k): v for k, v in (d or {}).items()}
        if not all(isinstance(v, dict) and isinstance(v.get("source"), str) for v in entries.values()):
            raise ValueError("provenance entries without a source")
        return cls(entries)
