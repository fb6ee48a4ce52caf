"""`medroute segment` and `medroute models` end to end (fake plugins installed as the user's plugin folder)."""

from __future__ import annotations

import json

import numpy as np

from tests.batch.conftest import fake_plugins  # noqa: F401 - fixture
from tests.conftest import require_data
from viewer.cli import main


def test_segment_json(fake_plugins, tmp_path, capsys):  # noqa: F811
    img = require_data("brain_mri", "images", "TCGA_CS_6186_20000601_12.png")
    out = tmp_path / "lab.png"
    assert main(["segment", str(img), "--out", str(out), "--json", "--device", "GPU"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["task"] == "brain_mri" and info["routing"]["task"] == "brain_mri"
    assert info["device"] == "CPU" and "not available" in info["device_message"]
    assert info["labels"]["lesion"]["voxels"] > 0
    assert info["labels"]["lesion"]["ml"] is None  # a PNG slice has no pixel size in mm
    assert {"route", "preprocess", "infer", "postprocess", "total"} <= set(info["timings_s"])
    from viewer.io import load_labels, open_study

    lab = load_labels(out, open_study(img))
    assert lab.shape == (1, 256, 256) and int(lab.sum()) == info["labels"]["lesion"]["voxels"]


def test_segment_text_reports_pixels_not_millilitres_for_a_png(fake_plugins, tmp_path, capsys):  # noqa: F811
    img = require_data("brain_mri", "images", "TCGA_CS_6186_20000601_12.png")
    assert main(["segment", str(img), "--out", str(tmp_path / "lab.png")]) == 0
    text = capsys.readouterr().out
    line = next(x for x in text.splitlines() if x.strip().startswith("lesion"))
    assert "pixels" in line and "no pixel size in mm" in line and "mL" not in line


def test_segment_errors_exit_2(fake_plugins, tmp_path, capsys):  # noqa: F811
    img = require_data("brain_mri", "images", "TCGA_CS_6186_20000601_12.png")
    assert main(["segment", str(img), "--out", str(tmp_path / "x.nii.gz"), "--task", "liver"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: There is no task plugin 'liver'") and err.count("\n") == 1
    assert main(["segment", str(img), "--out", str(tmp_path / "x.txt")]) == 2
    assert not (tmp_path / "x.nii.gz").exists()


def test_models_json_and_check(fake_plugins, tmp_path, capsys):  # noqa: F811
    assert main(["models", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert [t["id"] for t in info["tasks"]] == ["brain_mri"] and info["router"]["id"] == "router"
    assert any(d["device"] == "CPU" for d in info["devices"])
    assert main(["models", "--check", str(fake_plugins)]) == 0
    assert capsys.readouterr().out.count("ok ") == 2
    bad = fake_plugins / "brain_mri" / "model.bin"
    bad.write_bytes(bad.read_bytes()[:-4])
    assert main(["models", "--check", str(fake_plugins / "brain_mri")]) == 2
    assert "does not match the sha256" in capsys.readouterr().err


def test_segment_a_4d_nifti_uses_one_volume_and_says_which(fake_plugins, tmp_path, capsys):  # noqa: F811
    """nibabel's functional.nii (an fMRI run, 20 volumes): the models get the first volume (what the viewer shows)
    with a note, or the volume asked for; before, its 20 volumes went to the model as 20 colour channels (crash)."""
    from pathlib import Path

    import nibabel

    from viewer.io import load_labels, open_study

    src = Path(nibabel.__file__).parent / "tests" / "data" / "functional.nii"
    out = tmp_path / "lab.nii.gz"
    assert main(["segment", str(src), "--out", str(out), "--task", "brain_mri", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert len(info["notes"]) == 1 and "first of its 20 volumes" in info["notes"][0] and "--volume" in info["notes"][0]
    study = open_study(src)
    lab = load_labels(out, study)
    assert lab.shape == study.shape and study.voxels.shape[3] == 20
    # the label of volume 0 is the label of the first volume opened on its own
    assert main(["segment", str(src), "--out", str(tmp_path / "v0.nii.gz"), "--task", "brain_mri", "--volume", "0",
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["notes"] == []
    assert np.array_equal(load_labels(tmp_path / "v0.nii.gz", study), lab)
    assert main(["segment", str(src), "--out", str(tmp_path / "v.nii.gz"), "--volume", "20"]) == 2
    assert "has 20 (numbered 0 to 19)" in capsys.readouterr().err
