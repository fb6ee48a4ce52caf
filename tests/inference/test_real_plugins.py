"""The committed INT8 plugins through this pipeline, on real ../shared/data images from their test splits.

Skips (with the reason) while a plugin folder is absent; fails when a committed plugin does not do its job.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import require_data
from viewer.inference.registry import BUILTIN_DIR, Registry

TASK_DIRS = {"brain_mri": "brain_mri", "nuclei": "nuclei", "polyp": "polyp"}


def _registry(*needed: str) -> Registry:
    for pid in needed:
        if not (BUILTIN_DIR / pid / "plugin.toml").is_file():
            pytest.skip(f"plugin {pid} not committed yet ({BUILTIN_DIR / pid})")
    reg = Registry.scan(builtin=True, user_dirs=[], entry_points=False)
    assert not reg.problems, [str(e) for e in reg.problems]
    return reg


def _test_split(pid: str) -> list[str]:
    m = json.loads((BUILTIN_DIR / pid / "metrics.json").read_text())
    return list(m["split"]["test"])


def _test_images(pid: str) -> list[str]:
    """Image file names of the plugin's test split (metrics.json records the split by group: patient, video
    sequence or image), resolved with the training code's own sample list so the two cannot disagree."""
    from viewer.training.data import list_samples, select

    m = json.loads((BUILTIN_DIR / pid / "metrics.json").read_text())
    samples = list_samples(pid, require_data(TASK_DIRS[pid]))
    names = sorted(s.image.name for s in select(samples, m["split"], "test"))
    assert names, f"{pid}: no test images found for the recorded split"
    return names


def _image_path(task: str, name: str) -> Path:
    return require_data(TASK_DIRS[task], "images", name)


@pytest.mark.parametrize("task", ["brain_mri", "nuclei", "polyp"])
def test_router_sends_real_images_to_their_task(task):
    from viewer.inference.engine import get_engine
    from viewer.inference.router import route
    from viewer.io import open_study

    reg = _registry("router")
    folder = require_data(TASK_DIRS[task], "images")
    names = [k.split(":", 1)[1] for k in _test_split("router") if k.startswith(task + ":")]
    names = [n for n in names if (folder / n).is_file()]  # brain_mri also holds DICOM / hippocampus slices
    names = names[:: max(1, len(names) // 12)][:12]
    assert names
    wrong = []
    for n in names:
        study = open_study(_image_path(task, n))
        dec = route(study.voxels, reg, get_engine("CPU"))
        if dec.label != task:  # the router's class (the task model itself may not be installed yet)
            wrong.append(f"{n} -> {dec.label or 'no decision'} ({dec.reason}, {dec.confidence:.2f})")
    assert len(wrong) <= len(names) // 10, wrong


def test_router_rejects_other_images():
    import pydicom.data

    from viewer.errors import MedRouteError
    from viewer.inference.engine import get_engine
    from viewer.inference.router import route
    from viewer.io import open_study

    reg = _registry("router")
    others = [k.split(":", 1)[1] for k in _test_split("router") if k.startswith("other:") and k.endswith(".dcm")]
    files = {Path(p).name: p for p in pydicom.data.get_testdata_files()}
    checked, accepted = 0, []
    for n in others:
        if n not in files:
            continue
        try:
            study = open_study(files[n])
        except MedRouteError:
            continue
        checked += 1
        dec = route(study.voxels, reg, get_engine("CPU"))
        if dec.label not in ("", reg.router.reject_class):
            accepted.append(f"{n} -> {dec.label} ({dec.confidence:.2f})")
    if not checked:
        pytest.skip("none of the router's 'other' test files are installed (pydicom-data)")
    assert not accepted, accepted


def _dice(a, b):
    s = a.sum() + b.sum()
    return 1.0 if s == 0 else 2.0 * float((a & b).sum()) / float(s)


@pytest.mark.parametrize("task", ["brain_mri", "nuclei", "polyp"])
def test_segmentation_dice_close_to_recorded(task):
    from viewer.inference.engine import get_engine
    from viewer.inference.pipeline import segment_study
    from viewer.io import load_labels, open_study

    reg = _registry(task)
    plugin = reg.task(task)
    m = plugin.metrics()
    names = _test_images(task)
    if task == "brain_mri":  # slices with tumour, where Dice means something per slice
        names = [n for n in names if (require_data("brain_mri", "masks", n)).is_file()]
    inter = total = 0
    for n in names[:: max(1, len(names) // 16)][:16]:
        study = open_study(_image_path(task, n))
        truth = load_labels(require_data(TASK_DIRS[task], "masks", n), study) > 0
        pred, _, _ = segment_study(study.voxels, plugin, get_engine("CPU"))
        inter += int((pred.astype(bool) & truth).sum())
        total += int(pred.astype(bool).sum() + truth.sum())
    pooled = 2 * inter / max(total, 1)
    recorded = m["test_int8"]["pooled"]["dice"]
    assert pooled >= recorded - 0.1, (pooled, recorded)
