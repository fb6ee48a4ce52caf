"""Batch folder mode: mixed folder, report, exit status, resume after an interrupted run, atomic outputs."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from viewer.batch.discovery import discover, output_paths
from viewer.batch.executor import exit_status, run_batch
from viewer.cli import main

GOOD = {"a.png", "b.png", "sub/c.png", "series_t1post"}
BAD = {"truncated.png", "empty.nii.gz", "notes.txt"}


def test_discovery_and_names(mixed_folder, tmp_path):
    items = discover(mixed_folder)
    rels = {i.rel for i in items}
    assert rels == GOOD | BAD
    assert next(i for i in items if i.rel == "series_t1post").kind == "dicom"
    outs = output_paths(items, tmp_path / "out", "png")
    by_rel = {i.rel: outs[i.path] for i in items}
    assert by_rel["sub/c.png"] == tmp_path / "out" / "sub" / "c.png"
    assert by_rel["series_t1post"] == tmp_path / "out" / "series_t1post.nii.gz"


def test_mixed_folder_cli(fake_plugins, mixed_folder, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["batch", str(mixed_folder), str(out), "--workers", "2", "--json", "--quiet"])
    assert rc == 3
    summary = json.loads(capsys.readouterr().out)["summary"]
    assert summary == {"studies": 7, "ok": 4, "skipped": 0, "failed": 3}
    rows = list(csv.DictReader(open(out / "report.csv", newline="")))
    by = {r["path"].split("/in/", 1)[1]: r for r in rows}
    assert set(by) == GOOD | BAD
    for rel in GOOD:
        r = by[rel]
        assert r["status"] == "ok" and r["task"] == "brain_mri" and float(r["confidence"]) > 0.9, r
        assert int(r["voxels:lesion"]) > 0 and float(r["seconds"]) > 0
        if rel.endswith(".png"):  # a PNG has no pixel size in mm: no volume is reported, not a made-up one
            assert r["ml:lesion"] == "", r
        else:
            assert float(r["ml:lesion"]) > 0
    for rel in BAD:
        assert by[rel]["status"] == "failed" and by[rel]["error"], by[rel]
    assert "damaged or incomplete" in by["truncated.png"]["error"]
    assert "empty" in by["empty.nii.gz"]["error"]
    assert "not an image" in by["notes.txt"]["error"]
    # one label file per good study, named after it, on the study's grid
    from viewer.io import open_study

    lab = open_study(out / "series_t1post.nii.gz")
    study = open_study(mixed_folder / "series_t1post")
    assert lab.shape == study.shape and lab.geometry.is_close(study.geometry, atol=1e-3)
    assert (out / "a.nii.gz").is_file() and (out / "sub" / "c.nii.gz").is_file()
    doc = json.loads((out / "report.json").read_text())
    assert len(doc["studies"]) == 7 and doc["summary"]["failed"] == 3
    assert not list(out.rglob("*.tmp*")), "temporary files left behind"


def test_all_good_exits_0_and_png_format(fake_plugins, mixed_folder, tmp_path):
    for bad in BAD:
        (mixed_folder / bad).unlink()
    rows, written = run_batch(mixed_folder, tmp_path / "out", fmt="png", progress=False)
    assert exit_status(rows) == 0 and len(rows) == 4
    from PIL import Image

    m = np.asarray(Image.open(tmp_path / "out" / "a.png"))
    assert m.shape == (256, 256) and set(np.unique(m)) <= {0, 1}
    assert (tmp_path / "out" / "series_t1post.nii.gz").is_file()  # volumes stay NIfTI


def test_resume_after_interrupted_run(fake_plugins, mixed_folder, tmp_path, monkeypatch):
    out = tmp_path / "out"
    import viewer.batch.runner as runner

    real = runner.process_study
    calls = []

    def dying(path, *a, **k):  # the run is killed while the 3rd study is being written
        calls.append(path)
        if len(calls) == 3:
            from viewer.io import _common

            with _common.atomic_path(out / "x.nii.gz") as tmp:
                tmp.write_bytes(b"half")
                raise KeyboardInterrupt
        return real(path, *a, **k)

    monkeypatch.setattr("viewer.batch.executor.process_study", dying)
    with pytest.raises(KeyboardInterrupt):
        run_batch(mixed_folder, out, progress=False)
    assert not list(out.rglob("*.tmp*")) and not (out / "x.nii.gz").exists()
    done_before = {p.name for p in out.rglob("*.nii.gz")}
    assert len(done_before) == 2
    # damage one finished output: resume must redo it
    victim = sorted(out.rglob("*.nii.gz"))[0]
    victim.write_bytes(victim.read_bytes()[:50])
    monkeypatch.setattr("viewer.batch.executor.process_study", real)
    seen = []
    rows, _ = run_batch(mixed_folder, out, resume=True, progress=False, on_row=seen.append)
    st = {r["path"].split("/in/", 1)[1]: r["status"] for r in rows}
    assert list(st.values()).count("skipped") == 1
    assert sum(s == "ok" for s in st.values()) == 3 and sum(s == "failed" for s in st.values()) == 3
    assert exit_status(rows) == 3
    assert all((out / n).is_file() for n in ("a.nii.gz", "b.nii.gz", "series_t1post.nii.gz"))
    # a skipped study read back from its label file: a PNG study's NIfTI labels still have no mL
    from viewer.batch.runner import stats_from_file

    png_stats = stats_from_file(out / "a.nii.gz", mixed_folder / "a.png")
    assert png_stats and all(v["voxels"] > 0 and v["ml"] is None for v in png_stats.values())
    vol = stats_from_file(out / "series_t1post.nii.gz", mixed_folder / "series_t1post")
    assert vol and all(v["ml"] > 0 for v in vol.values())


def test_dask_local_cluster(fake_plugins, mixed_folder, tmp_path):
    pytest.importorskip("dask.distributed")
    from dask.distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with Client(cluster) as client:
            addr = cluster.scheduler_address
            assert len(client.scheduler_info()["workers"]) == 2
            rows, written = run_batch(mixed_folder, tmp_path / "out", dask=addr, progress=False)
    assert len(rows) == 7 and exit_status(rows) == 3
    assert sum(r["status"] == "ok" for r in rows) == 4
    assert (tmp_path / "out" / "series_t1post.nii.gz").is_file()


def test_missing_input_folder(tmp_path, capsys):
    assert main(["batch", str(tmp_path / "nope"), str(tmp_path / "out"), "--quiet"]) == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_a_4d_study_is_segmented_on_its_first_volume_with_a_note(fake_plugins, tmp_path):  # noqa: F811
    """nibabel's functional.nii (20 fMRI volumes) in a batch: ok, a 3-D label file, and the report says which volume."""
    import shutil
    from pathlib import Path

    import nibabel

    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(Path(nibabel.__file__).parent / "tests" / "data" / "functional.nii", src / "fmri.nii")
    rows, written = run_batch(src, tmp_path / "out", task="brain_mri", progress=False)
    assert exit_status(rows) == 0 and rows[0]["status"] == "ok", rows
    assert "first of its 20 volumes" in rows[0]["notes"]
    with open(next(p for p in written if p.suffix == ".csv"), newline="") as f:
        rec = next(csv.DictReader(f))
    assert rec["notes"] == rows[0]["notes"]
    lab = nibabel.load(tmp_path / "out" / "fmri.nii.gz")
    assert lab.shape == nibabel.load(src / "fmri.nii").shape[:3]
