"""nnU-Net v2 and MSD exports of real studies: layout rules, geometry, de-identification, appending, atomicity."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import require_data
from tests.export.conftest import GROUP, brain_pairs
from viewer.errors import GeometryMismatchError
from viewer.export import (ExportCase, ExportError, case_from_files, check_deidentified, export_cases, pair_files,
                           validate_dataset)
from viewer.export.deid import CASE_RE, identifying_strings
from viewer.io import open_study


def _brain_cases(tmp_path, n=4):
    img, lab = brain_pairs(tmp_path)
    return [case_from_files(i, l_, GROUP) for i, l_ in pair_files(img, lab)[:n]]


def test_nnunet_png_export_follows_nnunet_rules(tmp_path):
    from PIL import Image

    cases = _brain_cases(tmp_path)
    rep = export_cases(cases, tmp_path / "raw", "brain_mri")
    ds = rep.dataset
    assert ds.name == "Dataset501_BrainMri" and rep.num_training == 4
    assert validate_dataset(ds) == []
    dj = json.loads((ds / "dataset.json").read_text())
    assert dj["labels"] == {"background": 0, "label 1": 1} and dj["file_ending"] == ".png"
    assert dj["channel_names"] == {"0": "R", "1": "G", "2": "B"} and dj["numTraining"] == 4
    for cid in rep.added:
        assert CASE_RE.match(cid)
        assert [p.name for p in sorted((ds / "imagesTr").glob(f"{cid}_*"))] == [f"{cid}_{c:04d}.png" for c in range(3)]
        lab = np.asarray(Image.open(ds / "labelsTr" / f"{cid}.png"))
        assert set(np.unique(lab).tolist()) <= {0, 1} and lab.max() == 1  # 0..N, not 0/255
    c0 = cases[0]
    src_rgb = c0.study.voxels[0]
    cid0 = rep.added[0]
    got = np.stack([np.asarray(Image.open(ds / "imagesTr" / f"{cid0}_{c:04d}.png")) for c in range(3)], -1)
    assert np.array_equal(got, src_rgb)
    # patients (groups) are pseudonyms too, and the two slices of one patient share one
    groups = dj["medroute"]["groups"]
    assert len(set(groups.values())) == 2
    # de-identification: no file stem, patient id or date anywhere in names, JSON or headers
    forbidden = sorted({s for c in cases for s in identifying_strings(c.study)} | {"TCGA_CS_5393", "19990606"})
    assert check_deidentified(ds, forbidden) == []
    key = json.loads(rep.key_file.read_text())
    assert not str(rep.key_file).startswith(str(ds)) and len(key["cases"]) == 4
    assert "TCGA" in json.dumps(key)  # the mapping back to the source lives in the private key file only
    # the training reader of viewer.training reads it back (RGB from three channel files)
    from viewer.training.data import list_samples, read_sample

    samples = list_samples("brain_mri", ds)
    img, mask = read_sample(next(s for s in samples if s.key == cid0))
    assert np.array_equal(img, src_rgb) and mask.max() == 1


def test_append_is_stable_refuses_duplicates_and_overwrites_with_flag(tmp_path):
    cases = _brain_cases(tmp_path, 6)
    rep1 = export_cases(cases[:3], tmp_path / "raw", "brain_mri")
    with pytest.raises(ExportError, match=r"already in .*; replace its labels to overwrite\.$"):  # no CLI flag here
        export_cases([cases[1]], tmp_path / "raw", "brain_mri")
    rep2 = export_cases(cases[3:], tmp_path / "raw", "brain_mri")
    assert rep2.dataset == rep1.dataset and rep2.num_training == 6 and not set(rep2.added) & set(rep1.added)
    again = case_from_files(cases[1].study.source[0], tmp_path / "in" / "labels" / cases[1].study.source[0].split("/")[-1], GROUP)
    again.labels[:] = 0
    again.labels[0, 10:20, 10:20] = 1
    rep3 = export_cases([again], tmp_path / "raw", "brain_mri", overwrite=True)
    assert rep3.replaced == [rep1.added[1]] and rep3.num_training == 6  # same pseudonym: stable id
    assert validate_dataset(rep3.dataset) == []
    man = json.loads((rep3.dataset / "manifest.json").read_text())
    assert len(man["cases"]) == 6 and all(len(v) == 64 for v in man["files"].values())


def test_appending_checks_channels_and_grid_before_writing(tmp_path):
    cases = _brain_cases(tmp_path, 2)
    rep = export_cases(cases[:1], tmp_path / "raw", "brain_mri")
    before = sorted(p.name for p in rep.dataset.rglob("*"))
    grey = open_study(require_data("nuclei", "images") / sorted(p.name for p in require_data("nuclei", "images").iterdir())[0])
    if grey.n_channels == 3:
        grey.voxels = grey.voxels[..., 0]
        grey.channel_names = []
    with pytest.raises(ExportError, match="channels"):
        export_cases([ExportCase(grey, np.zeros(grey.shape, np.uint8))], tmp_path / "raw", "brain_mri")
    with pytest.raises(GeometryMismatchError):
        ExportCase(cases[1].study, np.zeros((1, 5, 5), np.uint8))
    assert sorted(p.name for p in rep.dataset.rglob("*")) == before
    assert validate_dataset(rep.dataset) == []


def test_a_failed_export_leaves_the_dataset_valid(tmp_path, monkeypatch):
    from viewer.export import nnunet

    cases = _brain_cases(tmp_path, 4)
    rep = export_cases(cases[:2], tmp_path / "raw", "brain_mri")
    snapshot = {p.relative_to(rep.dataset).as_posix(): p.read_bytes() for p in rep.dataset.rglob("*") if p.is_file()}
    calls = []

    def dying(self, root, case, cid, ending, _orig=nnunet.NnUNetLayout.write_case):
        calls.append(cid)
        if len(calls) == 2:  # the process "dies" after the first new case was written
            raise KeyboardInterrupt
        return _orig(self, root, case, cid, ending)

    monkeypatch.setattr(nnunet.NnUNetLayout, "write_case", dying)
    with pytest.raises(KeyboardInterrupt):
        export_cases(cases[2:], tmp_path / "raw", "brain_mri")
    after = {p.relative_to(rep.dataset).as_posix(): p.read_bytes() for p in rep.dataset.rglob("*") if p.is_file()}
    assert after == snapshot and validate_dataset(rep.dataset) == []
    # a staging folder left by a killed process is cleaned up by the next export
    (tmp_path / "raw" / f".{rep.dataset.name}.staging-999999").mkdir()
    monkeypatch.undo()
    rep2 = export_cases(cases[2:], tmp_path / "raw", "brain_mri")
    assert rep2.num_training == 4 and not list((tmp_path / "raw").glob(".*staging*"))


def test_nifti_3d_export_keeps_exact_geometry_nnunet_and_msd(tmp_path):
    import nibabel as nib

    root = require_data("nifti", "msd_task04_hippocampus")
    img = sorted((root / "images").glob("*.nii.gz"))[0]
    study = open_study(img)
    from viewer.io import load_labels

    labels = load_labels(root / "labels" / img.name, study)
    case = ExportCase(study, labels, {1: "anterior", 2: "posterior"})
    src = nib.load(str(img))
    for fmt, name in (("nnunet", "Dataset504_Hippo"), ("msd", "Task04_Hippo")):
        rep = export_cases([case], tmp_path / fmt / name, "hippocampus", fmt)
        assert validate_dataset(rep.dataset, fmt) == [], fmt
        cid = rep.added[0]
        im = nib.load(str(next((rep.dataset / "imagesTr").glob(f"{cid}*.nii.gz"))))
        lab = nib.load(str(rep.dataset / "labelsTr" / f"{cid}.nii.gz"))
        for x in (im, lab):
            assert np.allclose(x.affine, src.affine, atol=1e-4) and x.shape == src.shape
            assert b"hippocampus" not in bytes(x.header["descrip"])
        assert np.array_equal(np.asarray(im.dataobj), np.asarray(src.dataobj))
        assert np.array_equal(np.asarray(lab.dataobj), labels.transpose(2, 1, 0))
        dj = json.loads((rep.dataset / "dataset.json").read_text())
        if fmt == "msd":
            assert dj["labels"] == {"0": "background", "1": "anterior", "2": "posterior"}
            assert dj["training"] == [{"image": f"./imagesTr/{cid}.nii.gz", "label": f"./labelsTr/{cid}.nii.gz"}]
            assert dj["tensorImageSize"] == "3D" and dj["numTraining"] == 1
        else:
            assert dj["labels"] == {"background": 0, "anterior": 1, "posterior": 2}
            assert dj["file_ending"] == ".nii.gz"


def test_msd_multichannel_is_4d(tmp_path):
    import nibabel as nib

    cases = _brain_cases(tmp_path, 2)
    rep = export_cases(cases, tmp_path / "msd", "brain_mri", "msd")
    assert rep.dataset.name == "Task51_BrainMri" and validate_dataset(rep.dataset) == []
    im = nib.load(str(rep.dataset / "imagesTr" / f"{rep.added[0]}.nii.gz"))
    assert im.shape == (256, 256, 1, 3)
    dj = json.loads((rep.dataset / "dataset.json").read_text())
    assert dj["tensorImageSize"] == "4D" and dj["modality"] == {"0": "R", "1": "G", "2": "B"}


def test_validator_catches_broken_datasets(tmp_path):
    rep = export_cases(_brain_cases(tmp_path, 2), tmp_path / "raw", "brain_mri")
    ds = rep.dataset
    dj = json.loads((ds / "dataset.json").read_text())
    (ds / "dataset.json").write_text(json.dumps({**dj, "numTraining": 3, "labels": {"background": 0, "a": 2}}))
    (ds / "labelsTr" / f"{rep.added[0]}.png").unlink()
    problems = " | ".join(validate_dataset(ds))
    for s in ("numTraining is 3", "not consecutive", "has no labelsTr", "sha256", "missing"):
        assert s in problems, s


def test_cli_export_from_files(tmp_path, capsys):
    from viewer.cli import main

    img, lab = brain_pairs(tmp_path)
    out = tmp_path / "raw"
    assert main(["export", "--images", str(img), "--labels", str(lab), "--task", "brain_mri", "--out", str(out),
                 "--group-pattern", GROUP, "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["numTraining"] == len(list(img.iterdir()))
    assert main(["export", "--validate", rep["dataset"]]) == 0
    assert main(["export", "--images", str(img), "--labels", str(lab), "--task", "brain_mri", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "already in" in err and "replace its labels to overwrite (--overwrite)." in err
