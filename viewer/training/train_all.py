"""Retrain every shipped model from ../shared/data with fixed seeds and package each as an INT8 plugin.

    python -m viewer.training.train_all --runs runs --plugins plugins [--data ../shared/data] [--threads 2]

Order: router (4 classes), brain_mri, polyp, nuclei, hippocampus, then the router learns the hippocampus class
(``router_add``; the 5-class router is the one shipped in ``plugins/router``; the 4-class one is packaged into
``RUNS/router/plugin``).  Resumable: each task trains into ``RUNS/<task>`` (``last.pt`` is resumed),
and a task whose plugin is newer than its ``best.pt`` is not quantized again.  A recipe with ``"ensemble": n``
also trains seeds ``seed+1 .. seed+n-1`` on the same split into ``RUNS/<task>_seed<k>`` and packages the n
networks as one ensemble model.  A recipe with ``"threshold_from_held_out_run": True`` (its final fit learns from
the validation split) also trains ``RUNS/<task>_holdout`` with ``hold_out_val`` (validation unseen), packages it
into ``RUNS/<task>_holdout/plugin/`` (where the output threshold is chosen on validation) and hands that threshold
to the final plugin (``quantize --threshold-from``).  A run folder from an older recipe (other architecture,
widths or input) is refused, not resumed.  A failing task is reported and the others still run.  Same as ``medroute train --task all``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from pathlib import Path

ORDER = ("router", "brain_mri", "polyp", "nuclei", "hippocampus", "router+hippocampus")
# the last step teaches the finished 4-class router the hippocampus class (viewer/training/router_add.py) and
# replaces plugins/router with the 5-class router that is shipped
ROUTER_ADD = {"task": "hippocampus", "match": "hippocampus_", "epochs": 12}


def _stale(pdir: Path, tdirs) -> bool:
    newest = max((t / "best.pt").stat().st_mtime for t in tdirs)
    return not (pdir / "metrics.json").is_file() or (pdir / "metrics.json").stat().st_mtime < newest


def _train_dirs(step: str, runs: Path, seed: int) -> list[Path]:
    from .tasks import TASKS

    if step == "router+hippocampus":
        return [runs / "router_hippocampus"]
    n = int(TASKS[step].get("ensemble", 1))
    return [runs / (step if k == 0 else f"{step}_seed{seed + k}") for k in range(n)]


def _check_recipe(step: str, tdir: Path) -> None:
    from .tasks import TASKS
    from .train import check_run_folder

    if step in TASKS:
        check_run_folder(tdir, TASKS[step])


def run_all(runs: Path, plugins: Path, data_root: Path | None = None, seed: int = 0, threads: int | None = 2,
            device: str = "auto", tasks=ORDER, epochs: dict | None = None) -> dict:
    from . import hippocampus, router_add
    from .quantize import quantize
    from .tasks import TASKS
    from .train import train

    results = {}
    runs = Path(runs)
    for step in tasks:
        t0 = time.time()
        task = "router" if step == "router+hippocampus" else step
        tdirs = _train_dirs(step, runs, seed)
        pdir = Path(plugins) / task
        if step == "router" and "router+hippocampus" in tasks:
            pdir = tdirs[0] / "plugin"  # the 4-class base router: the last step ships the 5-class one
        if data_root is None:
            data_dir = None
        elif task == "hippocampus":
            data_dir = Path(data_root) / "nifti" / "msd_task04_hippocampus"
        else:
            data_dir = Path(data_root) if task == "router" else Path(data_root) / task
        try:
            for k, tdir in enumerate(tdirs):
                _check_recipe(step, tdir)
                done = tdir / "done.json"
                if done.is_file():
                    continue
                ep = (epochs or {}).get(step)
                if step == "router+hippocampus":
                    router_add.train(runs / "router", tdir, plugins=plugins, seed=seed, threads=threads,
                                     **{**ROUTER_ADD, **({"epochs": ep} if ep else {})})
                elif step == "hippocampus":
                    hippocampus.train(tdir, data_dir=data_dir, device=device, seed=seed, threads=threads, epochs=ep)
                else:
                    train(task, tdir, data_dir=data_dir, device=device, seed=seed + k, split_seed=seed,
                          threads=threads, epochs=ep)
                done.write_text(json.dumps({"finished": time.time()}))
            held, deps = None, list(tdirs)
            if step in TASKS and TASKS[step].get("threshold_from_held_out_run"):
                hdir = runs / f"{step}_holdout"
                _check_recipe(step, hdir)
                if not (hdir / "done.json").is_file():
                    train(task, hdir, data_dir=data_dir, device=device, seed=seed, split_seed=seed, threads=threads,
                          epochs=(epochs or {}).get(step), hold_out_val=True)
                    (hdir / "done.json").write_text(json.dumps({"finished": time.time()}))
                held, deps = hdir / "plugin", deps + [hdir]
                if _stale(held, [hdir]):
                    quantize(hdir, held, data_dir=data_dir)
            if _stale(pdir, deps):
                # compare: measured against the plugin it replaces, and numbered past it (as `medroute quantize`)
                m = quantize(tdirs if len(tdirs) > 1 else tdirs[0], pdir, data_dir=data_dir, compare=True,
                             **({"threshold_from": held} if held is not None else {}))
            else:
                m = json.loads((pdir / "metrics.json").read_text())
            results[step] = {"primary_fp32": m.get("primary_fp32"), "primary_int8": m.get("primary_int8"),
                             "meets_target": m.get("meets_target"), "latency_ms_int8": m["latency_ms_median"]["int8"],
                             "minutes": round((time.time() - t0) / 60, 1)}
        except Exception as e:  # keep going: one bad task must not lose the others
            traceback.print_exc()
            results[step] = {"error": f"{type(e).__name__}: {e}"}
        print(f"== {step}: {json.dumps(results[step])}", flush=True)
    return results


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", default="runs", type=Path)
    ap.add_argument("--plugins", default="plugins", type=Path)
    ap.add_argument("--data", type=Path, default=None, help="shared data root (default ../shared/data)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--tasks", nargs="+", default=list(ORDER), choices=ORDER)
    a = ap.parse_args(argv)
    res = run_all(a.runs, a.plugins, a.data, a.seed, a.threads, a.device, a.tasks)
    print(json.dumps(res, indent=1))
    return 0 if all("error" not in r for r in res.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
