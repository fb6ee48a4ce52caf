"""What one exported case is made of, and how to build it from a session or from an image + label file pair.

An :class:`ExportCase` holds the image (``(z, y, x[, c])`` as stored by the study), the labels (uint8 ``(z, y, x)``
on the same grid), the study (for geometry and identity), the label names, a *source key* (what identifies the
source image: its DICOM SeriesInstanceUID, else a hash of its voxels - never written anywhere but the key file) and
the provenance collected so far.  No Qt.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import GeometryMismatchError
from .deid import ExportError


@dataclass
class ExportCase:
    study: object
    labels: np.ndarray
    label_names: dict[int, str] = field(default_factory=dict)
    source_key: str = ""
    group_key: str = ""
    provenance: dict = field(default_factory=dict)

    def __post_init__(self):
        lab = np.asarray(self.labels)
        if tuple(lab.shape) != tuple(self.study.shape):
            raise GeometryMismatchError(
                f"The labels are {lab.shape} (z, y, x) but the image is {tuple(self.study.shape)}; they must share "
                "the image's grid to be exported.")
        if lab.dtype.kind not in "biu" or (lab.size and lab.min() < 0):
            raise ExportError("Labels must hold whole non-negative numbers to be exported.")
        self.labels = lab.astype(np.uint8, copy=False)
        if not self.source_key:
            self.source_key = source_key(self.study)
        if not self.group_key:
            self.group_key = patient_key(self.study) or self.study.metadata.get("StudyInstanceUID") or self.source_key

    @property
    def is_2d(self) -> bool:
        return bool(self.study.is_2d)

    @property
    def n_channels(self) -> int:
        return int(self.study.n_channels)

    def channels(self) -> list[np.ndarray]:
        v = self.study.voxels
        return [v] if v.ndim == 3 else [v[..., c] for c in range(v.shape[3])]

    def channel_names(self) -> list[str]:
        names = list(getattr(self.study, "channel_names", []) or [])
        if len(names) == self.n_channels:
            return [str(n) for n in names]
        if self.n_channels == 1:
            return [str(self.study.modality or "image")]
        if self.n_channels == 3 and self.study.is_rgb:
            return ["R", "G", "B"]
        return [f"channel{c}" for c in range(self.n_channels)]

    def fingerprint(self) -> str:
        """sha256 of the image voxels (not identifying: the voxels are in the dataset anyway)."""
        return voxel_hash(self.study.voxels)


def voxel_hash(v: np.ndarray) -> str:
    h = hashlib.sha256(str((v.shape, str(v.dtype))).encode())
    h.update(np.ascontiguousarray(v).data)
    return h.hexdigest()


def patient_key(study) -> str:
    """The patient a DICOM study belongs to (PatientID, with its issuer), read from the source file's header, so
    that a baseline and a follow-up study of one patient land in the same split group; "" when the study is not
    DICOM or carries no PatientID.  Only ever used through the pseudonymizer's keyed hash, never written."""
    if not str(study.format).upper().startswith("DICOM") or not study.source:
        return ""
    import pydicom

    try:
        ds = pydicom.dcmread(study.source[0], stop_before_pixels=True, specific_tags=["PatientID", "IssuerOfPatientID"])
    except Exception:  # noqa: BLE001 - unreadable now: fall back to the study as the group
        return ""
    pid = str(ds.get("PatientID", "") or "").strip()
    return f"patient:{str(ds.get('IssuerOfPatientID', '') or '').strip()}:{pid}" if pid else ""


def source_key(study) -> str:
    uid = study.metadata.get("SeriesInstanceUID") or getattr(study, "series_uid", "")
    return f"series:{uid}" if uid else f"voxels:{voxel_hash(study.voxels)}"


def _plugin_sha(pid: str, version: str, registry) -> str:
    try:
        if registry is None:
            from ..inference.registry import default_registry

            registry = default_registry()
        p = registry.plugins.get(pid)
        if p is not None and str(p.version) == str(version):
            return p.sha256
        for s in registry.shadowed:
            if s.id == pid and str(s.version) == str(version):
                return s.sha256
    except Exception:  # noqa: BLE001 - provenance is best effort; the plugin may be gone
        pass
    return ""


def session_provenance(session, segmentation: dict | None = None, registry=None) -> dict:
    """Provenance of a session's labels: model(s) used, router decision, edited slices, counts."""
    prov = session.provenance
    models = {}
    for e in prov.entries.values():
        if e.get("plugin"):
            key = (e["plugin"], e.get("version", ""))
            models[key] = {"id": key[0], "version": key[1], "sha256": _plugin_sha(key[0], key[1], registry)}
    seg = dict(segmentation or {})
    if seg.get("plugin") and (seg["plugin"], seg.get("version", "")) not in models:
        k = (seg["plugin"], str(seg.get("version", "")))
        models[k] = {"id": k[0], "version": k[1], "sha256": seg.get("sha256") or _plugin_sha(k[0], k[1], registry)}
    return {
        "source_models": list(models.values()),
        "router": seg.get("routing"),
        "segmented_at": seg.get("created"),
        "edited_slices": prov.manual_slices(),
        "slice_sources": {str(z): e["source"] for z, e in sorted(prov.entries.items())},
        "slice_counts": prov.counts(),
        "history_steps": len(session.history.undo_stack),
    }


def case_from_session(session, segmentation: dict | None = None, group_key: str = "", registry=None) -> ExportCase:
    lm = session.labelmap
    names = {lab.value: lab.name for lab in lm.table}
    return ExportCase(session.study, lm.data, names, group_key=group_key,
                      provenance=session_provenance(session, segmentation, registry))


def case_from_session_file(path, group_key: str = "", registry=None) -> ExportCase:
    from ..editing.session import Session

    s = Session.load(path)
    case = case_from_session(s, group_key=group_key, registry=registry)
    case.provenance["session_saved_at"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(Path(path).stat().st_mtime))
    return case


def case_from_files(image_path, label_path, group_pattern: str | None = None) -> ExportCase:
    """An image and its label file (same grid: validated by :func:`viewer.io.load_labels`)."""
    from ..io import load_labels, open_study

    study = open_study(image_path)
    labels = load_labels(label_path, study)
    group = ""
    if group_pattern:
        m = re.match(group_pattern, Path(study.source[0]).name if study.source else "")
        if m:
            group = m.group(1) if m.groups() else m.group(0)
    return ExportCase(study, labels, group_key=group,
                      provenance={"source_models": [], "router": None, "edited_slices": [],
                                  "labels_from": "label file"})


def pair_files(images_dir, labels_dir) -> list[tuple[Path, Path]]:
    """Pair images with labels by name (the label may carry the image's name, or name + ``_mask`` / ``_seg``)."""
    from ..io.labels import LABEL_EXTS

    images_dir, labels_dir = Path(images_dir), Path(labels_dir)
    for d in (images_dir, labels_dir):
        if not d.is_dir():
            raise ExportError(f"{d} is not a folder.", d)

    def stem(p: Path) -> str:
        n = p.name
        for ext in (".nii.gz", *LABEL_EXTS, ".dcm", ".tif", ".tiff", ".jpg", ".jpeg", ".nrrd"):
            if n.lower().endswith(ext):
                return n[: -len(ext)]
        return p.stem

    labels = {}
    for p in sorted(labels_dir.iterdir()):
        if p.is_file() and not p.name.startswith("."):
            s = stem(p)
            for suf in ("_mask", "_seg", "_label", "_labels"):
                if s.endswith(suf):
                    s = s[: -len(suf)]
            labels[s] = p
    pairs = [(p, labels[stem(p)]) for p in sorted(images_dir.iterdir())
             if p.is_file() and not p.name.startswith(".") and stem(p) in labels]
    if not pairs:
        raise ExportError(f"No image in {images_dir} has a label file with the same name in {labels_dir}.", images_dir)
    return pairs
