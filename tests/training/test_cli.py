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


def test_train_all_reproduces_every_shipped_plugin_in_order(tmp_path, monkeypatch):
    """The one-command retrain follows the recipes: polyp (``ensemble: 2``) is trained with seeds 0 and 1 on the
    split of seed 0 and quantized as one model; hippocampus is trained; the 4-class router is packaged beside its
    run and the 5-class router (router_add) is the one written to plugins/router.  train/quantize/router_add are
    recorded here, not run; a second call redoes nothing."""
    import json

    import viewer.training.hippocampus as H
    import viewer.training.quantize as Q
    import viewer.training.router_add as RA
    import viewer.training.train as T
    from viewer.training.tasks import TASKS
    from viewer.training.train_all import ORDER, run_all

    calls = []

    def fake_train(task, out, **kw):
        out.mkdir(parents=True, exist_ok=True)
        (out / "best.pt").write_bytes(b"x")
        calls.append(("train", task, out.name, kw["seed"], kw["split_seed"]) + (("hold_out_val",) if kw.get("hold_out_val") else ()))

    def fake_hippo(out, **kw):
        fake_train("hippocampus", out, split_seed=kw["seed"], **kw)

    def fake_router_add(base, out, **kw):
        out.mkdir(parents=True, exist_ok=True)
        (out / "best.pt").write_bytes(b"x")
        calls.append(("router_add", base.name, out.name, kw["task"], kw["match"]))

    def fake_quantize(tdirs, pdir, **kw):
        pdir.mkdir(parents=True, exist_ok=True)
        names = [t.name for t in tdirs] if isinstance(tdirs, list) else tdirs.name
        calls.append(("quantize", str(pdir.relative_to(tmp_path)), names)
                     + ((str(kw["threshold_from"].relative_to(tmp_path)),) if kw.get("threshold_from") else ()))
        m = {"primary_fp32": 0.5, "primary_int8": 0.5, "latency_ms_median": {"int8": 1.0}}
        (pdir / "metrics.json").write_text(json.dumps(m))
        return m

    monkeypatch.setattr(T, "train", fake_train)
    monkeypatch.setattr(H, "train", fake_hippo)
    monkeypatch.setattr(RA, "train", fake_router_add)
    monkeypatch.setattr(Q, "quantize", fake_quantize)
    assert TASKS["polyp"]["ensemble"] == 1  # polyp 1.2: one network (1.1.1 was a pair: see the end of this test)
    assert TASKS["polyp"]["threshold_from_held_out_run"]  # 1.2.1: its threshold comes from a held-out run
    res = run_all(tmp_path / "runs", tmp_path / "plugins", data_root=tmp_path / "data")
    assert all("error" not in r for r in res.values()), res
    assert calls == [
        ("train", "router", "router", 0, 0), ("quantize", "runs/router/plugin", "router"),
        ("train", "brain_mri", "brain_mri", 0, 0), ("quantize", "plugins/brain_mri", "brain_mri"),
        ("train", "polyp", "polyp", 0, 0), ("train", "polyp", "polyp_holdout", 0, 0, "hold_out_val"),
        ("quantize", "runs/polyp_holdout/plugin", "polyp_holdout"),
        ("quantize", "plugins/polyp", "polyp", "runs/polyp_holdout/plugin"),
        ("train", "nuclei", "nuclei", 0, 0), ("quantize", "plugins/nuclei", "nuclei"),
        ("train", "hippocampus", "hippocampus", 0, 0), ("quantize", "plugins/hippocampus", "hippocampus"),
        ("router_add", "router", "router_hippocampus", "hippocampus", "hippocampus_"),
        ("quantize", "plugins/router", "router_hippocampus"),
    ]
    assert list(res) == list(ORDER)
    calls.clear()  # resumable: finished trainings and up-to-date plugins are not redone
    run_all(tmp_path / "runs", tmp_path / "plugins", data_root=tmp_path / "data")
    assert calls == []
    # a finished run of an older recipe is refused with a clear error, not packaged again as if it were current
    (tmp_path / "runs" / "polyp" / "config.json").write_text(json.dumps(
        {"task": "polyp", "architecture": "unet", "widths": [16, 32, 64, 128, 256]}))
    res = run_all(tmp_path / "runs", tmp_path / "plugins", data_root=tmp_path / "data", tasks=("polyp",))
    assert "older polyp recipe" in res["polyp"]["error"]
    assert "architecture: \"unet\" -> \"effunet-lite2\"" in res["polyp"]["error"]
    assert calls == []
    # a recipe with "ensemble": 2 trains seeds 0 and 1 on the seed-0 split and packages both as one model
    monkeypatch.setitem(TASKS["polyp"], "ensemble", 2)
    monkeypatch.setitem(TASKS["polyp"], "threshold_from_held_out_run", False)
    run_all(tmp_path / "runs2", tmp_path / "plugins2", data_root=tmp_path / "data", tasks=("polyp",))
    assert calls == [("train", "polyp", "polyp", 0, 0), ("train", "polyp", "polyp_seed1", 1, 0),
                     ("quantize", "plugins2/polyp", ["polyp", "polyp_seed1"])]
    # a recipe whose final fit learns from validation takes its threshold from a held-out run of the same recipe
    calls.clear()
    monkeypatch.setitem(TASKS["polyp"], "ensemble", 1)
    monkeypatch.setitem(TASKS["polyp"], "threshold_from_held_out_run", True)
    run_all(tmp_path / "runs3", tmp_path / "plugins3", data_root=tmp_path / "data", tasks=("polyp",))
    assert calls == [("train", "polyp", "polyp", 0, 0), ("train", "polyp", "polyp_holdout", 0, 0, "hold_out_val"),
                     ("quantize", "runs3/polyp_holdout/plugin", "polyp_holdout"),
                     ("quantize", "plugins3/polyp", "polyp", "runs3/polyp_holdout/plugin")]
    calls.clear()
    run_all(tmp_path / "runs3", tmp_path / "plugins3", data_root=tmp_path / "data", tasks=("polyp",))
    assert calls == []


def test_quantize_with_a_misspelt_test_time_view_is_a_clear_error(tmp_path, capsys):
    from viewer.cli import main

    assert main(["quantize", str(tmp_path), "--out", str(tmp_path / "p"), "--tta", "identity, flip_row"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --tta: test-time view 'flip_row'") and "flip_rows" in err
