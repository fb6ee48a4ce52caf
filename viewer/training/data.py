"""Training data: readers for the shared-data layout and the nnU-Net v2 raw layout, and leak-free splits.

Shared layout (``../shared/data``)::

    brain_mri/{images,masks}/<patient>_<slice>.png + slices.csv   (group = patient)
    polyp/{images,masks}/cvcclinicdb_NNNN.png + frames.csv         (group = video sequence)
    nuclei/{images,masks}/<id>.png + images.csv                    (group = image)

nnU-Net v2 raw layout (what ``medroute export`` writes)::

    DatasetNNN_Name/dataset.json, imagesTr/<case>_0000.png [_0001 ...], labelsTr/<case>.png
    (group = case, or ``dataset.json["medroute"]["groups"][case]`` when the exporter recorded e.g. the patient)

A split assigns whole groups to train / val / test with a fixed seed, so no patient, video sequence or image is
in two splits.  The split lists are written to the plugin's ``metrics.json``.
"""

from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import MedRouteError

DEFAULT_DATA_ROOT = Path(__file__).resolve().parents[2].parent / "shared" / "data"
TASKS = ("brain_mri", "nuclei", "polyp")


class TrainingDataError(MedRouteError):
    """The training data folder is missing or not in a layout MedRoute can train from."""


@dataclass(frozen=True)
class Sample:
    key: str  # unique name of the image
    image: Path  # first channel file (nnU-Net: <case>_0000.png)
    mask: Path | None
    group: str  # the unit of splitting (patient, sequence, image)
    extra_channels: tuple[Path, ...] = field(default=())
    stratum: str = ""


def read_image(path: str | Path) -> np.ndarray:
    """Read a 2-D image file as stored: (H, W) or (H, W, C).  PNG/JPEG/TIFF via Pillow/tifffile."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix in (".tif", ".tiff"):
        import tifffile

        return np.asarray(tifffile.imread(p))
    from PIL import Image

    with Image.open(p) as im:
        if im.mode == "P":
            im = im.convert("RGBA" if "transparency" in im.info else "RGB")
        elif im.mode in ("CMYK", "YCbCr", "LAB", "HSV"):
            im = im.convert("RGB")
        elif im.mode == "1":
            im = im.convert("L")
        return np.asarray(im)


def read_sample(s: Sample) -> tuple[np.ndarray, np.ndarray | None]:
    img = read_image(s.image)
    if s.extra_channels:
        chans = [img] + [read_image(p) for p in s.extra_channels]
        img = np.stack(chans, axis=-1)
    mask = None
    if s.mask is not None:
        m = read_image(s.mask)
        if m.ndim == 3:
            m = m[..., 0]
        mask = (m > 0).astype(np.uint8)
    return img, mask


def _csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def list_samples(task: str, data_dir: str | Path | None = None) -> list[Sample]:
    """All labelled samples of ``task`` in ``data_dir`` (either layout; several folders joined by ``os.pathsep``)."""
    import os

    if data_dir and os.pathsep in str(data_dir):  # e.g. an exported dataset + the original data (--mix-original)
        return [s for d in str(data_dir).split(os.pathsep) if d for s in list_samples(task, d)]
    root = Path(data_dir) if data_dir else DEFAULT_DATA_ROOT / task
    if not root.is_dir():
        raise TrainingDataError(
            f"The training data folder {root} does not exist; pass --data with a shared-data task folder "
            f"or an nnU-Net v2 dataset folder (DatasetNNN_Name).", root)
    if (root / "dataset.json").is_file():
        return list_nnunet(root)
    if task == "brain_mri" and (root / "slices.csv").is_file():
        return [Sample(r["file"], root / "images" / r["file"], root / "masks" / r["file"], r["patient"],
                       stratum=r["institution"]) for r in _csv(root / "slices.csv")]
    if task == "polyp" and (root / "frames.csv").is_file():
        return [Sample(r["file"], root / "images" / r["file"], root / "masks" / r["file"], f"seq{int(r['sequence']):02d}")
                for r in _csv(root / "frames.csv")]
    if task == "nuclei" and (root / "images.csv").is_file():
        return [Sample(r["file"], root / "images" / r["file"], root / "masks" / r["file"], Path(r["file"]).stem,
                       stratum=f"c{r['channels']}") for r in _csv(root / "images.csv")]
    raise TrainingDataError(
        f"{root} is neither the shared-data layout of task {task!r} nor an nnU-Net v2 dataset (no dataset.json).", root)


def list_nnunet(root: str | Path) -> list[Sample]:
    root = Path(root)
    meta = json.loads((root / "dataset.json").read_text())
    ext = meta.get("file_ending", ".png")
    n_ch = max(1, len(meta.get("channel_names", {"0": "image"})))
    groups = (meta.get("medroute") or {}).get("groups", {})
    out = []
    for lab in sorted((root / "labelsTr").glob(f"*{ext}")):
        case = lab.name[: -len(ext)]
        first = root / "imagesTr" / f"{case}_0000{ext}"
        if not first.is_file():
            raise TrainingDataError(f"Label {lab.name} has no image {first.name} in {root / 'imagesTr'}.", lab)
        extra = tuple(root / "imagesTr" / f"{case}_{c:04d}{ext}" for c in range(1, n_ch))
        out.append(Sample(case, first, lab, str(groups.get(case, case)), extra))
    if not out:
        raise TrainingDataError(f"The nnU-Net dataset {root} has no labelled cases in labelsTr/.", root)
    return out


def split_groups(groups, val_fraction: float = 0.15, test_fraction: float = 0.2, seed: int = 0,
                 strata: dict | None = None) -> dict[str, list[str]]:
    """Assign sorted unique ``groups`` to train/val/test with a seeded shuffle (per stratum when given)."""
    uniq = sorted(set(groups))
    by_stratum: dict[str, list[str]] = {}
    for g in uniq:
        by_stratum.setdefault((strata or {}).get(g, ""), []).append(g)
    split = {"train": [], "val": [], "test": []}
    for i, (_, gs) in enumerate(sorted(by_stratum.items())):
        rng = random.Random(seed * 1000 + i)
        gs = list(gs)
        rng.shuffle(gs)
        n = len(gs)
        n_test = max(1, round(n * test_fraction)) if n >= 3 else 0
        n_val = max(1, round(n * val_fraction)) if n >= 3 else 0
        split["test"] += gs[:n_test]
        split["val"] += gs[n_test:n_test + n_val]
        split["train"] += gs[n_test + n_val:]
    return {k: sorted(v) for k, v in split.items()}


def make_split(samples: list[Sample], seed: int = 0, val_fraction: float = 0.15,
               test_fraction: float = 0.2) -> dict[str, list[str]]:
    """Group-level split (patient / sequence / image) -> {"train"|"val"|"test": [group, ...]}."""
    strata = {s.group: s.stratum for s in samples}
    return split_groups([s.group for s in samples], val_fraction, test_fraction, seed, strata)


def select(samples: list[Sample], split: dict[str, list[str]], part: str) -> list[Sample]:
    keep = set(split[part])
    return [s for s in samples if s.group in keep]
