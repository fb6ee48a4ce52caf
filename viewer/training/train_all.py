"""Retrain every shipped model from ../shared/data with fixed seeds and package each as an INT8 plugin.

    python -m viewer.training.train_all --runs runs --plugins plugins [--data ../shared/data] [--threads 2]

Order: router, brain_mri, polyp, nuclei.  Resumable: each task trains into ``RUNS/<task>`` (``last.pt`` is resumed),
and a task whose plugin is newer than its ``best.pt`` is not quantized again.  A recipe with ``"ensemble": n``
(polyp) also trains seeds ``seed+1 .. seed+n-1`` on the same split into ``RUNS/<task>_seed<k>`` and packages the n
networks as one ensemble model.  A failing task is reported and the
others still run.  Same as ``medroute train --task all``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from pathlib import Path

ORDER = ("router", "brain_mri", "polyp", "nuclei")


def run_all(runs: Path, plugins: Path, data_root: Path | None = None, seed: int = 0, threads: int | None = 2,
            device: str = "auto", tasks=ORDER, epochs: dict | None = None) -> dict:
    from .quantize import quantize
    from .tasks import TASKS
    from .train import train

    results = {}
    for task in tasks:
        t0 = time.time()
        pdir = Path(plugins) / task
        n = int(TASKS[task].get("ensemble", 1))
        tdirs = [Path(runs) / (task if k == 0 else f"{task}_seed{seed + k}") for k in range(n)]
        data_dir = None if data_root is None else (Path(data_root) if task == "router" else Path(data_root) / task)
        try:
            for k, tdir in enumerate(tdirs):
                done = tdir / "done.json"
                if not done.is_file():
                    train(task, tdir, data_dir=data_dir, device=device, seed=seed + k, split_seed=seed,
                          threads=threads, epochs=(epochs or {}).get(task))
                    done.write_text(json.dumps({"finished": time.time()}))
            newest = max((t / "best.pt").stat().st_mtime for t in tdirs)
            if not (pdir / "metrics.json").is_file() or (pdir / "metrics.json").stat().st_mtime < newest:
                m = quantize(tdirs if n > 1 else tdirs[0], pdir, data_dir=data_dir)
            else:
                m = json.loads((pdir / "metrics.json").read_text())
            results[task] = {"primary_fp32": m.get("primary_fp32"), "primary_int8": m.get("primary_int8"),
                             "meets_target": m.get("meets_target"), "latency_ms_int8": m["latency_ms_median"]["int8"],
                             "minutes": round((time.time() - t0) / 60, 1)}
        except Exception as e:  # keep going: one bad task must not lose the others
            traceback.print_exc()
            results[task] = {"error": f"{type(e).__name__}: {e}"}
        print(f"== {task}: {json.dumps(results[task])}", flush=True)
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
