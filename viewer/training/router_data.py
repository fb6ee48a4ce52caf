"""Router data: which task (brain_mri, nuclei, polyp) an image belongs to, or "other".

brain_mri: the LGG FLAIR slices (split by patient, the same split as the segmenter), the two real MR DICOM series
(sagittal T1 MPRAGE, axial T1 post-contrast; each split into contiguous slab blocks train | val | test with the
blocks separated) and slices of the MSD hippocampus crops along all three axes (split by scan).
nuclei / polyp: the segmenter splits.  other: pydicom's and pydicom-data's test images that are not brain MR
(CT, X-ray, ultrasound, shoulder/abdomen MR, nuclear medicine, RT dose ...) and natural images / icons / plots
shipped by installed packages (no downloads); blank inputs dropped, near-duplicates and the frames of one file
grouped, each group split by a seeded hash (:func:`split_other`).
"""

from __future__ import annotations

import hashlib
import sys
import warnings
from pathlib import Path

import numpy as np

from ..inference.preprocess import router_input
from . import data as D
from .hippocampus import subject_of

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


def near_duplicate_pairs(X: np.ndarray, tol: float = 0.02) -> list[tuple[int, int]]:
    """Index pairs (i < j) of router inputs (N, 3, 64, 64) that show one picture: their 16x16 views differ by less
    than ``tol`` (RMS, inputs in 0..1), e.g. the same image in another encoding (uncompressed, JPEG 2000, RLE,
    lossless or lossy), at another size, or copied."""
    n = len(X)
    small = X.reshape(n, 3, 16, 4, 16, 4).mean(axis=(3, 5)).reshape(n, -1).astype(np.float64)
    sq = (small ** 2).sum(1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * small @ small.T, 0) / small.shape[1]
    return [(int(i), int(j)) for i, j in zip(*np.nonzero(np.triu(d2 < tol * tol, 1)))]


def split_other(items, seed: int) -> list[tuple[str, str, np.ndarray]]:
    """[(name, file key, image)] -> [(part, name, router input)] for the 'other' class.  Flat inputs (an icon whose
    shape was only in its alpha channel, a blank frame) are dropped: they are one blank picture, not many.  The
    frames of one file and the near-duplicates of one picture form a group that takes the part of its first file,
    so no copy of a training picture is counted as a validation or test image."""
    kept = []
    for name, key, a in items:
        try:
            x = router_input(a)[0]
        except ValueError:
            continue
        if float(x.std()) > 1e-3:
            kept.append((name, key, x))
    if not kept:
        return []
    parent = list(range(len(kept)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first_of_key: dict[str, int] = {}
    links = near_duplicate_pairs(np.stack([x for _, _, x in kept]))
    links += [(first_of_key.setdefault(key, i), i) for i, (_, key, _) in enumerate(kept)]
    for i, j in links:
        parent[root(j)] = root(i)
    group_key: dict[int, str] = {}
    for i, (_, key, _) in enumerate(kept):
        group_key.setdefault(root(i), key)
    return [(_part_of(group_key[root(i)], seed), name, x) for i, (name, _, x) in enumerate(kept)]


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
        part = _part_of(subject_of(p.name.split(".nii")[0]), seed)  # both crops of one scan in one part
        for i, a in enumerate(nifti_slices(p, step=4 if part == "train" else 8)):
            if _content(a):
                add(part, a, "brain_mri", f"{p.name}/{i}")
    progress("router data: dicom series + hippocampus done")
    others = [(name, name.split("#")[0], a) for name, a in pydicom_other_files()]
    for p in natural_image_files(limit * 4 if limit else 1200):
        try:
            a = D.read_image(p)
        except Exception:
            continue
        if a.ndim in (2, 3) and min(a.shape[:2]) >= 32:
            others.append((str(p), str(p), a))
    for part, name, x in split_other(others, seed):
        b = buckets[part]
        b[0].append(x), b[1].append(CLASSES.index("other")), b[2].append(f"other:{name}")
    progress("router data: other done")
    out = {}
    for part, (xs, ys, names) in buckets.items():
        out[part] = (np.stack(xs).astype(np.float32), np.asarray(ys, dtype=np.int64), names)
    return out


# --- low-resolution whole-brain views (brain_mri) --------------------------------------------------------------------
# The brain_mri class above is all high-resolution (256-320 px slices) while the hippocampus class added by
# ``router_add`` is all small, coarse arrays, so "small and coarse" alone would mean hippocampus: nibabel's sample
# study (a 2 mm, 41x33 px axial T1 crop of a whole brain) was routed there.  These views teach that a coarse brain
# MR slice is still brain_mri.  They are made only from the brain_mri sources above, and each view stays in the
# part (train / val / test) of the slice, patient or slab block it was made from.

LOWRES_LONG_SIDE = (24, 64)  # pixels on the long side of a low-resolution view (before the router's 64x64 resize)
LOWRES_CROP = (0.4, 0.9)  # window side as a fraction of the head's extent ("crop" views)
LOWRES_P_CROP = 0.65  # share of "crop" views (tissue filling the field); the rest show the whole field of view
LOWRES_MIN_RESLICE = 64  # series with at least this many slices are also resliced into the two other planes
LOWRES_SUFFIX = "#lowres"


def _head_box(a: np.ndarray) -> tuple[int, int, int, int] | None:
    """(y0, y1, x0, x1) of the bright part of a slice (head / brain), robust to stray pixels; None if nearly empty."""
    g = np.asarray(a, dtype=np.float32)
    if g.ndim == 3:
        g = g.mean(axis=-1)
    lo, hi = np.percentile(g, [1.0, 99.5])
    m = g > lo + 0.15 * (hi - lo)
    if hi <= lo or m.mean() < 0.03:
        return None
    ys, xs = np.nonzero(m)
    y0, y1 = np.percentile(ys, [1, 99]).astype(int)
    x0, x1 = np.percentile(xs, [1, 99]).astype(int)
    if y1 - y0 < 12 or x1 - x0 < 12:
        return None
    return int(y0), int(y1) + 1, int(x0), int(x1) + 1


def _shrink(a: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Area-weighted (antialiased) down-sampling of a (H, W[, C]) slice to ``shape``: what a coarser scan sees."""
    from PIL import Image

    g = np.asarray(a, dtype=np.float32)
    chans = [g] if g.ndim == 2 else [g[..., c] for c in range(g.shape[-1])]
    out = [np.asarray(Image.fromarray(np.ascontiguousarray(c), mode="F").resize((shape[1], shape[0]), Image.BILINEAR))
           for c in chans]
    return out[0] if g.ndim == 2 else np.stack(out, axis=-1)


def low_resolution_view(image: np.ndarray, rng, p_crop: float = LOWRES_P_CROP, top: float = 1.0,
                        tries: int = 4) -> tuple[np.ndarray, str] | None:
    """A coarse view of a high-resolution brain slice (H, W[, C]): with probability ``p_crop`` a window inside the head
    (``LOWRES_CROP`` of its extent on each axis, near its centre, within the top ``top`` of its height: brain tissue
    filling the field), else the whole field of view; averaged down to ``LOWRES_LONG_SIDE`` px on the long side with
    anisotropic pixels allowed (x0.8-1.25), i.e. what a 2-4 mm acquisition of the same anatomy looks like.
    -> (small image, "crop" | "whole"), or None when the slice holds too little head to make one."""
    a0 = np.asarray(image)
    box = _head_box(a0)
    if box is None:
        return None
    y0, y1, x0, x1 = box
    y1 = y0 + max(12, int(round((y1 - y0) * top)))
    bh, bw = y1 - y0, x1 - x0
    if max(bh, bw) < 0.3 * max(a0.shape[:2]):
        return None
    elongated = max(a0.shape[0], a0.shape[1]) > 2 * min(a0.shape[0], a0.shape[1])  # e.g. a narrow slab block
    for _ in range(tries):
        mode = "crop" if elongated or rng.random() < p_crop else "whole"
        a = a0
        if mode == "crop":
            h = max(12, int(round(bh * rng.uniform(*LOWRES_CROP))))
            w = max(12, int(round(bw * rng.uniform(*LOWRES_CROP))))
            h, w = min(h, 2 * w), min(w, 2 * h)  # no needle-like windows
            cy = (y0 + y1) / 2 + rng.uniform(-0.12, 0.12) * bh
            cx = (x0 + x1) / 2 + rng.uniform(-0.12, 0.12) * bw
            ty = int(np.clip(round(cy - h / 2), y0, max(y0, y1 - h)))
            tx = int(np.clip(round(cx - w / 2), x0, max(x0, x1 - w)))
            a = a0[ty:ty + h, tx:tx + w]
        g = a.mean(axis=-1) if a.ndim == 3 else a
        if not _content(g) or float(np.mean(g)) < 0.2 * float(np.percentile(a0, 99)):
            continue  # mostly background or noise
        hh, ww = a.shape[:2]
        long_side = int(rng.integers(LOWRES_LONG_SIDE[0], LOWRES_LONG_SIDE[1] + 1))
        ratio = min(hh, ww) / max(hh, ww) * rng.uniform(0.8, 1.25)
        short = int(np.clip(round(long_side * ratio), 12, long_side))
        shape = (long_side, short) if hh >= ww else (short, long_side)
        shape = (min(shape[0], hh), min(shape[1], ww))  # never up-sample: already coarse enough
        return _shrink(a, shape), mode
    return None


def _lgg_views(img: np.ndarray, rng) -> np.ndarray:
    """The LGG slice as stored (pre-contrast, FLAIR, post-contrast) or one of its sequences as a grey image; the two
    T1-weighted ones (pre/post-contrast) more often, since coarse whole-brain studies are mostly T1."""
    k = rng.choice(4, p=[0.25, 0.3, 0.15, 0.3])
    return img if k == 0 or img.ndim == 2 else img[..., k - 1]


def lowres_brain_samples(data_root: Path | None = None, parts: dict[str, str] | None = None, seed: int = 0,
                         limit: int | None = None, series_copies: int = 2, reslice_step: int = 3, progress=print):
    """Low-resolution brain_mri views -> list of (part, image (H, W[, C]), name).

    * LGG slices: one view per slice, in the part of its patient (``parts`` maps the sample key to train / val / test,
      e.g. the router's recorded split; default: the segmenter's patient split for ``seed``, as :func:`collect`).
      Name ``<key>#lowres``.
    * DICOM series: ``series_copies`` views of each slice with content, in its slab block's part
      (``<series>/<i>#lowres<k>``); series of at least ``LOWRES_MIN_RESLICE`` slices (the near-isotropic sagittal
      T1 MPRAGE) are also resliced into the two other planes *within each slab block* (so a view only holds slices of
      one block), every ``reslice_step`` rows / columns: ``<series>/axial<r>@<lo>-<hi>#lowres`` and
      ``<series>/coronal<c>@<lo>-<hi>#lowres`` (slices lo..hi of the stack).
    No other data: nibabel's sample volumes stay a held-out check."""
    root = Path(data_root) if data_root else D.DEFAULT_DATA_ROOT
    rng = np.random.default_rng([seed, 7])
    out = []
    samples = D.list_samples("brain_mri", root / "brain_mri")
    if parts is None:
        split = D.make_split(samples, seed)
        parts = {s.key: p for p in ("train", "val", "test") for s in D.select(samples, split, p)}
    n = 0
    for s in samples:
        part = parts.get(s.key)
        if part is None:
            continue
        if limit and n >= limit * 3:
            break
        v = low_resolution_view(_lgg_views(D.read_sample(s)[0], rng), rng)
        if v is not None:
            out.append((part, v[0], f"{s.key}{LOWRES_SUFFIX}"))
            n += 1
    progress(f"low-resolution brain views: {n} from LGG slices")
    for series in sorted((root / "dicom_series").glob("*")):
        if not series.is_dir():
            continue
        sl = dicom_series_slices(series)
        if not sl:
            continue
        sp = _slab_parts(len(sl))
        k0 = len(out)
        # A long, near-isotropic series (the sagittal T1 MPRAGE) is a whole head in the DICOM display orientation
        # (rows run head -> foot): crop windows then stay in the top 60 % of the head (the brain, not face and neck).
        reslice = len(sl) >= LOWRES_MIN_RESLICE and len({a.shape for a in sl}) == 1
        top = 0.6 if reslice else 1.0
        for i, (a, part) in enumerate(zip(sl, sp)):
            if part is None or not _content(a) or (limit and i % 8):
                continue
            for c in range(series_copies):
                v = low_resolution_view(a, rng, top=top)
                if v is not None:
                    out.append((part, v[0], f"{series.name}/{i}{LOWRES_SUFFIX}{c}"))
        if reslice:
            vol = np.stack(sl).astype(np.float32)  # (stack, rows, cols)
            rows = np.flatnonzero(vol.max(axis=(0, 2)) > 0.15 * np.percentile(vol, 99.5))
            brain_rows = range(int(rows.min()), int(rows.min() + 0.6 * (rows.max() - rows.min())) + 1)
            step = reslice_step * (8 if limit else 1)
            for part in ("train", "val", "test"):
                idx = [i for i, p in enumerate(sp) if p == part]
                lo, hi = min(idx), max(idx)
                block = vol[lo:hi + 1]  # only this block's slices: a view never mixes two parts
                for plane, axis, keep, t in (("axial", 1, brain_rows, 1.0), ("coronal", 2, range(vol.shape[2]), top)):
                    for r in range(0, vol.shape[axis], step):
                        if r not in keep:
                            continue
                        a = np.take(block, r, axis=axis).T  # (in-plane axis of the stack image, stack)
                        if not _content(a):
                            continue
                        v = low_resolution_view(a, rng, top=t)
                        if v is not None:
                            out.append((part, v[0], f"{series.name}/{plane}{r}@{lo}-{hi}{LOWRES_SUFFIX}"))
        progress(f"low-resolution brain views: {len(out) - k0} from {series.name}")
    return out
