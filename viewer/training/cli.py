"""``medroute train`` and ``medroute quantize``.  Registers its parsers without importing torch."""

from __future__ import annotations

from pathlib import Path

from ..errors import MedRouteError

TASK_CHOICES = ("brain_mri", "nuclei", "polyp", "hippocampus", "router", "all")


class TrainingUnavailableError(MedRouteError):
    """The optional training extra is not installed."""


def _need_torch() -> None:
    try:
        import torch  # noqa: F401
    except ImportError as e:
        raise TrainingUnavailableError(
            "Training needs the optional training packages (PyTorch, NNCF, OpenVINO); install them with "
            "`pip install medroute-viewer[train]`.") from e


def _cmd_train(args) -> int:
    _need_torch()
    if args.task == "all":
        from .train_all import run_all

        res = run_all(Path(args.out), Path(args.plugins), args.data, args.seed, args.threads, args.device)
        return 0 if all("error" not in r for r in res.values()) else 2
    if args.task == "hippocampus":  # 3D volumes, slice-wise, 3-class softmax (viewer/training/hippocampus.py)
        from .hippocampus import train as train_volumes

        def train(_task, *a, **k):
            return train_volumes(*a, **k)
    else:
        from .train import train

    data = args.data
    if getattr(args, "mix_original", False):  # corrected labels + the task's original training data
        import os

        from .data import DEFAULT_DATA_ROOT

        data = os.pathsep.join([str(args.data or DEFAULT_DATA_ROOT / args.task), str(DEFAULT_DATA_ROOT / args.task)])
    rec = train(args.task, args.out, data_dir=data, device=args.device, epochs=args.epochs, init=args.init,
                seed=args.seed, split_seed=args.split_seed, threads=args.threads, max_steps=args.max_steps,
                limit=args.limit, batch=args.batch, lr=args.lr,
                **({"hold_out_val": True} if args.hold_out_val else {}), **({"swa": True} if args.swa else {}))
    if rec:
        print(f"trained {args.task} into {args.out}: epoch {rec.get('epoch')}, validation {rec.get('val_score')}")
    return 0


def _tta_views(text: str | None) -> list[str] | None:
    """``--tta``: None (the recipe's), [] for 'none', else the checked views."""
    if text is None:
        return None
    views = [v.strip() for v in text.split(",") if v.strip()]
    if views == ["none"]:
        return []
    from .data import TrainingDataError
    from .model import parse_tta_view

    for v in views:
        try:
            parse_tta_view(v)
        except ValueError as e:
            raise TrainingDataError(f"--tta: {e}.") from None
    return views


def _cmd_quantize(args) -> int:
    _need_torch()
    from .quantize import quantize

    m = quantize(args.train_dir if len(args.train_dir) > 1 else args.train_dir[0], args.out, data_dir=args.data, calibration=args.calibration,
                 compare=not args.no_compare, threshold_from=args.threshold_from,
                 tta=_tta_views(args.tta))
    print(f"INT8 plugin {m.get('version')} written to {args.out}: primary FP32 {m.get('primary_fp32')}, INT8 "
          f"{m.get('primary_int8')}, INT8 latency {m['latency_ms_median']['int8']} ms")
    c = m.get("comparison")
    if c:
        print(f"compared with {c['baseline_id']} {c['baseline_version']} on the same {c['n_cases']} test cases: "
              f"{c['primary_new']} vs {c['primary_baseline']} ({'better or equal' if c['better_or_equal'] else 'WORSE'})")
    return 0


def add_parsers(subparsers) -> None:
    pt = subparsers.add_parser("train", help="train a task model or the router (CPU, CUDA, Gaudi HPU)")
    pt.add_argument("--task", required=True, choices=TASK_CHOICES)
    pt.add_argument("--data", help="data folder: a shared-data task folder or an nnU-Net v2 DatasetNNN_Name "
                                   "(default ../shared/data/<task>; for the router and 'all' the shared-data root)")
    pt.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "hpu"))
    pt.add_argument("--epochs", type=int, help="number of epochs (default: the task's recipe)")
    pt.add_argument("--init", help="fine-tune from: a plugin id or plugin folder (its init_weights.npz: the FP32 "
                                   "weights stored as float16), a TRAIN_DIR (its best.pt) or a checkpoint file")
    pt.add_argument("--mix-original", action="store_true",
                    help="train on --data plus the task's original training data (../shared/data/<task>)")
    pt.add_argument("--out", required=True, help="TRAIN_DIR for checkpoints, logs and the FP32 model "
                                                 "(for --task all: the folder holding one TRAIN_DIR per task)")
    pt.add_argument("--plugins", default="plugins", help="--task all only: where the INT8 plugins are written")
    pt.add_argument("--seed", type=int, default=0)
    pt.add_argument("--split-seed", type=int, default=None,
                    help="seed of the train/val/test split (default: --seed); keep it fixed to train several seeds "
                         "on one split")
    pt.add_argument("--threads", type=int, help="torch CPU threads")
    pt.add_argument("--hold-out-val", action="store_true",
                    help="learn from the train split only, also where the recipe's final fit adds the validation "
                         "split: validation stays unseen, and quantize chooses the output threshold on it")
    pt.add_argument("--batch", type=int, help="batch size (default: the recipe's)")
    pt.add_argument("--lr", type=float, help="peak learning rate (default: the recipe's)")
    pt.add_argument("--swa", action="store_true",
                    help="with --init: stochastic weight averaging over a short fine-tune (constant learning rate, "
                         "weights averaged every epoch, BatchNorm statistics recomputed); best.pt holds the average")
    pt.add_argument("--max-steps", type=int, help="stop after this many optimizer steps (smoke tests)")
    pt.add_argument("--limit", type=int, help="use at most this many images per split (smoke tests)")
    pt.set_defaults(func=_cmd_train)

    pq = subparsers.add_parser("quantize", help="TRAIN_DIR -> INT8 OpenVINO plugin folder with metrics")
    pq.add_argument("train_dir", nargs="+",
                    help="TRAIN_DIR; several TRAIN_DIRs of one task and split (different --seed) are packaged as "
                         "one ensemble model (the mean of their logits)")
    pq.add_argument("--out", required=True, help="plugin folder to write (plugin.toml, model.xml/.bin, ...)")
    pq.add_argument("--data", help="data folder for calibration and the test metrics (default: as trained)")
    pq.add_argument("--calibration", type=int, default=200, help="calibration images (default 200)")
    pq.add_argument("--threshold-from", metavar="PLUGIN_DIR",
                    help="for a final fit that learned from the validation split: take the output threshold that a "
                         "--hold-out-val run of the same recipe chose on it (that run's quantized plugin folder)")
    pq.add_argument("--tta", metavar="VIEWS",
                    help="test-time views built into the INT8 model, comma-separated: identity, flip_rows, flip_cols, "
                         "rot180, each optionally @HxW (a lower resolution), e.g. identity,flip_rows@160x224; 'none' "
                         "for one plain pass (default: the recipe's 'tta', none for every shipped model)")
    pq.add_argument("--no-compare", action="store_true",
                    help="do not measure the installed version on the same test cases (and do not bump past it)")
    pq.set_defaults(func=_cmd_quantize)
