"""The whole loop on CPU: open a real study -> segment -> edit -> export -> fine-tune one short epoch from the plugin
-> quantize (bumped version, compared on the same test cases) -> install -> the registry loads the new version and
segments with it -> roll back."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import require_data
from tests.export.conftest import GROUP, brain_pairs

pytest.importorskip("torch", reason="the training extra (torch) is not installed")
pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore")]

SHIPPED = Path(__file__).resolve().parents[2] / "plugins" / "brain_mri"


def _make_v1_plugin(tmp_path: Path, user_dir: Path, cases) -> None:
    """No shipped brain_mri plugin yet: train a tiny one (as the training tests do) and install it as 1.0.0."""
    from viewer.export import export_cases
    from viewer.export.install import install_plugin
    from viewer.training.quantize import quantize
    from viewer.training.train import train

    ds = export_cases(cases, tmp_path / "seed_raw", "brain_mri").dataset
    train("brain_mri", tmp_path / "train_v1", data_dir=ds, max_steps=2, batch=4, threads=1, progress=False)
    quantize(tmp_path / "train_v1", tmp_path / "built" / "brain_mri", calibration=2, latency_runs=2,
             progress=lambda m: None)
    # Installed into an empty user folder: the comparison is with what is there, not with the shipped plugin.
    from viewer.inference.registry import Registry

    install_plugin(tmp_path / "built" / "brain_mri", user_dir,
                   registry=Registry.scan(builtin=False, user_dirs=[user_dir], entry_points=False))


@pytest.mark.parametrize("plugin", ["shipped", "trained-here"])
def test_segment_edit_export_retrain_quantize_install(tmp_path, plugin, private_dirs, monkeypatch):
    from viewer.editing import Session, apply_model_result
    from viewer.export import case_from_files, case_from_session, export_cases, pair_files, validate_dataset
    from viewer.export.install import install_plugin, installed_versions, rollback
    from viewer.inference.pipeline import run
    from viewer.inference.registry import Registry
    from viewer.io import open_study
    from viewer.training.quantize import quantize
    from viewer.training.train import train

    user_dir = tmp_path / "user_plugins"
    img_dir, lab_dir = brain_pairs(tmp_path)
    pairs = pair_files(img_dir, lab_dir)
    if plugin == "shipped":
        if not (SHIPPED / "plugin.toml").is_file():
            pytest.skip("plugins/brain_mri is not built yet (python -m viewer.training.train_all)")
        registry = Registry.scan(user_dirs=[user_dir])
    else:
        # a world with no shipped plugins: the registry the training and quantize steps consult sees only the user's
        import viewer.inference.registry as R

        (tmp_path / "no_builtin").mkdir()
        monkeypatch.setattr(R, "BUILTIN_DIR", tmp_path / "no_builtin")
        _make_v1_plugin(tmp_path, user_dir, [case_from_files(i, l_, GROUP) for i, l_ in pairs[2:8]])
        registry = Registry.scan(builtin=False, user_dirs=[user_dir])
    v1 = registry.task("brain_mri")

    # 1. open a real study and segment it with the plugin
    study = open_study(pairs[0][0])
    res = run(study.voxels, task="brain_mri", registry=registry)
    assert res.labels.shape == study.shape and res.plugin.version == v1.version
    # 2. correct it programmatically: one undoable model step, then a hand edit
    session = Session(study)
    apply_model_result(session, res.labels, res.plugin.provenance)
    value = 0 if session.labelmap.data[0, 100:140, 100:140].all() else 1  # a change, whatever the model said
    session.editor.paint((0, 1, 100, 140, 100, 140), None, value, respect_options=False)
    assert session.provenance.manual_slices() == [0]
    # 3. export the corrected session plus more corrected cases (the label files) into one nnU-Net dataset
    cases = [case_from_session(session, res.provenance, group_key="P0", registry=registry)]
    cases += [case_from_files(i, l_, GROUP) for i, l_ in pairs[1:]]
    rep = export_cases(cases, tmp_path / "raw", "brain_mri")
    assert validate_dataset(rep.dataset) == []
    prov = json.loads((rep.dataset / "provenance" / f"{rep.added[0]}.json").read_text())
    assert prov["source_models"][0]["id"] == "brain_mri" and prov["source_models"][0]["version"] == v1.version
    assert prov["source_models"][0]["sha256"] == v1.sha256 and prov["edited_slices"] == [0]
    assert prov["router"]["task"] == "brain_mri" and prov["router"]["override"] and prov["annotator"].startswith("ann_")
    # 4. fine-tune one short epoch from the installed plugin (its FP32 init weights), on CPU
    rec = train("brain_mri", tmp_path / "train_v2", data_dir=rep.dataset, init="brain_mri", epochs=1, batch=4,
                max_steps=2, threads=1, progress=False, device="cpu")
    assert rec["epoch"] == 1
    cfg = json.loads((tmp_path / "train_v2" / "config.json").read_text())
    assert cfg["init"]["kind"] == "plugin" and cfg["init"]["version"] == v1.version
    # 5. quantize: bumped version, compared with the current version on the same test cases
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = quantize(tmp_path / "train_v2", tmp_path / "new" / "brain_mri", calibration=2, latency_runs=2,
                     progress=lambda s: None, compare=True)
    assert m["version"] != v1.version and m["comparison"]["baseline_version"] == v1.version
    assert m["comparison"]["eval_set_sha256"] == m["eval_set_sha256"] and m["comparison"]["n_cases"] >= 1
    assert (tmp_path / "new" / "brain_mri" / "init_weights.npz").is_file()
    # 6. install (keeping the previous version); a worse model would need --force
    r = install_plugin(tmp_path / "new" / "brain_mri", user_dir, force=not m["comparison"]["better_or_equal"])
    assert r.version == m["version"]
    reg2 = Registry.scan(user_dirs=[user_dir], builtin=plugin == "shipped")
    assert reg2.task("brain_mri").version == m["version"]
    res2 = run(study.voxels, task="brain_mri", registry=reg2)
    assert res2.labels.shape == study.shape and res2.plugin.version == m["version"]
    # 7. roll back to the previous version
    rollback("brain_mri", user_dir)
    assert Registry.scan(user_dirs=[user_dir], builtin=plugin == "shipped").task("brain_mri").version == v1.version
    if plugin == "trained-here":
        assert installed_versions("brain_mri", user_dir) == [m["version"]]
    shutil.rmtree(tmp_path / "train_v2", ignore_errors=True)
