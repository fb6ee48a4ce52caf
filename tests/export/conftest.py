"""Fixtures for the export tests: private key folder and user plugin folder in tmp, small real-data cases."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import require_data

BRAIN = ["TCGA_CS_5393_19990606_5", "TCGA_CS_5393_19990606_6", "TCGA_CS_6186_20000601_15",
         "TCGA_CS_6186_20000601_16", "TCGA_CS_6669_20020102_10", "TCGA_CS_6669_20020102_11",
         "TCGA_DU_5849_19950405_19", "TCGA_DU_5849_19950405_20", "TCGA_DU_5852_19950709_12",
         "TCGA_DU_5852_19950709_13"]
GROUP = r"(.*)_\d+\.png$"


@pytest.fixture(autouse=True)
def private_dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("MEDROUTE_PLUGIN_DIR", str(tmp_path / "user_plugins"))
    return tmp_path


def brain_pairs(tmp_path: Path, names=BRAIN) -> tuple[Path, Path]:
    """Copies of a few LGG slices (image, mask) whose names hold patient ids and dates, as a user's would."""
    root = require_data("brain_mri")
    img, lab = tmp_path / "in" / "images", tmp_path / "in" / "labels"
    img.mkdir(parents=True, exist_ok=True)
    lab.mkdir(parents=True, exist_ok=True)
    for n in names:
        if not (root / "images" / f"{n}.png").is_file():
            continue
        shutil.copy(root / "images" / f"{n}.png", img)
        shutil.copy(root / "masks" / f"{n}.png", lab)
    return img, lab
