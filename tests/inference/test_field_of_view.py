"""A task model's field-of-view contract (``[input] max_field_of_view_mm``): the router does not send a study larger
than the model's training crops to it (the viewer's own sample study, a coarse whole-brain crop, used to be routed
to the hippocampus model of 35-58 mm crops and got a meaningless segmentation)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import require_data
from viewer.errors import NoSuitableModelError, PluginError
from viewer.inference.engine import get_engine
from viewer.inference.pipeline import run, study_extent_mm, study_input
from viewer.inference.registry import BUILTIN_DIR, Registry
from viewer.io import open_study


def _registry() -> Registry:
    reg = Registry.scan(builtin=True, user_dirs=[], entry_points=False)
    assert not reg.problems, [str(e) for e in reg.problems]
    return reg


def _sample_study():
    import nibabel

    return open_study(Path(nibabel.__file__).resolve().parent / "tests" / "data" / "anatomical.nii")


def test_the_sample_whole_brain_study_is_not_sent_to_the_model_of_hippocampus_crops():
    reg, eng = _registry(), get_engine("CPU")
    study = _sample_study()
    extent = study_extent_mm(study)
    assert extent == (66.0, 82.0, 50.0)
    assert reg.task("hippocampus").input.max_field_of_view_mm < max(extent)
    with pytest.raises(NoSuitableModelError, match="field of view .* larger than the studies") as e:
        run(study_input(study)[0], registry=reg, engine=eng, name=study.name, extent_mm=extent)
    assert e.value.decision.label == "hippocampus" and e.value.decision.task is None
    # the user may still choose it: a choice is not second-guessed
    res = run(study_input(study)[0], task="hippocampus", registry=reg, engine=eng, extent_mm=extent)
    assert res.plugin.id == "hippocampus" and res.routing.override


def test_a_real_hippocampus_crop_is_inside_the_contract_and_routed_there():
    study = open_study(require_data("nifti", "msd_task04_hippocampus", "images", "hippocampus_001.nii.gz"))
    reg = _registry()
    res = run(study_input(study)[0], registry=reg, engine=get_engine("CPU"), extent_mm=study_extent_mm(study))
    assert res.plugin.id == "hippocampus" and max(study_extent_mm(study)) <= reg.task("hippocampus").input.max_field_of_view_mm


def test_a_picture_without_a_size_in_mm_has_no_field_of_view_to_check():
    img = sorted(require_data("polyp", "images").glob("*.png"))[0]
    study = open_study(img)
    assert study_extent_mm(study) is None


def test_a_bad_field_of_view_in_a_manifest_is_a_plugin_error(tmp_path):
    import shutil

    from viewer.inference.manifest import load_manifest

    shutil.copytree(BUILTIN_DIR / "hippocampus", tmp_path / "hippocampus")
    toml = tmp_path / "hippocampus" / "plugin.toml"
    toml.write_text(toml.read_text().replace("max_field_of_view_mm = 72.5", "max_field_of_view_mm = -1"))
    with pytest.raises(PluginError, match="max_field_of_view_mm"):
        load_manifest(tmp_path / "hippocampus")
    assert np.isclose(load_manifest(BUILTIN_DIR / "hippocampus").input.max_field_of_view_mm, 72.5)
