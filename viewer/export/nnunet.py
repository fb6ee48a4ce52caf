"""nnU-Net v2 raw layout (what ``nnUNetv2_plan_and_preprocess`` and ``medroute train --data`` read).

::

    DatasetNNN_Name/
      dataset.json          channel_names, labels (background 0, consecutive), numTraining, file_ending, medroute{...}
      imagesTr/{case}_{XXXX}{ending}    one file per channel, XXXX = 0000, 0001, ...
      labelsTr/{case}{ending}
      provenance/{case}.json, manifest.json   (MedRoute additions; nnU-Net ignores them)

2D cases are PNG (8/16-bit grey per channel, labels 0..N as they are); 3D cases (or 2D images PNG cannot hold) are
NIfTI ``.nii.gz`` with exactly the study's geometry.  The rules follow nnU-Net's ``documentation/dataset_format.md``
and ``verify_dataset_integrity.py`` (see :mod:`viewer.export.validate`).
"""

from __future__ import annotations

import re
from pathlib import Path

from ._files import png_ok, write_nifti, write_png
from .deid import ExportError

FOLDER_RE = re.compile(r"^Dataset(\d{3})_([A-Za-z0-9_\-]+)$")
DEFAULT_IDS = {"brain_mri": 501, "nuclei": 502, "polyp": 503}


class NnUNetLayout:
    kind = "nnunet"
    folder_re = FOLDER_RE

    @staticmethod
    def folder_name(dataset_id: int, name: str) -> str:
        if not 1 <= int(dataset_id) <= 999:
            raise ExportError(f"nnU-Net dataset ids are 1..999 (three digits), not {dataset_id}.")
        return f"Dataset{int(dataset_id):03d}_{name}"

    @staticmethod
    def default_id(task: str) -> int:
        return DEFAULT_IDS.get(task, 500)

    @staticmethod
    def choose_ending(case) -> str:
        if case.is_2d and all(png_ok(c) for c in case.channels()):
            return ".png"
        return ".nii.gz"

    @staticmethod
    def check_case(case, ending: str) -> None:
        if ending == ".png" and not case.is_2d:
            raise ExportError(f"The dataset stores 2D PNG cases, but this study has {case.study.shape[0]} slices; "
                              "export 3D studies into a NIfTI dataset (another dataset id).")
        if ending == ".png" and not all(png_ok(c) for c in case.channels()):
            raise ExportError("The dataset stores PNG cases, but this image holds values PNG cannot keep "
                              "(negative or fractional); export it into a NIfTI dataset (another dataset id).")

    @staticmethod
    def case_files(case_id: str, n_channels: int, ending: str) -> tuple[list[str], str]:
        return ([f"imagesTr/{case_id}_{c:04d}{ending}" for c in range(n_channels)], f"labelsTr/{case_id}{ending}")

    def write_case(self, root: Path, case, case_id: str, ending: str) -> list[str]:
        images, label = self.case_files(case_id, case.n_channels, ending)
        for rel, chan in zip(images, case.channels()):
            if ending == ".png":
                write_png(root / rel, chan[0])
            else:
                write_nifti(root / rel, chan, case.study.geometry)
        if ending == ".png":
            write_png(root / label, case.labels[0])
        else:
            write_nifti(root / label, case.labels, case.study.geometry, "MedRoute label map")
        return [*images, label]

    @staticmethod
    def dataset_json(state: dict, name: str, task: str) -> dict:
        labels = {"background": 0}
        for v, n in sorted(((int(k), n) for k, n in state["labels"].items()), key=lambda t: t[0]):
            if v:
                labels[n] = v
        return {
            "channel_names": {str(i): n for i, n in enumerate(state["channel_names"])},
            "labels": labels,
            "numTraining": len(state["cases"]),
            "file_ending": state["file_ending"],
            "name": name,
            "description": f"Corrected {task} labels exported by MedRoute Viewer (de-identified).",
            "medroute": {"task": task, "groups": {c: i["group"] for c, i in sorted(state["cases"].items())},
                         "manifest": "manifest.json", "provenance": "provenance/"},
        }
