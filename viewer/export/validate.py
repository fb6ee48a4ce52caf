"""Dataset validators: nnU-Net v2's own layout rules, the MSD layout, the MedRoute manifest and de-identification.

The nnU-Net rules are those of its ``documentation/dataset_format.md`` and of
``nnunetv2/experiment_planning/verify_dataset_integrity.py`` (checked against nnU-Net's source):

* folder ``DatasetXXX_Name`` (three-digit id); ``dataset.json`` with ``labels``, ``channel_names``, ``numTraining``,
  ``file_ending``; ``imagesTr/`` and ``labelsTr/`` present;
* image files named ``{case}_{XXXX}{file_ending}`` (identifier = name minus ending minus 5 characters), one file
  per channel for every case, the same channels for all cases; one ``labelsTr/{case}{file_ending}`` per case;
* the number of cases equals ``numTraining``;
* labels: ``background`` is 0, the values are consecutive integers (0, 1, 2, ...), label files hold no other value;
* lossless file formats only (no JPEG); images and their label have the same shape and spacing (NIfTI: affine);
  no NaN in images or labels.

:func:`validate_dataset` returns a list of problems (empty when valid); ``deep`` also reads every image.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from . import _files
from .deid import find_identifiers

NN_DIR = re.compile(r"^\.?Dataset\d{3}_[A-Za-z0-9_\-]+(\.staging-\d+)?$")
MSD_DIR = re.compile(r"^\.?Task\d{2,3}_[A-Za-z0-9_\-]+(\.staging-\d+)?$")
LOSSY = (".jpg", ".jpeg")


def _read_array(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """(array as stored, NIfTI affine or None).  PNG -> (H, W[, C]); NIfTI -> (x, y, z[, c])."""
    if path.name.endswith((".nii", ".nii.gz")):
        import nibabel as nib

        img = nib.load(str(path))
        return np.asarray(img.dataobj), np.asarray(img.affine)
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im), None


def _load_json(folder: Path, problems: list[str]) -> dict | None:
    try:
        return json.loads((folder / "dataset.json").read_text())
    except FileNotFoundError:
        problems.append("there is no dataset.json")
    except (OSError, ValueError) as e:
        problems.append(f"dataset.json cannot be read ({e})")
    return None


def _check_pair(images: list[Path], label: Path, expected: set[int], problems: list[str]) -> None:
    try:
        seg, seg_aff = _read_array(label)
        arrs = [_read_array(p) for p in images]
    except Exception as e:  # noqa: BLE001 - any unreadable file is a problem to report
        problems.append(f"{label.name}: cannot be read ({e})")
        return
    if seg.dtype.kind == "f" and np.isnan(seg).any():
        problems.append(f"{label.name}: NaN in the segmentation")
    found = {int(v) for v in np.unique(seg)}
    if found - expected:
        problems.append(f"{label.name}: unexpected label values {sorted(found - expected)} (expected {sorted(expected)})")
    for p, (a, aff) in zip(images, arrs):
        if a.dtype.kind == "f" and np.isnan(a).any():
            problems.append(f"{p.name}: NaN in the image")
        if tuple(a.shape[: seg.ndim]) != tuple(seg.shape):
            problems.append(f"{p.name}: shape {a.shape} differs from its label {seg.shape}")
        if aff is not None and seg_aff is not None and not np.allclose(aff, seg_aff, atol=1e-4):
            problems.append(f"{p.name}: geometry (affine) differs from its label")


def validate_nnunet(folder, deep: bool = True, cases: list[str] | None = None) -> list[str]:
    folder = Path(folder)
    problems: list[str] = []
    if not NN_DIR.match(folder.name):
        problems.append(f"folder name {folder.name!r} is not DatasetXXX_Name (three-digit id)")
    dj = _load_json(folder, problems)
    if dj is None:
        return problems
    missing = [k for k in ("labels", "channel_names", "numTraining", "file_ending") if k not in dj]
    if missing:
        return problems + [f"dataset.json lacks {', '.join(missing)}"]
    for sub in ("imagesTr", "labelsTr"):
        if not (folder / sub).is_dir():
            problems.append(f"there is no {sub}/ folder")
    if problems:
        return problems
    ending = dj["file_ending"]
    if ending.lower() in LOSSY:
        problems.append(f"file_ending {ending} is lossy; nnU-Net needs lossless formats")
    n_ch = len(dj["channel_names"])
    if sorted(dj["channel_names"], key=int) != [str(i) for i in range(n_ch)]:
        problems.append("channel_names keys must be '0', '1', ... in order")
    ids: dict[str, set[int]] = {}
    pat = re.compile(r"^(.+)_(\d{4})" + re.escape(ending) + "$")
    for p in sorted((folder / "imagesTr").iterdir()):
        if p.name.startswith("."):
            continue
        m = pat.match(p.name)
        if not m:
            problems.append(f"imagesTr/{p.name} is not named {{case}}_{{XXXX}}{ending}")
            continue
        ids.setdefault(m.group(1), set()).add(int(m.group(2)))
    if len(ids) != dj["numTraining"]:
        problems.append(f"numTraining is {dj['numTraining']} but imagesTr holds {len(ids)} cases")
    for case, chans in ids.items():
        if chans != set(range(n_ch)):
            problems.append(f"case {case} has channels {sorted(chans)}, expected 0..{n_ch - 1}")
        if not (folder / "labelsTr" / f"{case}{ending}").is_file():
            problems.append(f"case {case} has no labelsTr/{case}{ending}")
    labels = dj["labels"]
    if labels.get("background") != 0:
        problems.append("labels must map 'background' to 0")
    values = []
    for name, v in labels.items():
        if isinstance(v, (list, tuple)):
            values += [int(x) for x in v]  # region-based training
        elif isinstance(v, int):
            values.append(v)
        else:
            problems.append(f"label {name!r} has a non-integer value {v!r}")
    uniq = sorted(set(values))
    if uniq != list(range(len(uniq))):
        problems.append(f"label values {uniq} are not consecutive integers starting at 0")
    if deep or cases:
        for case in sorted(ids if deep else set(cases or []) & set(ids)):
            imgs = [folder / "imagesTr" / f"{case}_{c:04d}{ending}" for c in range(n_ch)]
            lab = folder / "labelsTr" / f"{case}{ending}"
            if lab.is_file() and all(p.is_file() for p in imgs):
                _check_pair(imgs, lab, set(uniq), problems)
    return problems


def validate_msd(folder, deep: bool = True, cases: list[str] | None = None) -> list[str]:
    folder = Path(folder)
    problems: list[str] = []
    if not MSD_DIR.match(folder.name):
        problems.append(f"folder name {folder.name!r} is not TaskNN_Name")
    dj = _load_json(folder, problems)
    if dj is None:
        return problems
    missing = [k for k in ("name", "modality", "labels", "numTraining", "training") if k not in dj]
    if missing:
        return problems + [f"dataset.json lacks {', '.join(missing)}"]
    if dj["labels"].get("0") != "background":
        problems.append("labels must map '0' to 'background'")
    keys = sorted(int(k) for k in dj["labels"])
    if keys != list(range(len(keys))):
        problems.append(f"label values {keys} are not consecutive integers starting at 0")
    if len(dj["training"]) != dj["numTraining"]:
        problems.append(f"numTraining is {dj['numTraining']} but training lists {len(dj['training'])} cases")
    n_mod = len(dj["modality"])
    for i, t in enumerate(dj["training"]):
        img, lab = folder / t.get("image", ""), folder / t.get("label", "")
        if not img.is_file() or not lab.is_file():
            problems.append(f"training[{i}]: {t} does not point at two files")
            continue
        if not (deep or (cases and any(c in img.name for c in cases))):
            continue
        shape, _ = _files.read_nifti_grid(img)
        if n_mod > 1 and (len(shape) != 4 or shape[3] != n_mod):
            problems.append(f"{img.name}: a {n_mod}-modality image must be 4D (x, y, z, {n_mod}), got {shape}")
        _check_pair([img], lab, set(keys), problems)
    return problems


def validate_manifest(folder, deep: bool = True) -> list[str]:
    """Every file listed with its sha256, and nothing unlisted (except manifest.json itself)."""
    folder = Path(folder)
    try:
        m = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError) as e:
        return [f"manifest.json cannot be read ({e})"]
    problems = []
    present = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()} - {"manifest.json"}
    listed = set(m.get("files", {}))
    if present - listed:
        problems.append(f"files not in the manifest: {sorted(present - listed)[:5]}")
    if listed - present:
        problems.append(f"files in the manifest but missing: {sorted(listed - present)[:5]}")
    if deep:
        for rel in sorted(listed & present):
            if _files.sha256_file(folder / rel) != m["files"][rel]:
                problems.append(f"{rel}: sha256 differs from the manifest")
    return problems


def validate_dataset(folder, layout: str | None = None, deep: bool = True, cases: list[str] | None = None) -> list[str]:
    folder = Path(folder)
    layout = layout or ("msd" if MSD_DIR.match(folder.name) else "nnunet")
    problems = (validate_msd if layout == "msd" else validate_nnunet)(folder, deep, cases)
    if (folder / "manifest.json").is_file():
        problems += validate_manifest(folder, deep)
    return problems


def check_deidentified(folder, forbidden=()) -> list[str]:
    """Identifying strings or dates found in file names, JSON files or NIfTI headers of a dataset."""
    folder = Path(folder)
    hits = []
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        for h in find_identifiers(rel, forbidden):
            hits.append(f"file name {rel}: {h}")
        if p.is_file() and p.suffix == ".json":
            for h in find_identifiers(p.read_text(errors="replace"), forbidden):
                hits.append(f"{rel}: {h}")
        elif p.is_file() and p.name.endswith((".nii", ".nii.gz")):
            for h in find_identifiers(_files.header_text(p), forbidden):
                hits.append(f"NIfTI header of {rel}: {h}")
    return hits
