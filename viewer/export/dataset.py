"""Export cases into an nnU-Net v2 or MSD dataset: create, append, never half-written.  No Qt.

How an export is made safe:

1. The whole new state of the dataset is built in a hidden sibling folder ``.<Dataset>.staging-<pid>``: existing
   files are hard-linked (never modified in place; files are only ever replaced by rename), new files written
   there, then ``provenance/<case>.json``, ``manifest.json`` (sha256 of every file) and ``dataset.json``.
2. The staging folder is checked with :func:`viewer.export.validate.validate_dataset`.
3. It is swapped with the dataset folder in one ``renameat2(RENAME_EXCHANGE)`` (Linux), else two renames.

A killed export therefore leaves the previous dataset untouched (plus a hidden staging folder that the next export
removes): nnU-Net never sees a case whose files or ``numTraining`` are half updated.  A lock file serialises
concurrent exports into the same folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..io._common import atomic_path, fsync_dir
from . import _files
from .deid import ExportError, Pseudonymizer, check_text, default_key_dir, identifying_strings
from .msd import MSDLayout
from .nnunet import NnUNetLayout

LAYOUTS = {"nnunet": NnUNetLayout, "msd": MSDLayout}
MANIFEST = "manifest.json"
OVERWRITE_HINT = "replace its labels to overwrite"  # the CLI and the GUI each add how (--overwrite / a checkbox)
_DEFAULT_NAME = re.compile(r"^label \d+$", re.I)


@dataclass
class ExportReport:
    dataset: Path
    layout: str
    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    key_file: Path | None = None
    num_training: int = 0
    dicom_seg: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"dataset": str(self.dataset), "layout": self.layout, "added": self.added, "replaced": self.replaced,
                "key_file": str(self.key_file) if self.key_file else None, "numTraining": self.num_training,
                "dicom_seg": [str(p) for p in self.dicom_seg], "notes": self.notes}


def camel(task: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in re.split(r"[^A-Za-z0-9]+", task) if p) or "Export"


def resolve_dataset_dir(out, layout, task: str, dataset_id: int | None = None, name: str | None = None) -> Path:
    """``out`` itself when it is named like a dataset, else the existing/new dataset folder inside ``out``."""
    out = Path(out).expanduser()
    if layout.folder_re.match(out.name):
        return out
    if dataset_id is None and out.is_dir():  # an existing dataset of this task?
        for d in sorted(out.iterdir()):
            if layout.folder_re.match(d.name) and _holds_task(d, layout, task):
                return d
    did = layout.default_id(task) if dataset_id is None else int(dataset_id)
    prefix = layout.folder_name(did, "x")[:-1]
    if out.is_dir():
        taken = [d for d in out.iterdir() if d.name.startswith(prefix) and layout.folder_re.match(d.name)]
        if taken and (name is None or taken[0].name != layout.folder_name(did, name)):
            if name is None and _holds_task(taken[0], layout, task):
                return taken[0]  # the same task's dataset under this id: add to it
            if name is not None or dataset_id is not None:
                raise ExportError(f"Dataset id {did} is already used by {taken[0].name} in {out}; choose another id.")
            return taken[0]
    return out / layout.folder_name(did, name or camel(task))


def _holds_task(d: Path, layout, task: str) -> bool:
    """True when ``d`` is a MedRoute dataset of ``task`` in ``layout`` (its manifest says so)."""
    try:
        state = json.loads((d / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(state, dict) and state.get("task") == task and state.get("layout", layout.kind) == layout.kind


@contextlib.contextmanager
def _locked(parent: Path, name: str):
    lock = parent / f".{name}.lock"
    try:
        parent.mkdir(parents=True, exist_ok=True)
        f = open(lock, "a+")
    except OSError as e:
        raise ExportError(f"Cannot export into {parent}: the folder cannot be created or written "
                          f"({e.strerror or e}).") from e
    with f:
        try:
            import fcntl

            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as e:
                raise ExportError(f"Another export into {parent / name} is running; try again when it has finished.") from e
        except ImportError:  # Windows: no advisory lock
            pass
        yield


def _recover(target: Path) -> None:
    """Undo what a killed export may have left: restore a dataset moved aside, remove stale staging folders."""
    parent = target.parent
    olds = sorted(parent.glob(f".{target.name}.old-*"))
    if not target.exists() and olds:
        os.rename(olds[-1], target)
        olds = olds[:-1]
    for d in [*olds, *parent.glob(f".{target.name}.staging-*")]:
        shutil.rmtree(d, ignore_errors=True)


def _link_tree(src: Path, dst: Path) -> None:
    for p in sorted(src.rglob("*")):
        rel = p.relative_to(src)
        if p.is_dir():
            (dst / rel).mkdir(parents=True, exist_ok=True)
            continue
        (dst / rel).parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(p, dst / rel)
        except OSError:
            shutil.copy2(p, dst / rel)


def _rename_exchange(a: Path, b: Path) -> bool:
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    return fn(-100, os.fsencode(str(a)), -100, os.fsencode(str(b)), 2) == 0  # AT_FDCWD, RENAME_EXCHANGE


def _swap_in(staging: Path, target: Path) -> None:
    if not target.exists():
        os.rename(staging, target)
    elif _rename_exchange(staging, target):
        shutil.rmtree(staging, ignore_errors=True)  # now holds the previous version
    else:
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.rename(target, old)
        os.rename(staging, target)
        shutil.rmtree(old, ignore_errors=True)
    fsync_dir(target.parent)


def _write_json(path: Path, obj) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=1, sort_keys=False))


def _merge_labels(state: dict, case) -> None:
    from ..model.labels import present_values

    values = sorted(set(present_values(case.labels)) | {int(v) for v in case.label_names})
    top = max([0, *values, *(int(k) for k in state["labels"])])
    for v in range(1, top + 1):
        new = case.label_names.get(v, "")
        old = state["labels"].get(str(v), "")
        if old and new and old != new and not _DEFAULT_NAME.match(old) and not _DEFAULT_NAME.match(new):
            raise ExportError(f"Label {v} is '{old}' in the dataset but '{new}' in this study; rename the label "
                              "or export into another dataset.")
        if not old or (_DEFAULT_NAME.match(old) and new):
            state["labels"][str(v)] = new or f"label {v}"
    state["labels"]["0"] = "background"
    names = [n for k, n in state["labels"].items() if k != "0"]
    if len(set(names)) != len(names):
        raise ExportError(f"Two labels share a name ({', '.join(names)}); nnU-Net needs distinct label names.")


def export_cases(cases, out, task: str, fmt: str = "nnunet", *, dataset_id: int | None = None,
                 name: str | None = None, overwrite: bool = False, key_file=None, annotator: str | None = None,
                 progress=None) -> ExportReport:
    """Add ``cases`` (:class:`~viewer.export.cases.ExportCase`) to the dataset for ``task`` under ``out``."""
    if fmt not in LAYOUTS:
        raise ExportError(f"Unknown export format {fmt!r}; choose nnunet or msd.")
    if not cases:
        raise ExportError("There is nothing to export (no cases).")
    layout = LAYOUTS[fmt]()
    target = resolve_dataset_dir(out, layout, task, dataset_id, name)
    key_file = Path(key_file) if key_file else default_key_dir() / f"{target.name}.json"
    pseudo = Pseudonymizer(key_file, target)
    with _locked(target.parent, target.name):
        _recover(target)
        staging = target.with_name(f".{target.name}.staging-{os.getpid()}")
        shutil.rmtree(staging, ignore_errors=True)
        try:
            report = _export_into(cases, target, staging, layout, task, overwrite, pseudo, annotator, progress)
            pseudo.save()  # before the swap: a dataset never holds a case whose pseudonym cannot be resolved
            _swap_in(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    report.key_file = pseudo.key_file
    return report


def _export_into(cases, target, staging, layout, task, overwrite, pseudo, annotator, progress) -> ExportReport:
    from .validate import validate_dataset

    staging.mkdir(parents=True)
    state = {"format": "medroute-dataset-manifest", "version": 1, "layout": layout.kind, "task": task,
             "file_ending": None, "channel_names": None, "labels": {"0": "background"}, "cases": {}, "files": {}}
    if target.exists():
        if not (target / MANIFEST).is_file():
            raise ExportError(f"{target} exists but was not written by MedRoute (no {MANIFEST}); export into a new "
                              "folder or dataset id.", target)
        state = json.loads((target / MANIFEST).read_text())
        if state.get("layout") != layout.kind or state.get("task") != task:
            raise ExportError(f"{target.name} is a {state.get('layout')} dataset of task {state.get('task')!r}; it "
                              f"cannot take {layout.kind} cases of task {task!r}.", target)
        _link_tree(target, staging)
    report = ExportReport(staging, layout.kind)
    ann = pseudo.annotator_id(annotator)
    fingerprints = {i.get("fingerprint"): c for c, i in state["cases"].items()}
    seen: set[str] = set()
    for n, case in enumerate(cases):
        cid = pseudo.case_id(case.source_key)
        fp = case.fingerprint()
        if cid in seen:
            raise ExportError(f"The same image appears twice in this export ({case.study.name}); export it once.")
        seen.add(cid)
        dup = cid if cid in state["cases"] else fingerprints.get(fp)
        if dup and not overwrite:
            raise ExportError(f"This image is already in {target.name} as case {dup} (exported "
                              f"{state['cases'][dup].get('added', '?')}); {OVERWRITE_HINT}.")
        if dup and dup != cid:
            cid = dup  # same voxels under an older pseudonym (key file replaced): keep the existing case id
        ending = state["file_ending"] or layout.choose_ending(case)
        layout.check_case(case, ending)
        chans = case.channel_names()
        if state["channel_names"] is not None and list(state["channel_names"]) != chans:
            raise ExportError(f"{target.name} has channels {state['channel_names']} but this image has {chans}; all "
                              "cases of a dataset need the same channels in the same order.")
        forbidden = identifying_strings(case.study)
        check_text(cid, forbidden, "The case id")
        _merge_labels(state, case)
        if dup:
            for rel in state["cases"][dup]["files"]:
                (staging / rel).unlink(missing_ok=True)
                state["files"].pop(rel, None)
            report.replaced.append(cid)
        else:
            report.added.append(cid)
        files = layout.write_case(staging, case, cid, ending)
        _check_grid(staging, files, case, ending)
        grp = pseudo.group_id(case.group_key)
        now = time.strftime("%Y-%m-%dT%H:%M:%S")
        prov = {"case": cid, "task": task, "exported_at": now, "annotator": ann, "group": grp,
                "image": {"shape": list(case.study.voxels.shape), "spacing_mm": list(case.study.geometry.spacing),
                          "modality": case.study.modality, "channels": chans, "sha256_voxels": fp},
                **case.provenance}
        ptxt = json.dumps(prov, indent=1)
        check_text(ptxt, forbidden, f"The provenance of case {cid}")
        (staging / "provenance").mkdir(exist_ok=True)
        _write_json(staging / "provenance" / f"{cid}.json", prov)
        files.append(f"provenance/{cid}.json")
        state.update(file_ending=ending, channel_names=chans)
        state["cases"][cid] = {"fingerprint": fp, "group": grp, "files": files, "added": now,
                               "shape": list(case.study.shape), "annotator": ann}
        for rel in files:
            state["files"][rel] = _files.sha256_file(staging / rel)
        pseudo.record(cid, str(case.study.source[0]) if case.study.source else "", case.source_key)
        if progress:
            progress(n + 1, len(cases))
    ds_name = layout.folder_re.match(target.name).group(2)
    dj = layout.dataset_json(state, ds_name, task)
    _write_json(staging / "dataset.json", dj)
    state["files"]["dataset.json"] = _files.sha256_file(staging / "dataset.json")
    state["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    state["files"] = dict(sorted(state["files"].items()))
    _write_json(staging / MANIFEST, state)
    problems = validate_dataset(staging, layout.kind, deep=False, cases=report.added + report.replaced)
    if problems:
        raise ExportError("The export would not be a valid dataset: " + "; ".join(problems[:5]))
    report.dataset = target
    report.num_training = len(state["cases"])
    return report


def _check_grid(root: Path, files: list[str], case, ending: str) -> None:
    """Re-read what was written: every file of the case on the study's grid (shape, and affine for NIfTI)."""
    import numpy as np

    want_aff = case.study.geometry.to_nifti_affine()
    z, y, x = case.study.shape
    for rel in files:
        p = root / rel
        if ending == ".png":
            from PIL import Image

            with Image.open(p) as im:
                ok = im.size == (x, y)
        else:
            shape, aff = _files.read_nifti_grid(p)
            ok = shape[:3] == (x, y, z) and np.allclose(aff, want_aff, atol=1e-4)
        if not ok:
            raise ExportError(f"{rel} was not written on the study's grid; nothing was exported.")
