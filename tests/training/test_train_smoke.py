"""A few training steps of each kind (segmenter, router) on a tiny subset, then INT8 packaging into a plugin."""

from __future__ import annotations

import hashlib
import json
import tomllib
import warnings

import numpy as np
import pytest

from tests.conftest import require_data
from tests.training.conftest import write_nnunet

pytestmark = pytest.mark.filterwarnings("ignore")


def _check_plugin(pdir, kind: str):
    import openvino as ov

    for f in ("plugin.toml", "model.xml", "model.bin", "metrics.json", "MODEL_CARD.md"):
        assert (pdir / f).is_file(), f
    man = tomllib.loads((pdir / "plugin.toml").read_text())
    assert man["plugin"]["id"] == pdir.name and man["plugin"]["kind"] == kind
    assert man["model"]["precision"] == "INT8"
    assert man["model"]["sha256"] == hashlib.sha256((pdir / "model.bin").read_bytes()).hexdigest()
    assert man["model"]["xml_sha256"] == hashlib.sha256((pdir / "model.xml").read_bytes()).hexdigest()
    for k in ("channels", "size", "resize", "normalisation", "percentile_low", "percentile_high", "grey_policy",
              "colour_policy", "layout"):
        assert k in man["input"], k
    assert {"dataset", "split", "architecture", "widths", "seed"} <= set(man["training"])
    metrics = json.loads((pdir / "metrics.json").read_text())
    assert metrics["latency_ms_median"]["int8"] > 0 and "test_fp32" in metrics and "test_int8" in metrics
    if kind == "segmentation":  # the viewer's own per-slice path, timed on a real test image of the task
        lat = metrics["latency_ms_median"]
        assert lat["int8_end_to_end_task"] > 0 and len(lat["end_to_end_task_input"]) in (2, 3)
        assert f"test image {lat['int8_end_to_end_task']} ms" in (pdir / "MODEL_CARD.md").read_text()
    model = ov.Core().read_model(pdir / "model.xml")
    assert any("FakeQuantize" in op.get_type_name() or "Convert" in op.get_type_name() for op in model.get_ops())
    compiled = ov.Core().compile_model(model, "CPU")
    h, w = man["input"]["size"]
    out = compiled({0: np.random.default_rng(0).random((1, man["input"]["channels"], h, w), dtype=np.float32)})[0]
    assert np.all(np.isfinite(out))
    return man, metrics, out


def test_segmenter_trains_and_quantizes(tmp_path):
    from viewer.training.data import list_samples, read_sample
    from viewer.training.quantize import quantize
    from viewer.training.train import train

    root = require_data("brain_mri")
    samples = [s for s in list_samples("brain_mri", root) if s.group < "TCGA_DU_5853"][:: 4]
    cases = []
    for s in samples[:16]:
        img, mask = read_sample(s)
        cases.append((s.key[:-4], img, mask, s.group))
    ds = write_nnunet(tmp_path / "Dataset001_Brain", cases)
    rec = train("brain_mri", tmp_path / "train", data_dir=ds, max_steps=3, batch=4, threads=2, progress=False)
    assert rec["step"] == 3 and np.isfinite(rec["loss"])
    log = [json.loads(line) for line in (tmp_path / "train" / "log.jsonl").read_text().splitlines()]
    assert log and log[-1]["step"] == 3
    # resume: a second call continues from last.pt and does not train again
    train("brain_mri", tmp_path / "train", data_dir=ds, max_steps=3, batch=4, threads=2, progress=False)
    assert len((tmp_path / "train" / "log.jsonl").read_text().splitlines()) == len(log)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = quantize(tmp_path / "train", tmp_path / "plugins" / "brain_mri", calibration=4, latency_runs=5)
    man, metrics, out = _check_plugin(tmp_path / "plugins" / "brain_mri", "segmentation")
    assert out.shape == (1, 1, 256, 256)
    assert metrics["split"]["test"] and not set(metrics["split"]["test"]) & set(metrics["split"]["train"])
    assert 0 <= m["test_int8"]["per_group"]["dice"] <= 1
    assert (tmp_path / "train" / "fp32" / "model.xml").is_file()


def test_router_trains_and_quantizes(tmp_path):
    from viewer.training.quantize import quantize
    from viewer.training.train import train

    root = require_data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rec = train("router", tmp_path / "train", data_dir=root, limit=3, max_steps=3, threads=2, progress=False)
        assert rec["step"] == 3
        quantize(tmp_path / "train", tmp_path / "plugins" / "router", calibration=8, latency_runs=5)
    man, metrics, out = _check_plugin(tmp_path / "plugins" / "router", "router")
    assert man["router"]["classes"] == ["brain_mri", "nuclei", "polyp", "other"]
    assert 0.5 <= man["router"]["threshold"] <= 0.97
    assert out.shape == (1, 4)


def test_two_seeds_package_as_one_ensemble_model(tmp_path):
    """Two TRAIN_DIRs of one task and split -> one INT8 IR whose FP32 twin outputs the mean of the members' logits;
    a member from another split is refused with a clear error."""
    import openvino as ov
    import torch

    from viewer.training.data import TrainingDataError, list_samples, read_sample
    from viewer.training.finetune import resolve_init
    from viewer.training.quantize import _load, quantize
    from viewer.training.train import train

    root = require_data("brain_mri")
    samples = [s for s in list_samples("brain_mri", root) if s.group < "TCGA_DU_5853"][::4]
    cases = [(s.key[:-4], *read_sample(s), s.group) for s in samples[:16]]
    ds = write_nnunet(tmp_path / "Dataset001_Brain", cases)
    kw = dict(data_dir=ds, max_steps=2, batch=4, threads=2, progress=False)
    for seed in (0, 1):
        train("brain_mri", tmp_path / f"s{seed}", seed=seed, split_seed=0, **kw)
    train("brain_mri", tmp_path / "other_split", seed=1, split_seed=3, **kw)
    assert json.loads((tmp_path / "s1" / "config.json").read_text())["split"] == \
        json.loads((tmp_path / "s0" / "config.json").read_text())["split"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for d in ("h0", "h1"):  # the 3-class hippocampus model (3-D metrics) is not averaged this way
            (tmp_path / d).mkdir()
            (tmp_path / d / "config.json").write_text(json.dumps({"task": "hippocampus", "kind": "segmentation"}))
        with pytest.raises(TrainingDataError, match="ensemble"):
            quantize([tmp_path / "h0", tmp_path / "h1"], tmp_path / "bad", calibration=4, latency_runs=5)
        with pytest.raises(TrainingDataError, match="split"):
            quantize([tmp_path / "s0", tmp_path / "other_split"], tmp_path / "bad", calibration=4, latency_runs=5)
        m = quantize([tmp_path / "s0", tmp_path / "s1"], tmp_path / "plugins" / "brain_mri", calibration=4,
                     latency_runs=5)
    pdir = tmp_path / "plugins" / "brain_mri"
    _check_plugin(pdir, "segmentation")
    assert [x["seed"] for x in m["members"]] == [0, 1]
    assert "Ensemble of 2 networks" in (pdir / "MODEL_CARD.md").read_text()
    man = tomllib.loads((pdir / "plugin.toml").read_text())
    assert man["training"]["ensemble_seeds"] == [0, 1] and man["training"]["split_seed"] == 0
    from viewer.training.latency import fp32_ir

    assert fp32_ir(pdir) == tmp_path / "s0" / "fp32_ensemble" / "model.xml"  # not one member's IR
    # the FP32 IR is the mean of the two members' logits
    x = torch.from_numpy(np.random.default_rng(0).random((1, 3, 256, 256), dtype=np.float32))
    with torch.no_grad():
        want = torch.stack([_load(tmp_path / d)[1](x) for d in ("s0", "s1")]).mean(0).numpy()
    fp32 = ov.Core().compile_model(tmp_path / "s0" / "fp32_ensemble" / "model.xml", "CPU",
                                   {"INFERENCE_PRECISION_HINT": "f32"})
    assert np.allclose(fp32({0: x.numpy()})[0], want, atol=1e-3)
    assert not (tmp_path / "s0" / "fp32").exists()  # a single member's IR is not overwritten
    # fine-tuning starts from the first member (stored as float16)
    state, _ = resolve_init(pdir, "brain_mri")
    first = _load(tmp_path / "s0")[1].state_dict()
    assert state.keys() == first.keys()
    k = next(k for k in first if k.endswith("weight") and first[k].ndim == 4)
    assert state[k].dtype == torch.float16 and torch.allclose(state[k].float(), first[k], atol=1e-3)


def test_threshold_chosen_by_a_held_out_run_carries_over_to_the_final_fit(tmp_path, monkeypatch):
    """A final fit that learned from validation cannot choose its threshold there; a --hold-out-val run of the same
    recipe can, and quantize --threshold-from hands that choice on (recorded in metrics, plugin.toml, model card).
    A run of another recipe, or one that learned from validation, is refused."""
    from viewer.training import tasks
    from viewer.training.data import TrainingDataError, list_samples, read_sample
    from viewer.training.quantize import THRESHOLDS, quantize, threshold_from_held_out_run
    from viewer.training.train import train

    root = require_data("brain_mri")
    samples = [s for s in list_samples("brain_mri", root) if s.group < "TCGA_DU_5853"][::4]
    ds = write_nnunet(tmp_path / "Dataset001_Brain", [(s.key[:-4], *read_sample(s), s.group) for s in samples[:16]])
    monkeypatch.setitem(tasks.TASKS["brain_mri"], "train_parts", ["train", "val"])  # a final fit like polyp's
    kw = dict(data_dir=ds, max_steps=2, batch=4, threads=2, progress=False)
    train("brain_mri", tmp_path / "held", hold_out_val=True, **kw)
    train("brain_mri", tmp_path / "final", **kw)
    assert json.loads((tmp_path / "held" / "config.json").read_text())["train_parts"] == ["train"]
    assert json.loads((tmp_path / "final" / "config.json").read_text())["train_parts"] == ["train", "val"]
    q = dict(calibration=4, latency_runs=5, progress=lambda *_: None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        held = quantize(tmp_path / "held", tmp_path / "p_held" / "brain_mri", **q)
        assert held["split"]["val"] and set(held["threshold_val_dice"]) == {str(t) for t in THRESHOLDS}
        with pytest.raises(TrainingDataError, match="did not learn from the validation split"):
            quantize(tmp_path / "held", tmp_path / "bad", threshold_from=tmp_path / "p_held" / "brain_mri", **q)
        m = quantize(tmp_path / "final", tmp_path / "p_final" / "brain_mri",
                     threshold_from=tmp_path / "p_held" / "brain_mri", **q)
    assert m["threshold"] == held["threshold"] and m["threshold_val_dice"] == held["threshold_val_dice"]
    assert m["threshold_source"]["train_parts"] == ["train"]
    pdir = tmp_path / "p_final" / "brain_mri"
    assert tomllib.loads((pdir / "plugin.toml").read_text())["output"]["threshold"] == held["threshold"]
    assert "did not learn from it" in (pdir / "MODEL_CARD.md").read_text()
    rec = json.loads((tmp_path / "final" / "config.json").read_text())
    with pytest.raises(TrainingDataError, match="learned from the validation split"):
        threshold_from_held_out_run(pdir, rec)
    with pytest.raises(TrainingDataError, match="epochs"):
        threshold_from_held_out_run(tmp_path / "p_held" / "brain_mri", dict(rec, epochs=rec["epochs"] + 1))
    # a threshold chosen on one-pass outputs does not fit averaged test-time views (their probabilities differ)
    with pytest.raises(TrainingDataError, match="test-time views"):
        threshold_from_held_out_run(tmp_path / "p_held" / "brain_mri", dict(rec, tta=["identity", "flip_rows"]))


def test_test_time_views_compare_as_a_set():
    """Views are averaged, so their order does not matter, nor how the size is written."""
    from viewer.training.model import tta_key

    assert tta_key(["flip_rows@160X224", "identity"]) == tta_key(["identity", "flip_rows@160x224"])
    assert tta_key(["identity", "flip_rows@160x224"]) != tta_key(["identity", "flip_rows"])
    assert tta_key(None) == tta_key([]) == []
    with pytest.raises(ValueError, match="multiples of 32"):
        tta_key(["identity@100x100"])


def test_resume_goes_on_from_last_pt_and_refuses_another_network(tmp_path):
    """Both training loops (2-D tasks and hippocampus) resume through train.resume."""
    import torch

    from viewer.training.data import TrainingDataError
    from viewer.training.model import UNet
    from viewer.training.train import _save, resume

    torch.manual_seed(0)
    trained = UNet(3, 1, [4, 8])
    opt = torch.optim.AdamW(trained.parameters())
    _save(tmp_path / "last.pt", {"model": trained.state_dict(), "opt": opt.state_dict(), "epoch": 4, "step": 40,
                                 "best": 0.5})
    same = UNet(3, 1, [4, 8])
    assert resume(tmp_path / "last.pt", same, torch.optim.AdamW(same.parameters()), "polyp") == (5, 40, 0.5)
    assert torch.equal(same.head.weight, trained.head.weight)
    fresh = UNet(3, 1, [4, 8])
    assert resume(tmp_path / "missing.pt", fresh, torch.optim.AdamW(fresh.parameters()), "polyp") == (0, 0, -1.0)
    three = UNet(3, 3, [4, 8])  # e.g. the 3-class hippocampus network
    with pytest.raises(TrainingDataError, match="does not fit the current hippocampus network"):
        resume(tmp_path / "last.pt", three, torch.optim.AdamW(three.parameters()), "hippocampus")


def test_swa_fine_tune_averages_the_epochs_and_needs_a_start(tmp_path, monkeypatch):
    """--swa: best.pt holds the mean of the weights at the end of each epoch (BatchNorm statistics recomputed for
    it), at a constant learning rate after the warm-up; without --init it is refused."""
    import torch
    from torch.optim.swa_utils import AveragedModel

    from viewer.training.data import TrainingDataError, list_samples, read_sample
    from viewer.training.train import train

    root = require_data("brain_mri")
    samples = [s for s in list_samples("brain_mri", root) if s.group < "TCGA_DU_5853"][::4]
    ds = write_nnunet(tmp_path / "Dataset001_Brain", [(s.key[:-4], *read_sample(s), s.group) for s in samples[:16]])
    kw = dict(data_dir=ds, batch=4, threads=2, progress=False)
    train("brain_mri", tmp_path / "start", max_steps=2, **kw)
    with pytest.raises(TrainingDataError, match="--init"):
        train("brain_mri", tmp_path / "bad", swa=True, epochs=2, **kw)
    seen = []
    real = AveragedModel.update_parameters

    def record(self, model):
        seen.append({k: v.detach().clone() for k, v in model.named_parameters()})
        return real(self, model)

    monkeypatch.setattr(AveragedModel, "update_parameters", record)
    rec = train("brain_mri", tmp_path / "swa", init=tmp_path / "start", swa=True, epochs=3, lr=1e-3,
                limit=4, **kw)
    assert rec["swa_averaged_epochs"] == 3 == len(seen) and rec["swa_final"]
    cfg = json.loads((tmp_path / "swa" / "config.json").read_text())
    assert cfg["swa"] is True and cfg["lr"] == 1e-3
    state = torch.load(tmp_path / "swa" / "best.pt", weights_only=False)["model"]
    name = next(k for k in seen[0] if k.endswith("weight") and seen[0][k].ndim == 4)
    mean = sum(s[name] for s in seen) / 3
    assert torch.allclose(state[name], mean, atol=1e-6) and not torch.allclose(state[name], seen[-1][name])
    bn = next(k for k in state if k.endswith("running_var"))
    assert torch.all(state[bn] > 0)
