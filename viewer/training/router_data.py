"""Router data: which task (brain_mri, nuclei, polyp) an image belongs to, or "other".

brain_mri: the LGG FLAIR slices (split by patient, the same split as the segmenter), the two real MR DICOM series
(sagittal T1 MPRAGE, axial T1 post-contrast; each split into contiguous slab blocks train | val | test with the
blocks separated) and slices of the MSD hippocampus crops along all three axes (split by case).
nuclei / polyp: the segmenter splits.  other: pydicom's and pydicom-data's test images that are not brain MR
(CT, X-ray, ultrasound, shoulder/abdomen MR, nuclear medicine, RT dose ...) and natural images / icons / plots
shipped by installed packages (no downloads), split by file with a seeded hash.
"""

from __future__ import annotations

import hashlib
import sys
import warnings
from pathlib import Path

import numpy as np

from ..inference.preprocess import router_input
from . import data as D

CLASSES = ["brain_mri", "nuclei", "polyp", "other"]
# pydicom test files whose anatomy is ambiguous (small head / brain-like crops): left out of "other".
AMBIGUOUS_MR = ("MR_small", "emri_small")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp")


def _part_of(key: str, seed: int, val: float = 0.15, test: float = 0.2) -> str:
    h = int(hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "test" if h < test else ("val" if h < test + val else "train")


def _slab_parts(n: int) -> list[str | None]:
    """Contiguous blocks: 60% train, gap, 15% val, gap, rest test (gaps of 3 slices are left out)."""
    a, b = int(n * 0.6), int(n * 0.78)
    return ["train" if i < a - 1 else "val" if a + 2 <= i < b - 1 else "test" if i >= b + 2 else None
            for i in range(n)]


def _content(a: np.ndarray) -> bool:
    a = np.asarray(a, dtype=np.float32)
    hi = np.percentile(a, 99.5)
    return hi > a.min() and (a > a.min() + 0.1 * (hi - a.min())).mean() > 0.15


def dicom_series_slices(folder: Path):
    import pydicom

    items = []
    for p in sorted(folder.glob("*.dcm")):
        try:
            ds = pydicom.dcmread(p)
            items.append((int(ds.get("InstanceNumber", 0) or 0), ds.pixel_array))
        except Exception:
            continue
    items.sort(key=lambda t: t[0])
    return [a for _, a in items]


def nifti_slices(path: Path, step: int = 3):
    import nibabel as nib

    v = np.asarray(nib.load(str(path)).get_fdata(dtype=np.float32))
    out = []
    for axis in range(3):
        for i in range(2, v.shape[axis] - 2, step):
            out.append(np.take(v, i, axis=axis))
    return out


def pydicom_other_files() -> list[tuple[str, np.ndarray]]:
    import pydicom
    import pydicom.data

    out = []
    for p in sorted(pydicom.data.get_testdata_files()):
        name = Path(p).name
        if any(name.startswith(a) for a in AMBIGUOUS_MR):
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = pydicom.dcmread(p)
                mod = str(ds.get("Modality", ""))
                if mod == "MR" and not ("SIEMENS" in name or name.startswith("MR2_") or "overlay" in name):
                    continue  # small MR crops of unknown anatomy
                a = np.asarray(ds.pixel_array)
        except Exception:
            continue
        frames = []
        if a.ndim == 2 or (a.ndim == 3 and a.shape[-1] in (3, 4) and str(ds.get("PhotometricInterpretation", "")).startswith(("RGB", "YBR"))):
            frames = [a]
        elif a.ndim >= 3:
            idx = np.linspace(0, a.shape[0] - 1, min(4, a.shape[0])).astype(int)
            frames = [a[i] for i in sorted(set(idx))]
        for k, f in enumerate(frames):
            if f.ndim == 2 or f.shape[-1] in (3, 4):
                if min(f.shape[:2]) >= 32:  # DICOMDIR test files hold 16x16 thumbnails: not an image to route
                    out.append((f"{name}#{k}", f))
    return out


def natural_image_files(limit: int = 1200) -> list[Path]:
    """Pictures shipped by installed software (Python test data, package icons and plots); never the shared data."""
    roots = {Path(sys.base_prefix), Path(sys.prefix), Path("/usr/share")}
    roots |= {Path(p) for p in sys.path if p.endswith("site-packages")}
    seen, files = set(), []
    for r in sorted(roots):
        if not r.is_dir():
            continue
        for p in sorted(r.rglob("*")):
            if p.suffix.lower() not in IMAGE_SUFFIXES or "shared" in p.parts or "data_store" in p.parts:
                continue
            try:
                if p.stat().st_size < 1500:
                    continue
                h = hashlib.sha256(p.read_bytes()).hexdigest()
            except OSError:
                continue
            if h not in seen:
                seen.add(h)
                files.append(p)
    rng = np.random.default_rng(0)
    if len(files) > limit:
        files = [files[i] for i in sorted(rng.choice(len(files), limit, replace=False))]
    return files


def collect(data_root: Path | None = None, seed: int = 0, splits: dict | None = None, progress=print,
            limit: int | None = None):
    """-> {part: (X float32 (N, 3, 64, 64), y int64 (N,), names list)} for part in train/val/test."""
    root = Path(data_root) if data_root else D.DEFAULT_DATA_ROOT
    splits = splits or {}
    buckets = {p: ([], [], []) for p in ("train", "val", "test")}

    def add(part, img, cls, name):
        if part is None:
            return
        try:
            x = router_input(img)[0]
        except ValueError:
            return
        b = buckets[part]
        b[0].append(x), b[1].append(CLASSES.index(cls)), b[2].append(f"{cls}:{name}")

    for task in D.TASKS:
        samples = D.list_samples(task, root / task)
        split = splits.get(task) or D.make_split(samples, seed)
        for part in ("train", "val", "test"):
            for s in D.select(samples, split, part)[:limit]:
                add(part, D.read_sample(s)[0], task, s.key)
        progress(f"router data: {task} done")
    for series in sorted((root / "dicom_series").glob("*")):
        if series.is_dir():
            sl = dicom_series_slices(series)
            for i, (a, part) in enumerate(zip(sl, _slab_parts(len(sl)))):
                if _content(a) and (not limit or i % 8 == 0):
                    add(part, a, "brain_mri", f"{series.name}/{i}")
    hip = root / "nifti" / "msd_task04_hippocampus" / "images"
    for p in sorted(hip.glob("*.nii.gz"))[:limit]:
        part = _part_of(p.name, seed)
        for i, a in enumerate(nifti_slices(p, step=4 if part == "train" else 8)):
            if _content(a):
                add(part, a, "brain_mri", f"{p.name}/{i}")
    progress("router data: dicom series + hippocampus done")
    for name, a in pydicom_other_files():
        add(_part_of(name.split("#")[0], seed), a, "other", name)
    for p in natural_image_files(limit * 4 if limit else 1200):
        try:
            a = D.read_image(p)
        except Exception:
            continue
        if a.ndim in (2, 3) and min(a.shape[:2]) >= 32:
            add(_part_of(str(p), seed), a, "other", str(p))
    progress("router data: other done")
    out = {}
    for part, (xs, ys, names) in buckets.items():
        out[part] = (np.stack(xs).astype(np.float32), np.asarray(ys, dtype=np.int64), names)
    return out
