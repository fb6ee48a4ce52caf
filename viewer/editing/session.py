"""A :class:`Session`: the study, its label map, undo history, provenance and view state - what panels observe.

``Session.save(path)`` writes ONE file (a zip readable by ``numpy.load``: ``labels.npy`` plus ``meta.json`` with
the study reference, label table, provenance, view state and active label), atomically (temp file, fsync,
rename).  ``Session.load(path)`` reopens the study from its reference (or takes an already opened one) and checks
that the labels lie on its grid.  No Qt.
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from pathlib import Path

import numpy as np

from ..errors import GeometryMismatchError, MedRouteError, SessionError
from ..io._common import atomic_path
from ..model.geometry import Geometry
from ..model.labels import LabelMap, LabelTable
from ..model.view_state import ViewState
from .editor import Editor
from .provenance import Provenance

FORMAT = "medroute-session"
VERSION = 1
SUFFIX = ".mrsession"


def study_image(study) -> np.ndarray:
    """The (z, y, x) intensities tools threshold and fill on: the voxels, or the first channel / grey of colour."""
    v = study.voxels
    if v.ndim == 3:
        return v
    if study.is_rgb:
        return (v[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32))
    return v[..., 0]


def study_reference(study) -> dict:
    """How a session file finds its study again: the path the user opened (for a study inside a .zip / .gz, the
    archive, not its unpacked copy in the cache, which may have been cleaned up), series, shape and geometry."""
    src = [str(s) for s in (study.source or [])]
    path = src[0] if len(src) == 1 else (str(Path(src[0]).parent) if src else "")
    if study.metadata.get("archive"):
        path = str(study.metadata["archive"])
    return {"path": path, "series_uid": study.series_uid, "shape": list(study.shape),
            "geometry": study.geometry.to_dict(), "name": study.name}


class Session:
    def __init__(self, study, labelmap: LabelMap | None = None, view_state: ViewState | None = None,
                 provenance: Provenance | None = None):
        self.study = study
        self.labelmap = labelmap if labelmap is not None else LabelMap.empty_like(study)
        if tuple(self.labelmap.shape) != tuple(study.shape):
            raise GeometryMismatchError("The label map does not lie on the study's grid.")
        self.view_state = view_state if view_state is not None else ViewState(study.shape)
        self.editor = Editor(self.labelmap, study_image(study), provenance=provenance)
        self._table_rev = 0
        self.labelmap.table.changed.connect(self._on_table_changed)

    def _on_table_changed(self, _v=0) -> None:
        self._table_rev += 1

    @property
    def history(self):
        return self.editor.history

    @property
    def provenance(self) -> Provenance:
        return self.editor.provenance

    @property
    def revision(self) -> int:
        """Changes whenever anything a session file holds changed (labels through history, label table)."""
        return self.history.generation * 100003 + self._table_rev

    # --- persistence ----------------------------------------------------------------------------------------
    def meta(self) -> dict:
        vs = self.view_state
        return {
            "format": FORMAT, "version": VERSION, "saved": time.time(),
            "study": study_reference(self.study),
            "label_table": self.labelmap.table.to_list(),
            "provenance": self.provenance.to_dict(),
            "view_state": {"cursor": list(vs.cursor), "levels": list(vs.levels), "layout": vs.layout,
                           "overlay_visible": vs.overlay_visible, "overlay_mode": vs.overlay_mode,
                           "overlay_opacity": vs.overlay_opacity},
            "active_label": self.editor.options.active_label,
            "history_steps": len(self.history.undo_stack),
        }

    def save(self, path) -> Path:
        return write_session_file(path, self.labelmap.data, self.meta())

    @classmethod
    def load(cls, path, study=None) -> Session:
        labels, meta = read_session_file(path)
        if study is None:
            from ..io import open_study

            ref = meta["study"]
            try:
                study = open_study(ref["path"], series=ref.get("series_uid") or None)
            except MedRouteError as e:
                raise SessionError(f"{Path(path).name}: the study it belongs to cannot be opened ({e})", path) from e
        try:
            return cls._from_meta(path, labels, meta, study)
        except (KeyError, TypeError, ValueError) as e:
            raise SessionError(f"{Path(path).name} is damaged ({type(e).__name__}: {e}); its labels cannot be "
                               "restored from it.", path) from e

    @classmethod
    def _from_meta(cls, path, labels, meta, study) -> Session:
        ref = meta["study"]
        if tuple(ref["shape"]) != tuple(study.shape) or tuple(labels.shape) != tuple(study.shape) or \
                not Geometry.from_dict(ref["geometry"]).is_close(study.geometry, atol=1e-3):
            raise SessionError(f"{Path(path).name} belongs to another study (size or position differ).", path)
        table = LabelTable.from_list(meta.get("label_table", []))
        lm = LabelMap(labels, study.geometry, table, source=str(path))
        vs = ViewState(study.shape)
        v = meta.get("view_state", {})
        if v:
            vs.cursor = tuple(int(c) for c in v.get("cursor", vs.cursor))
            vs.levels = tuple(float(c) for c in v.get("levels", vs.levels))
            vs.layout = v.get("layout", vs.layout)
            vs.overlay_visible = bool(v.get("overlay_visible", True))
            vs.overlay_mode = v.get("overlay_mode", "filled")
            vs.overlay_opacity = float(v.get("overlay_opacity", 0.5))
        s = cls(study, lm, vs, Provenance.from_dict(meta.get("provenance")))
        s.editor.options.active_label = int(meta.get("active_label", 1))
        return s


def write_session_file(path, labels: np.ndarray, meta: dict) -> Path:
    """One zip file (``labels.npy`` + ``meta.json``), written atomically; fast deflate (level 1)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f, zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
            zf.writestr("meta.json", json.dumps(meta))
            with zf.open("labels.npy", "w", force_zip64=True) as out:
                np.lib.format.write_array(out, np.ascontiguousarray(labels), allow_pickle=False)
    return path


def read_session_meta(path) -> dict:
    try:
        with zipfile.ZipFile(path) as zf:
            meta = json.loads(zf.read("meta.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as e:
        raise SessionError(f"{Path(path).name} is not a readable MedRoute session ({e}).", path) from e
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise SessionError(f"{Path(path).name} is not a MedRoute session file.", path)
    version = meta.get("version", 1)
    if not isinstance(version, int) or isinstance(version, bool):
        raise SessionError(f"{Path(path).name} is damaged: its format version {version!r} is not a number.", path)
    if version > VERSION:
        raise SessionError(f"{Path(path).name} was saved by a newer MedRoute (session format {meta.get('version')}); "
                           "update MedRoute to open it.", path)
    study = meta.get("study")
    if not (isinstance(study, dict) and isinstance(study.get("shape"), list) and isinstance(study.get("geometry"), dict)
            and isinstance(study.get("path"), str)):
        raise SessionError(f"{Path(path).name} is damaged: it does not say which study it belongs to.", path)
    return meta


def read_session_file(path) -> tuple[np.ndarray, dict]:
    meta = read_session_meta(path)
    try:
        with zipfile.ZipFile(path) as zf:
            labels = np.lib.format.read_array(io.BytesIO(zf.read("labels.npy")), allow_pickle=False)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as e:
        raise SessionError(f"{Path(path).name}: the labels in this session cannot be read ({e}).", path) from e
    if labels.dtype != np.uint8 or labels.ndim != 3:
        raise SessionError(f"{Path(path).name}: the labels in this session are damaged.", path)
    return labels, meta
