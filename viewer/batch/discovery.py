"""Finding studies in a folder tree, and naming each one's output.

* A folder holding DICOM files (``.dcm`` or the ``DICM`` magic) is one study (its series; the largest when there
  are several, as :func:`viewer.io.open_study` does).
* Every other regular file is a study candidate (PNG/JPEG/TIFF, NIfTI, NRRD, MHA ...): files that turn out not to
  be images are reported as failed, not silently dropped.  Hidden files and sidecars (csv, json, md, checksums)
  are ignored, and so is the output folder when it lies inside the input folder.
* Outputs mirror the input tree: ``IN/a/b/case1.png`` -> ``OUT/a/b/case1.png`` (or ``.nii.gz``); a DICOM folder
  ``IN/a/series7`` -> ``OUT/a/series7.nii.gz``.  Two studies that would get the same name keep their original
  extension in the name (``case1_png.nii.gz``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..io._dicom_scan import is_dicom_file
from ..io.archive import ARCHIVE_EXTS

from ..errors import EmptyInputError, NotFoundError

SIDECAR_EXTS = (".csv", ".tsv", ".json", ".md", ".sha256", ".md5", ".log", ".toml", ".yaml", ".yml", ".tmp")
STUDY_EXTS = (".nii.gz", ".nii", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".nrrd", ".mha", ".mhd", ".dcm.gz",
              ".dcm") + ARCHIVE_EXTS  # longest first within each: '.tar.gz' before '.gz'


@dataclass(frozen=True)
class StudyItem:
    path: str  # file, or folder of a DICOM series
    rel: str  # path relative to the input folder (POSIX separators)
    kind: str  # "file" | "dicom"

    def stem(self) -> str:
        name = Path(self.rel).name
        low = name.lower()
        for ext in STUDY_EXTS:
            if low.endswith(ext) and len(name) > len(ext):
                return name[: -len(ext)]
        return name

    def ext_tag(self) -> str:
        name = Path(self.rel).name.lower()
        for ext in STUDY_EXTS:
            if name.endswith(ext):
                return ext.strip(".").replace(".", "")
        return Path(name).suffix.strip(".") or "file"


def _is_dicom(path: Path) -> bool:
    """A DICOM file: by extension, or by content for any name that is not a known study type (PACS exports
    name files by UID, ``1.2.840.113619.2.55.3.7``, whose last digits look like an extension)."""
    if path.suffix.lower() in (".dcm", ".dicom", ".ima"):
        return True
    return not path.name.lower().endswith(STUDY_EXTS) and is_dicom_file(path)


def discover(in_dir, exclude: list[Path] | None = None) -> list[StudyItem]:
    """Studies under ``in_dir``, in a stable (sorted) order."""
    root = Path(in_dir).expanduser()
    if not root.exists():
        raise NotFoundError(f"{root}: no such folder.", root)
    if root.is_file():
        return [StudyItem(str(root), root.name, "file")]
    skip = [Path(e).resolve() for e in exclude or []]
    items: list[StudyItem] = []
    for dirpath, dirnames, filenames in os.walk(root):
        d = Path(dirpath)
        if any(d.resolve() == s or s in d.resolve().parents for s in skip):
            dirnames[:] = []
            continue
        dirnames[:] = sorted(n for n in dirnames if not n.startswith("."))
        files = sorted(f for f in filenames if not f.startswith("."))
        dicom = [f for f in files if _is_dicom(d / f)]
        if dicom or "DICOMDIR" in files:
            rel = d.relative_to(root).as_posix()
            items.append(StudyItem(str(d), rel if rel != "." else d.name, "dicom"))
        for f in files:
            if f in dicom or f == "DICOMDIR" or f.lower().endswith(SIDECAR_EXTS):
                continue
            items.append(StudyItem(str(d / f), (d / f).relative_to(root).as_posix(), "file"))
    if not items:
        raise EmptyInputError(f"{root}: no studies found (looked for images, NIfTI files and DICOM series).", root)
    return items


def output_paths(items: list[StudyItem], out_dir, fmt: str = "nifti") -> dict[str, Path]:
    """``item.path`` -> output label file.  ``fmt`` "png" applies to 2-D image files (volumes stay NIfTI)."""
    out = Path(out_dir)
    taken: dict[Path, int] = {}
    result: dict[str, Path] = {}
    plan = []
    for it in items:
        ext = ".png" if fmt == "png" and it.kind == "file" and it.ext_tag() in ("png", "jpg", "jpeg", "tif", "tiff",
                                                                                  "bmp") else ".nii.gz"
        base = out / Path(it.rel).parent / it.stem()
        plan.append((it, base, ext))
        key = Path(str(base).lower())
        taken[key] = taken.get(key, 0) + 1
    for it, base, ext in plan:
        if taken[Path(str(base).lower())] > 1:
            base = base.with_name(f"{base.name}_{it.ext_tag()}")
        result[it.path] = Path(str(base) + ext)
    return result
