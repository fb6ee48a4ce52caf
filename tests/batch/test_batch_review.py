"""Batch and plugin-registry behaviour found in review: Ctrl-C with several workers, what --resume reports, DICOM
files named by UID, relative paths, bad --dask addresses, damaged plugins matched by their declared id."""

from __future__ import annotations

import csv
import os
import shutil

import numpy as np
import pytest

from tests.conftest import require_data
from viewer.batch.discovery import discover
from viewer.batch.executor import run_batch
from viewer.errors import MedRouteError, PluginError


def _report(out):
    return {r["path"].rsplit("/", 1)[-1]: r for r in csv.DictReader(open(out / "report.csv", newline=""))}


def test_ctrl_c_with_several_workers_stops_and_reports_every_finished_study(fake_plugins, tmp_path, monkeypatch):
    import time

    import viewer.batch.executor as ex

    real = ex.process_study
    monkeypatch.setattr(ex, "process_study", lambda *a, **k: (time.sleep(0.2), real(*a, **k))[1])  # a real pace
    src = sorted(require_data("brain_mri", "images").glob("TCGA_CS_6186_20000601_*.png"))[:12]
    (tmp_path / "in").mkdir()
    for p in src:
        shutil.copy(p, tmp_path / "in" / p.name)
    out = tmp_path / "out"
    seen = []

    def interrupt_after_three(row):
        seen.append(row)
        if len(seen) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_batch(tmp_path / "in", out, workers=2, progress=False, on_row=interrupt_after_three)
    written = sorted(p.name for p in out.glob("*.nii.gz"))
    assert 3 <= len(written) < len(src)  # stopped: not the whole queue
    assert sorted(_report(out)) == sorted(w.replace(".nii.gz", ".png") for w in written)  # every output reported


def test_resume_reports_what_is_in_each_file_not_a_stale_row(fake_plugins, mixed_folder, tmp_path):
    out = tmp_path / "out"
    run_batch(mixed_folder, out, progress=False)
    first = _report(out)["a.png"]
    # a stale report (another run's counts and task) must not describe the file on disk
    rows = list(csv.DictReader(open(out / "report.csv", newline="")))
    for r in rows:
        if r["path"].endswith("a.png"):
            r["voxels:lesion"], r["task"] = "1", "nuclei"
    with open(out / "report.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    run_batch(mixed_folder, out, resume=True, progress=False)
    again = _report(out)["a.png"]
    assert again["status"] == "skipped" and again["task"] == "brain_mri"
    assert again["voxels:lesion"] == first["voxels:lesion"] != "1"
    # no record and no report (a killed run): counts from the file itself, task unknown, never made up
    (out / ".a.nii.gz.result.json").unlink()
    (out / "report.csv").unlink()
    (out / "report.json").unlink(missing_ok=True)
    run_batch(mixed_folder, out, resume=True, progress=False)
    bare = _report(out)["a.png"]
    assert bare["task"] == "" and bare["voxels:label 1"] == first["voxels:lesion"]


def test_stale_temporaries_of_a_killed_batch_are_removed(fake_plugins, mixed_folder, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    old = out / ".a.nii.gz.k3j2.tmp.nii.gz"
    old.write_bytes(b"half")
    os.utime(old, (1, 1))
    young = out / ".b.nii.gz.x9q1.tmp.nii.gz"  # may belong to a batch still running
    young.write_bytes(b"half")
    run_batch(mixed_folder, out, progress=False)
    assert not old.exists() and young.exists()


def test_a_dicom_series_named_by_uid_without_extension_is_one_study(tmp_path):
    src = require_data("dicom_series", "pgbm003_t1post")
    folder = tmp_path / "in" / "uidnames"
    folder.mkdir(parents=True)
    import pydicom

    for f in sorted(src.glob("*.dcm")):
        shutil.copy(f, folder / str(pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID))
    items = discover(tmp_path / "in")
    assert [(i.rel, i.kind) for i in items] == [("uidnames", "dicom")]


def test_relative_paths_are_made_absolute(fake_plugins, mixed_folder, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rows, written = run_batch("in", "out_rel", progress=False)
    assert all(os.path.isabs(r["path"]) and os.path.isabs(r["output"]) for r in rows)
    assert written and all(os.path.isabs(str(w)) for w in written)


@pytest.mark.parametrize("address", ["local:abc", "local:0"])
def test_a_bad_local_dask_address_is_a_usage_error(fake_plugins, mixed_folder, tmp_path, address):
    pytest.importorskip("dask.distributed")
    with pytest.raises(MedRouteError, match="local:N"):
        run_batch(mixed_folder, tmp_path / "out", dask=address, progress=False)


def test_damaged_plugins_are_matched_by_their_declared_id(tmp_path):
    from viewer.inference.registry import Registry
    from viewer.inference.registry import BUILTIN_DIR

    user = tmp_path / "user"
    shutil.copytree(BUILTIN_DIR / "nuclei", user / "liver-1.1")  # folder name is not the id
    toml = user / "liver-1.1" / "plugin.toml"
    toml.write_text(toml.read_text().replace('id = "nuclei"', 'id = "liver"'))
    with open(user / "liver-1.1" / "model.bin", "ab") as f:
        f.write(b"x")
    shutil.copytree(BUILTIN_DIR / "polyp", user / "polyp")  # a newer, damaged copy of a built-in task
    toml = user / "polyp" / "plugin.toml"
    text = toml.read_text()
    version = next(line for line in text.splitlines() if line.startswith("version = "))
    toml.write_text(text.replace(version, 'version = "99.0.0"'))
    with open(user / "polyp" / "model.bin", "ab") as f:
        f.write(b"x")
    reg = Registry.scan(user_dirs=[user], entry_points=False)
    with pytest.raises(PluginError, match="liver.*does not match the sha256"):
        reg.get("liver")
    assert reg.get("polyp").version != "99.0.0"
    assert "polyp 99.0.0 is installed but damaged" in reg.damaged_newer("polyp")
    assert reg.damaged_newer("nuclei") == ""


def test_resume_keeps_an_earlier_row_whose_labels_include_an_empty_one(tmp_path):
    """A report row lists every label of the model, empty ones too; the file only holds the non-empty ones."""
    from viewer.batch.runner import resumed_result

    study = require_data("dicom_series", "pgbm003_t1post")
    from viewer.io import open_study, save_labels

    s = open_study(study)
    labels = np.zeros(s.shape, np.uint8)
    labels[3, 10:20, 10:20] = 1
    out = tmp_path / "case.nii.gz"
    save_labels(labels, s, out)
    row = {"task": "hippocampus", "confidence": 0.9,
           "labels": {"anterior": {"voxels": 100, "ml": 0.3}, "posterior": {"voxels": 0, "ml": 0.0}}}
    assert resumed_result(out, str(study), row) == row
    assert resumed_result(out, str(study), {**row, "labels": {"anterior": {"voxels": 99, "ml": 0.3}}})["task"] == ""
