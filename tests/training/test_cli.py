"""``medroute train`` / ``medroute quantize`` wiring and typed errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from viewer.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[2]


def test_parsers_registered():
    p = build_parser()
    a = p.parse_args(["train", "--task", "polyp", "--out", "x", "--device", "cpu", "--epochs", "3"])
    assert a.task == "polyp" and a.epochs == 3 and callable(a.func)
    a = p.parse_args(["quantize", "tdir", "--out", "plugins/polyp"])
    assert a.train_dir == ["tdir"] and callable(a.func)
    a = p.parse_args(["quantize", "runs/polyp_s0", "runs/polyp_s1", "--out", "plugins/polyp"])
    assert a.train_dir == ["runs/polyp_s0", "runs/polyp_s1"]  # an ensemble


def test_add_parsers_does_not_import_torch():
    code = ("import sys, argparse; import viewer.training.cli as c; p = argparse.ArgumentParser(); "
            "c.add_parsers(p.add_subparsers()); assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_missing_gaudi_stack_is_a_clear_error(tmp_path, capsys, synthetic_dataset):
    pytest.importorskip("torch")
    try:
        import habana_frameworks.torch  # noqa: F401
        pytest.skip("Gaudi stack installed")
    except ImportError:
        pass
    rc = main(["train", "--task", "brain_mri", "--device", "hpu", "--data", str(synthetic_dataset),
               "--out", str(tmp_path / "t")])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: ") and "Gaudi" in err and "install" in err


def test_quantize_unfinished_folder_is_a_clear_error(tmp_path, capsys):
    pytest.importorskip("torch")
    rc = main(["quantize", str(tmp_path), "--out", str(tmp_path / "p")])
    err = capsys.readouterr().err
    assert rc == 2 and "not a finished training folder" in err


def test_unknown_data_folder(tmp_path, capsys):
    pytest.importorskip("torch")
    rc = main(["train", "--task", "nuclei", "--data", str(tmp_path / "missing"), "--device", "cpu",
               "--out", str(tmp_path / "t")])
    assert rc == 2 and "does not exist" in capsys.readouterr().err


def test_every_trainer_takes_the_cli_keywords():
    """`medroute train` passes the same keywords to the 2-D trainer and the hippocampus (3-D) trainer."""
    import inspect

    from viewer.training.hippocampus import train as train_volumes
    from viewer.training.train import train

    for kw in ("seed", "split_seed", "threads", "max_steps", "limit", "batch", "init", "epochs", "device"):
        assert kw in inspect.signature(train).parameters, kw
        assert kw in inspect.signature(train_volumes).parameters, kw


def test_train_all_trains_every_ensemble_seed_on_one_split_and_packages_them_together(tmp_path, monkeypatch):
    """The one-command retrain follows the recipes: polyp (``ensemble: 2``) is trained with seeds 0 and 1 on the
    split of seed 0 and quantized as one model; the others once.  train/quantize are recorded, not run."""
    import json

    import viewer.training.quantize as Q
    import viewer.training.train as T
    from viewer.training.tasks import TASKS
    from viewer.training.train_all import run_all

    calls = []

    def fake_train(task, out, **kw):
        out.mkdir(parents=True, exist_ok=True)
        (out / "best.pt").write_bytes(b"x")
        calls.append(("train", task, out.name, kw["seed"], kw["split_seed"]))

    def fake_quantize(tdirs, pdir, **kw):
        pdir.mkdir(parents=True, exist_ok=True)
        names = [t.name for t in tdirs] if isinstance(tdirs, list) else tdirs.name
        calls.append(("quantize", pdir.name, names))
        m = {"primary_fp32": 0.5, "primary_int8": 0.5, "latency_ms_median": {"int8": 1.0}}
        (pdir / "metrics.json").write_text(json.dumps(m))
        return m

    monkeypatch.setattr(T, "train", fake_train)
    monkeypatch.setattr(Q, "quantize", fake_quantize)
    assert TASKS["polyp"]["ensemble"] == 2
    res = run_all(tmp_path / "runs", tmp_path / "plugins", tasks=("polyp", "nuclei"))
    assert all("error" not in r for r in res.values()), res
    assert calls == [("train", "polyp", "polyp", 0, 0), ("train", "polyp", "polyp_seed1", 1, 0),
                     ("quantize", "polyp", ["polyp", "polyp_seed1"]),
                     ("train", "nuclei", "nuclei", 0, 0), ("quantize", "nuclei", "nuclei")]
    calls.clear()  # resumable: finished trainings and up-to-date plugins are not redone
    run_all(tmp_path / "runs", tmp_path / "plugins", tasks=("polyp",))
    assert calls == []
