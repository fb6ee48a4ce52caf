"""TRAIN_DIR -> plugin folder: FP32 OpenVINO IR (kept in TRAIN_DIR), NNCF post-training INT8 IR (the plugin),
FP32-vs-INT8 test metrics on the original image grid, OpenVINO latency, plugin.toml, metrics.json, MODEL_CARD.md."""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import numpy as np

from ..inference.postprocess import apply as apply_postprocess
from ..inference.preprocess import preprocess, restore_mask, softmax
from . import data as D
from .data import TrainingDataError
from .manifest import write_model_card, write_plugin_toml
from .tasks import TASKS

VERSION = "1.0.0"


from ..io._common import sha256_file as sha256  # noqa: E402


def _load(train_dir: Path):
    import torch

    from .model import build_model

    cfg_path = train_dir / "config.json"
    ck_path = train_dir / "best.pt"  # the packaged checkpoint (the final epoch with the recipes' select = "last")
    if not cfg_path.is_file() or not ck_path.is_file():
        raise TrainingDataError(f"{train_dir} is not a finished training folder (config.json and best.pt are "
                                f"needed); run `medroute train --out {train_dir}` first.", train_dir)
    rec = json.loads(cfg_path.read_text())
    rec["train_dir"] = str(train_dir)
    # inference-time clean-up is the recipe's current choice (it does not change the training)
    rec.setdefault("postprocess", TASKS.get(rec.get("task"), {}).get("postprocess", {}))
    rec.setdefault("tta", TASKS.get(rec.get("task"), {}).get("tta"))  # test-time views, baked into the IR
    out_ch = len(rec["classes"]) if rec["kind"] == "router" else 1
    model = build_model(rec["architecture"], rec["input"]["channels"], out_ch, rec["widths"])
    ck = torch.load(ck_path, map_location="cpu", weights_only=False)
    model.load_state_dict(ck["model"])
    rec["best_epoch"] = int(ck.get("epoch", -1)) + 1  # epoch of the packaged checkpoint
    rec["packaged_val_score"] = float(ck.get("val_score", float("nan")))
    log = train_dir / "log.jsonl"
    vals = [json.loads(x) for x in log.read_text().splitlines()] if log.is_file() else []
    top = max(vals, key=lambda r: r.get("val_score", -1)) if vals else {}
    rec["best_val_score"] = top.get("val_score")
    rec["best_val_epoch"] = top.get("epoch")
    rec["final_val_score"] = vals[-1]["val_score"] if vals else None
    return rec, model.eval()


# what must agree between the members of an ensemble (they are run on one input and scored on one test split)
_ENSEMBLE_SAME = ("task", "kind", "architecture", "widths", "input", "split", "train_parts", "threshold")


def _load_members(train_dir):
    """One TRAIN_DIR -> (rec, model); several -> (rec of the first, ``Ensemble``) after checking that they were
    trained for the same task, input contract and split.  The FP32 IR of an ensemble goes to
    ``<first TRAIN_DIR>/fp32_ensemble``."""
    if not isinstance(train_dir, list):
        return _load(train_dir)
    from .model import Ensemble

    loaded = [_load(Path(d)) for d in train_dir]
    rec = loaded[0][0]
    for d, (r, _) in zip(train_dir[1:], loaded[1:]):
        diff = [k for k in _ENSEMBLE_SAME if r.get(k) != rec.get(k)]
        if diff:
            raise TrainingDataError(f"{d} cannot join an ensemble with {train_dir[0]}: they differ in "
                                    f"{', '.join(diff)} (members must be the same task, network and split).", d)
    rec = dict(rec, members=[{"train_dir": r["train_dir"], "seed": r.get("seed", 0), "epoch": r["best_epoch"],
                              "final_val_score": r["final_val_score"]} for r, _ in loaded])
    rec["fp32_dir"] = "fp32_ensemble"
    return rec, Ensemble([m for _, m in loaded]).eval()


def export_fp32(model, rec: dict, train_dir: Path):
    import openvino as ov
    import torch

    h, w = rec["input"]["size"]
    shape = [1, rec["input"]["channels"], h, w]
    with torch.no_grad():
        ovm = ov.convert_model(model, example_input=torch.zeros(shape), input=[shape])
    fp32 = train_dir / rec.get("fp32_dir", "fp32") / "model.xml"
    fp32.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(ovm, fp32, compress_to_fp16=False)
    return ovm, fp32


def compile_model(model_or_path, fp32: bool):
    import openvino as ov

    core = ov.Core()
    cfg = {"PERFORMANCE_HINT": "LATENCY"}
    if fp32:
        cfg["INFERENCE_PRECISION_HINT"] = "f32"  # CPU "FP32" would otherwise run bf16 on AMX/AVX512-BF16
    return core.compile_model(model_or_path, "CPU", cfg)


def compile_in_memory(xml_path, fp32: bool = False):
    """Compile an IR whose files are about to be overwritten (the installed plugin that a new version replaces in
    the same folder): OpenVINO memory-maps model.bin, so the old network would otherwise run on the new weights."""
    import openvino as ov

    xml_path = Path(xml_path)
    weights = np.fromfile(xml_path.with_suffix(".bin"), dtype=np.uint8)
    model = ov.Core().read_model(model=xml_path.read_bytes(), weights=ov.Tensor(weights))
    return compile_model(model, fp32)


def latency_ms(compiled, shape, n: int = 200) -> float:
    req = compiled.create_infer_request()
    x = np.random.default_rng(0).random(shape, dtype=np.float32)
    for _ in range(10):
        req.infer({0: x})
    t = []
    for _ in range(n):
        t0 = time.perf_counter()
        req.infer({0: x})
        t.append(time.perf_counter() - t0)
    return round(float(np.median(t)) * 1000, 3)


def _infer(compiled, x: np.ndarray) -> np.ndarray:
    return np.asarray(compiled({0: x})[0])


THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def eval_rows(compiled, rec: dict, samples, threshold: float | None = None) -> list:
    """(key, group, tp/fp/fn counts) per test image, for :func:`metrics.summarise` and paired comparisons."""
    from .metrics import counts

    thr = rec.get("threshold", 0.5) if threshold is None else threshold
    rows = []
    for s in samples:
        img, mask = D.read_sample(s)
        x, info = preprocess(img, rec["input"])
        pred = apply_postprocess(restore_mask(_infer(compiled, x), info, "sigmoid", thr, rec["input"]["resize"]),
                                 rec.get("postprocess"))
        rows.append((s.key, s.group, counts(pred, mask)))
    return rows


def eval_segmentation(compiled, rec: dict, samples, threshold: float | None = None) -> dict:
    from .metrics import summarise

    return summarise(eval_rows(compiled, rec, samples, threshold))


def choose_threshold(compiled, rec: dict, samples) -> tuple[float, dict]:
    """The sigmoid threshold (of THRESHOLDS) with the best primary Dice on the validation split (ties -> 0.5)."""
    from .metrics import counts, summarise

    rows = {t: [] for t in THRESHOLDS}
    for s in samples:
        img, mask = D.read_sample(s)
        x, info = preprocess(img, rec["input"])
        y = _infer(compiled, x)
        for t in THRESHOLDS:
            pred = apply_postprocess(restore_mask(y, info, "sigmoid", t, rec["input"]["resize"]), rec.get("postprocess"))
            rows[t].append((s.key, s.group, counts(pred, mask)))
    key = "per_group" if rec["primary"] == "dice_per_group" else "per_image"
    scores = {t: round(summarise(r)[key]["dice"], 4) for t, r in rows.items()}
    best = max(THRESHOLDS, key=lambda t: (scores[t], -abs(t - 0.5)))
    return best, {str(t): v for t, v in scores.items()}


def threshold_from_held_out_run(plugin_dir, rec: dict) -> dict:
    """The output threshold that a ``--hold-out-val`` run of the same recipe chose on the validation split it never
    learned from (its plugin folder, as ``medroute quantize`` wrote it), for a final fit that did learn from
    validation and so cannot choose one itself.  Refused unless that run used the same task, network, input, split,
    schedule and post-processing."""
    import tomllib

    from .model import tta_key

    d = Path(plugin_dir)
    try:
        toml = tomllib.loads((d / "plugin.toml").read_text())
        m = json.loads((d / "metrics.json").read_text())
    except (OSError, ValueError) as e:
        raise TrainingDataError(f"{d}: not a plugin folder written by 'medroute quantize' ({e}).", d) from None
    tr = toml.get("training") or {}
    want = {"id": rec["task"], "architecture": rec["architecture"], "widths": rec["widths"],
            "pretrained": rec.get("pretrained"), "split_seed": rec.get("split_seed", rec.get("seed", 0)),
            "epochs": rec["epochs"], "batch": rec["batch"], "lr": rec["lr"], "input size": list(rec["input"]["size"]),
            "post-processing": dict(rec.get("postprocess") or {}), "test-time views": tta_key(rec.get("tta")),
            "weight averaging": bool(rec.get("swa"))}
    have = {"id": toml.get("plugin", {}).get("id"), **{k: tr.get(k) for k in
            ("architecture", "widths", "pretrained", "split_seed", "epochs", "batch", "lr")},
            "input size": list(toml.get("input", {}).get("size", [])), "post-processing": toml.get("postprocess", {}),
            "test-time views": tta_key(toml.get("output", {}).get("tta")), "weight averaging": bool(tr.get("swa"))}
    diff = [k for k in want if want[k] != have[k]]
    if diff:
        raise TrainingDataError(f"{d}: its model was not trained with this recipe ({', '.join(diff)} differ), so its "
                                "validation threshold does not carry over.", d)
    if "val" in m.get("train_parts", ["train", "val"]) or not m.get("threshold_val_dice"):
        raise TrainingDataError(f"{d}: its model learned from the validation split (train it with --hold-out-val), "
                                "so it chose no threshold there.", d)
    return {"threshold": float(m["threshold"]), "threshold_val_dice": m["threshold_val_dice"],
            "threshold_source": {"plugin": str(d), "version": toml["plugin"].get("version"), "seed": tr.get("seed"),
                                 "train_parts": m["train_parts"], "test_dice_int8": m.get("primary_int8")}}


def is_new_design(base, rec: dict) -> bool:
    """Whether a model replacing the installed plugin ``base`` is a new network design (a minor version step rather
    than a patch): another architecture, input size, set of test-time views or number of ensemble members."""
    from .model import tta_key

    tr = base.raw.get("training") or {}
    return (tr.get("architecture", rec["architecture"]) != rec["architecture"]
            or list(base.input.size) != list(rec["input"]["size"])
            or tta_key(base.raw.get("output", {}).get("tta")) != tta_key(rec.get("tta"))
            or len(tr.get("ensemble_seeds") or [0]) != len(rec.get("members") or [0]))


def quantize(train_dir, out_dir, data_dir=None, calibration: int = 200, latency_runs: int = 200,
             progress=print, compare: bool = False, threshold_from=None, tta=None) -> dict:
    """``compare``: measure the version the registry uses now (or the --init plugin) on the same test cases,
    record it in ``metrics.json["comparison"]`` and bump the version past it (what ``medroute quantize`` does).
    ``threshold_from``: where the final fit learned from validation, take the output threshold chosen on it by a
    held-out run of the same recipe (:func:`threshold_from_held_out_run`).
    ``tta``: test-time views built into the IR (:class:`viewer.training.model.FlipTTA`), overriding the recipe's
    ``tta``; [] for one plain pass."""
    import nncf
    import openvino as ov

    dirs = [Path(d) for d in train_dir] if isinstance(train_dir, (list, tuple)) else [Path(train_dir)]
    train_dir, out_dir = (dirs[0] if len(dirs) == 1 else dirs), Path(out_dir)
    cfg = dirs[0] / "config.json"
    first = json.loads(cfg.read_text()) if cfg.is_file() else {}
    if len(dirs) > 1 and (first.get("kind") != "segmentation" or first.get("task") == "hippocampus"):
        raise TrainingDataError("Only the 2-D single-label segmentation models (brain_mri, polyp, nuclei) can be "
                                "packaged as an ensemble of several TRAIN_DIRs.", dirs[0])
    if first.get("task") == "hippocampus":  # 3-class, per-case 3D metrics
        from .hippocampus import quantize as quantize_volumes

        return quantize_volumes(train_dir, out_dir, data_dir, calibration, latency_runs, progress)
    rec, model = _load_members(train_dir)
    if tta is not None:
        rec["tta"] = list(tta) or None
    train_dir = Path(rec["train_dir"])
    task = rec["task"]
    data_dir = data_dir or rec.get("data_dir")
    if rec.get("tta") and rec["kind"] == "segmentation":
        from .model import FlipTTA

        ovm, fp32_path = export_fp32(FlipTTA(model, rec["tta"], rec["input"]["size"]).eval(), rec, train_dir)
        progress(f"{task}: test-time views {', '.join(rec['tta'])} in the graph (probabilities averaged)")
    else:
        rec["tta"] = None
        ovm, fp32_path = export_fp32(model, rec, train_dir)
    progress(f"{task}: FP32 IR written to {fp32_path}")
    h, w = rec["input"]["size"]
    shape = (1, rec["input"]["channels"], h, w)
    rng = np.random.default_rng(rec.get("seed", 0))

    if rec["kind"] == "router":
        z = np.load(train_dir / "router_data.npz", allow_pickle=False)
        calib_x = z["X_train"][rng.choice(len(z["X_train"]), min(calibration, len(z["X_train"])), replace=False)]
        calib = [x[None] for x in calib_x]
    else:
        samples = D.list_samples(task, data_dir)
        train = D.select(samples, rec["split"], "train")[: rec.get("limit") or None]
        pick = rng.choice(len(train), min(calibration, len(train)), replace=False)
        calib = [preprocess(D.read_sample(train[i])[0], rec["input"])[0] for i in sorted(pick)]
    # full bias correction (not the fast one): on the polyp model it raised the label-free INT8-vs-FP32 agreement
    # on non-test images from Dice 0.986 to 0.996 (min 0.92 -> 0.98) for ~10 s more (benchmarks/int8_agreement.py)
    q = nncf.quantize(ovm, nncf.Dataset(calib), subset_size=len(calib), preset=nncf.QuantizationPreset.MIXED,
                      fast_bias_correction=False)
    from .finetune import baseline_plugin, next_version, save_init_weights

    base = baseline_plugin(rec, out_dir) if compare and rec["kind"] != "router" else None
    c_base = compile_in_memory(base.model_xml) if base is not None else None  # out_dir may be overwritten next
    versions = [v for v in (base.version if base else None, (rec.get("init") or {}).get("version")) if v]
    new_design = base is not None and is_new_design(base, rec)
    version = next_version(max(versions, key=_vkey), new_design) if versions else VERSION
    out_dir.mkdir(parents=True, exist_ok=True)
    # fine-tuning (--init <plugin>) starts from one network: an ensemble's first member
    save_init_weights(model.members[0] if rec.get("members") else model, out_dir)
    xml = out_dir / "model.xml"
    ov.save_model(q, xml, compress_to_fp16=False)
    progress(f"{task}: INT8 IR written to {xml}")

    c32, c8 = compile_model(fp32_path, True), compile_model(xml, False)
    metrics: dict = {
        "task": task, "version": version, "seed": rec.get("seed", 0), "split": rec["split"],
        "split_unit": TASKS_SPLIT.get(task, ""),
        "packaged_checkpoint": "best.pt" + (" (= the final epoch)" if rec.get("select") == "last" else " (best validation)"),
        "packaged_epoch": rec["best_epoch"], "packaged_val_score": rec["packaged_val_score"],
        "epochs": rec["epochs"], "final_val_score": rec["final_val_score"],
        "best_val_score": rec["best_val_score"], "best_val_epoch": rec["best_val_epoch"], "best_epoch": rec["best_epoch"],
        "calibration_images": len(calib), "input_size": [h, w], "members": rec.get("members"), "tta": rec.get("tta"),
        "fp32_ir": str(fp32_path),
        "machine": {"cpu": platform.processor() or platform.machine(), "openvino": ov.get_version()},
    }
    if rec["kind"] == "router":
        from .router_eval import evaluate_router_plugin

        metrics.update(evaluate_router_plugin(c32, c8, z, rec))
    else:
        test = D.select(samples, rec["split"], "test")[: rec.get("limit") or None]
        val = D.select(samples, rec["split"], "val")[: rec.get("limit") or None]
        if threshold_from is not None:
            if "val" not in rec.get("train_parts", ["train"]):
                raise TrainingDataError("This model did not learn from the validation split: it chooses its own "
                                        "threshold there (leave out --threshold-from).", train_dir)
            held = threshold_from_held_out_run(threshold_from, rec)
            rec["threshold"] = held["threshold"]
            metrics.update(threshold_val_dice=held["threshold_val_dice"], threshold_source=held["threshold_source"])
            progress(f"{task}: output threshold {rec['threshold']}, chosen on the validation split by the held-out "
                     f"run {threshold_from} {held['threshold_val_dice']}")
        elif "val" in rec.get("train_parts", ["train"]):  # val was learned from: it cannot choose anything honestly
            rec["threshold"], metrics["threshold_val_dice"] = 0.5, None
            progress(f"{task}: output threshold 0.5 (the validation split was part of the final training)")
        else:
            rec["threshold"], metrics["threshold_val_dice"] = choose_threshold(c8, rec, val)
            progress(f"{task}: output threshold {rec['threshold']} chosen on the validation split "
                     f"{metrics['threshold_val_dice']}")
        metrics["threshold"] = rec["threshold"]
        metrics["train_parts"] = rec.get("train_parts", ["train"])
        from .metrics import paired_difference_ci, summarise

        r32 = eval_rows(c32, rec, test)
        m32 = summarise(r32)
        progress(f"{task}: FP32 test {m32['per_image']['dice']:.4f} (per image) {m32['per_group']['dice']:.4f} (per group)")
        r8 = eval_rows(c8, rec, test)
        m8 = summarise(r8)
        progress(f"{task}: INT8 test {m8['per_image']['dice']:.4f} (per image) {m8['per_group']['dice']:.4f} (per group)")
        key = "per_group" if rec["primary"] == "dice_per_group" else "per_image"
        metrics.update({
            "primary_metric": f"dice {key.replace('_', ' ')}" + (" (each patient's slices pooled)" if key == "per_group" else ""),
            "target": rec["target"], "test_fp32": m32, "test_int8": m8,
            "primary_fp32": round(m32[key]["dice"], 4), "primary_int8": round(m8[key]["dice"], 4),
            "int8_minus_fp32": {k: round(m8[key][k] - m32[key][k], 4) for k in m32[key]},
            "int8_minus_fp32_dice_ci95": (paired_difference_ci(r8, r32) or {}).get(key),
        })
        metrics["meets_target"] = bool(m8[key]["dice"] >= rec["target"] and m32[key]["dice"] >= rec["target"])
        metrics["int8_within_0.01"] = bool(all(abs(v) <= 0.01 for v in metrics["int8_minus_fp32"].values()))
        from .finetune import eval_set_sha256

        metrics["eval_set_sha256"] = eval_set_sha256(test)
        metrics["init"] = rec.get("init")
        if c_base is not None:
            # the installed version with its own input contract, threshold and post-processing
            base_rec = dict(rec, input=dict(base.raw["input"]), threshold=base.threshold,
                            postprocess=dict(base.postprocess))
            rb = eval_rows(c_base, base_rec, test)
            mb = summarise(rb)
            metrics["comparison"] = {
                "baseline_id": base.id, "baseline_version": base.version, "baseline_sha256": base.sha256,
                "metric": metrics["primary_metric"] + " (INT8)", "n_cases": len(test),
                "eval_set_sha256": metrics["eval_set_sha256"], "primary_baseline": round(mb[key]["dice"], 4),
                "primary_new": metrics["primary_int8"],
                "delta": round(metrics["primary_int8"] - mb[key]["dice"], 4),
                "delta_ci95": (paired_difference_ci(r8, rb) or {}).get(key),
                "better_or_equal": bool(metrics["primary_int8"] >= round(mb[key]["dice"], 4))}
            progress(f"{task}: {version} INT8 {metrics['primary_int8']:.4f} vs installed {base.version} "
                     f"{mb[key]['dice']:.4f} on the same {len(test)} test cases")
    metrics["latency_ms_median"] = {
        "int8": latency_ms(c8, shape, latency_runs), "fp32": latency_ms(c32, shape, latency_runs),
        "input_shape": list(shape), "hint": "LATENCY", "fp32_precision_hint": "f32",
    }
    metrics["latency_ms_median"]["int8_end_to_end_256"] = end_to_end_ms(c8, rec, latency_runs // 4)
    write_plugin_toml(out_dir, rec, sha256(out_dir / "model.bin"), sha256(xml), version, metrics)
    example = task_example_image(task, rec["split"], data_dir) if rec["kind"] == "segmentation" else None
    if example is not None:  # the whole per-slice path of the viewer on a real test image of the task
        metrics["latency_ms_median"].update(viewer_slice_ms(out_dir, example, latency_runs // 4))
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=1))
    write_model_card(out_dir, rec, metrics)
    progress(f"{task}: plugin written to {out_dir}; INT8 latency {metrics['latency_ms_median']['int8']} ms")
    return metrics


def _vkey(v: str) -> tuple:
    from ..inference.registry import _version_key

    return _version_key(v)


TASKS_SPLIT = {"brain_mri": "patient", "polyp": "video sequence", "nuclei": "image", "router": "source unit"}


def task_example_image(task: str, split: dict, data_dir=None) -> np.ndarray | None:
    """The first test image of a 2-D task as the viewer gets it (``open_study``, first slice), or None (no data)."""
    from ..io import open_study

    try:
        samples = D.list_samples(task, data_dir)
    except Exception:  # noqa: BLE001 - no data here: nothing to time
        return None
    test = D.select(samples, split, "test")
    return open_study(test[0].image).voxels[0] if test else None


def viewer_slice_ms(plugin_dir, image: np.ndarray, n: int = 50) -> dict:
    """Median time of the viewer's own per-slice path (``pipeline.segment_slice``: preprocess, INT8 inference,
    post-processing, restore to the image's size) on ``image``, e.g. a real 384x288 colour frame for polyp."""
    from ..inference.engine import Engine
    from ..inference.manifest import load_manifest
    from ..inference.pipeline import segment_slice

    plugin, engine = load_manifest(plugin_dir, verify=False), Engine("CPU")
    for _ in range(5):
        segment_slice(image, plugin, engine)
    t = []
    for _ in range(max(5, n)):
        t0 = time.perf_counter()
        segment_slice(image, plugin, engine)
        t.append(time.perf_counter() - t0)
    return {"int8_end_to_end_task": round(float(np.median(t)) * 1000, 3), "end_to_end_task_input": list(image.shape)}


def end_to_end_ms(compiled, rec: dict, n: int = 50) -> float:
    """Median of preprocess + infer + restore for one 256x256 grey slice (what the viewer does per slice)."""
    img = (np.random.default_rng(1).random((256, 256)) * 4000).astype(np.int16)
    t = []
    for _ in range(max(5, n)):
        t0 = time.perf_counter()
        x, info = preprocess(img, rec["input"])
        y = _infer(compiled, x)
        if rec["kind"] == "router":
            softmax(y)
        else:
            restore_mask(y, info)
        t.append(time.perf_counter() - t0)
    return round(float(np.median(t)) * 1000, 3)
