"""Fixtures for the training tests: tiny datasets in the nnU-Net v2 raw layout (synthetic or cut from shared data)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch", reason="the training extra (torch) is not installed")


def write_nnunet(root: Path, cases: list[tuple[str, np.ndarray, np.ndarray, str]]) -> Path:
    """cases: (case, image HxW[x3] uint8, mask HxW 0/1, group) -> DatasetNNN folder."""
    from PIL import Image

    (root / "imagesTr").mkdir(parents=True)
    (root / "labelsTr").mkdir()
    for case, img, mask, _ in cases:
        Image.fromarray(img).save(root / "imagesTr" / f"{case}_0000.png")
        Image.fromarray(mask.astype(np.uint8)).save(root / "labelsTr" / f"{case}.png")
    meta = {"channel_names": {"0": "image"}, "labels": {"background": 0, "lesion": 1},
            "numTraining": len(cases), "file_ending": ".png",
            "medroute": {"groups": {c: g for c, _, _, g in cases}}}
    (root / "dataset.json").write_text(json.dumps(meta))
    return root


def synthetic_cases(n: int = 12, size: int = 64, seed: int = 0):
    """Bright discs on a noisy background; the mask is the disc.  Group = every 2 cases (a 'patient')."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    out = []
    for i in range(n):
        cy, cx, r = rng.integers(16, size - 16, 2).tolist() + [int(rng.integers(5, 12))]
        mask = ((yy - cy) ** 2 + (xx - cx) ** 2 <= r * r).astype(np.uint8)
        img = np.clip(rng.normal(60, 15, (size, size)) + 120 * mask, 0, 255).astype(np.uint8)
        out.append((f"case{i:03d}", img, mask, f"p{i // 2}"))
    return out


@pytest.fixture
def synthetic_dataset(tmp_path) -> Path:
    return write_nnunet(tmp_path / "Dataset901_Synthetic", synthetic_cases())
