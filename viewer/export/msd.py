"""Medical Segmentation Decathlon layout (what the Intel Gaudi U-Net reference and nnU-Net v1 read).

::

    TaskNN_Name/
      dataset.json        name, description, tensorImageSize, modality, labels, numTraining, numTest, training, test
      imagesTr/{case}.nii.gz   3D, or 4D (x, y, z, channel) for multi-channel images
      labelsTr/{case}.nii.gz
      provenance/{case}.json, manifest.json   (MedRoute additions)

Every case is NIfTI with exactly the study's geometry (a 2D image is a one-slice volume).
"""

from __future__ import annotations

import re
from pathlib import Path

from ._files import write_nifti
from .deid import ExportError

FOLDER_RE = re.compile(r"^Task(\d{2,3})_([A-Za-z0-9_\-]+)$")
DEFAULT_IDS = {"brain_mri": 51, "nuclei": 52, "polyp": 53}


class MSDLayout:
    kind = "msd"
    folder_re = FOLDER_RE

    @staticmethod
    def folder_name(dataset_id: int, name: str) -> str:
        if not 1 <= int(dataset_id) <= 99:
            raise ExportError(f"MSD task ids are 1..99 (two digits), not {dataset_id}.")
        return f"Task{int(dataset_id):02d}_{name}"

    @staticmethod
    def default_id(task: str) -> int:
        return DEFAULT_IDS.get(task, 50)

    @staticmethod
    def choose_ending(case) -> str:
        return ".nii.gz"

    @staticmethod
    def check_case(case, ending: str) -> None:
        return None

    @staticmethod
    def case_files(case_id: str, n_channels: int, ending: str) -> tuple[list[str], str]:
        return [f"imagesTr/{case_id}{ending}"], f"labelsTr/{case_id}{ending}"

    def write_case(self, root: Path, case, case_id: str, ending: str) -> list[str]:
        images, label = self.case_files(case_id, case.n_channels, ending)
        write_nifti(root / images[0], case.study.voxels, case.study.geometry)  # (z,y,x,c) -> 4D (x,y,z,c)
        write_nifti(root / label, case.labels, case.study.geometry, "MedRoute label map")
        return [*images, label]

    @staticmethod
    def dataset_json(state: dict, name: str, task: str) -> dict:
        cases = sorted(state["cases"])
        n_ch = len(state["channel_names"])
        return {
            "name": name,
            "description": f"Corrected {task} labels exported by MedRoute Viewer (de-identified).",
            "reference": "MedRoute Viewer export",
            "licence": "as the source images",
            "release": "1.0",
            "tensorImageSize": "4D" if n_ch > 1 else "3D",
            "modality": {str(i): n for i, n in enumerate(state["channel_names"])},
            "labels": {str(int(k)): n for k, n in sorted(((int(k), n) for k, n in state["labels"].items()))},
            "numTraining": len(cases),
            "numTest": 0,
            "training": [{"image": f"./imagesTr/{c}.nii.gz", "label": f"./labelsTr/{c}.nii.gz"} for c in cases],
            "test": [],
            "medroute": {"task": task, "groups": {c: state["cases"][c]["group"] for c in cases},
                         "manifest": "manifest.json", "provenance": "provenance/"},
        }
