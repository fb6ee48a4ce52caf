"""Running a batch: discovery -> a local pool or a Dask cluster -> progress with ETA -> report.

* Local: ``workers`` threads share one OpenVINO engine (inference releases the GIL; compiled models are reused).
* ``dask``: an address (``tcp://host:8786``) or ``local`` / ``local:N`` for a LocalCluster on this machine.  The
  studies and the output folder must be visible to the workers under the same paths (a shared file system).
Every study gives one row; a bad study is reported and skipped; the run always finishes.
"""

from __future__ import annotations

import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Callable

from ..errors import MedRouteError
from .discovery import discover, output_paths
from .report import read_previous, summary, write_report
from .runner import empty_row, process_study


class _Progress:
    """tqdm when installed (bar, rate, ETA), else a plain line per study with an ETA."""

    def __init__(self, total: int, enabled: bool = True):
        self.total, self.n, self.t0, self.bar = total, 0, time.perf_counter(), None
        self.enabled = enabled
        if enabled:
            try:
                from tqdm import tqdm

                self.bar = tqdm(total=total, unit="study", file=sys.stderr, dynamic_ncols=True)
            except ImportError:
                self.bar = None

    def update(self, row: dict) -> None:
        self.n += 1
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.set_postfix_str(f"{Path(row['path']).name[:24]} {row['status']}", refresh=False)
            self.bar.update(1)
            return
        el = time.perf_counter() - self.t0
        eta = el / self.n * (self.total - self.n)
        sys.stderr.write(f"[{self.n}/{self.total}] {row['status']:<7} {Path(row['path']).name}  ETA {eta:.0f} s\n")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _dask_client(address: str):
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError as e:
        raise MedRouteError("--dask needs dask.distributed: install the 'cluster' extra "
                            "(pip install 'medroute-viewer[cluster]').") from e
    if address.startswith("local"):
        try:
            n = int(address.split(":", 1)[1]) if ":" in address else 2
        except ValueError:
            n = 0
        if n < 1:
            raise MedRouteError(f"--dask {address}: a local cluster is written local:N with N >= 1 workers "
                                "(e.g. local:4), or give a scheduler address such as tcp://host:8786.")
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None)
        return Client(cluster), cluster
    try:
        return Client(address, timeout="20s"), None
    except (OSError, TimeoutError) as e:
        raise MedRouteError(f"Cannot reach the Dask scheduler at {address} ({e}).") from e


def remove_stale_temporaries(out_dir: Path, min_age_s: float = 600.0) -> int:
    """Delete the hidden temporary files (``.<name>.<random>.tmp<ext>``) a killed batch left in ``out_dir``; ones
    younger than ``min_age_s`` may belong to a batch still running and stay."""
    n = 0
    now = time.time()
    for t in out_dir.rglob(".*.tmp*") if out_dir.is_dir() else ():
        try:
            if t.is_file() and now - t.stat().st_mtime > min_age_s:
                t.unlink()
                n += 1
        except OSError:
            pass
    return n


def run_batch(in_dir, out_dir, task: str = "auto", device: str = "CPU", workers: int = 1, fmt: str = "nifti",
              resume: bool = False, report: str | Path | None = None, json_report: bool = False,
              dask: str | None = None, progress: bool = True, plugin_dirs: tuple[str, ...] = (),
              on_row: Callable[[dict], None] | None = None) -> tuple[list[dict], list[Path]]:
    """Process every study under ``in_dir``; returns (rows in discovery order, report files written)."""
    # absolute paths: Dask workers (and the report) must not depend on the directory this was started in
    in_dir, out_dir = Path(in_dir).expanduser().resolve(), Path(out_dir).expanduser().resolve()
    report = Path(report).expanduser().resolve() if report else out_dir / "report.csv"
    items = discover(in_dir, exclude=[out_dir])
    remove_stale_temporaries(out_dir)
    outs = output_paths(items, out_dir, fmt)
    previous = read_previous(report) if resume else {}
    args = [(it.path, str(outs[it.path]), task, device, resume, tuple(plugin_dirs), previous.get(it.path))
            for it in items]
    rows: dict[str, dict] = {}
    bar = _Progress(len(items), progress)
    t0 = time.perf_counter()

    def collect(row: dict) -> None:
        rows[row["path"]] = row
        bar.update(row)
        if on_row:
            on_row(row)

    try:
        if dask:
            client, cluster = _dask_client(dask)
            try:
                from dask.distributed import as_completed as dask_completed

                futs = {client.submit(process_study, *a, pure=False): a for a in args}
                for f in dask_completed(futs):
                    a = futs[f]
                    try:
                        collect(f.result())
                    except Exception as e:  # noqa: BLE001 - a lost worker fails its study, not the batch
                        row = empty_row(a[0], a[1])
                        row.update(status="failed", error=f"The cluster could not process this study ({e}).")
                        collect(row)
            finally:
                client.close()
                if cluster is not None:
                    cluster.close()
        elif workers <= 1:
            for a in args:
                collect(process_study(*a))
        else:
            pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="medroute-batch")
            futs = [pool.submit(process_study, *a) for a in args]
            try:
                for f in as_completed(futs):
                    collect(f.result())
            except BaseException:  # Ctrl-C: stop now, not after the whole queue; report every study finished
                for f in futs:
                    f.cancel()
                pool.shutdown(wait=True, cancel_futures=True)
                for f in futs:
                    if f.done() and not f.cancelled() and f.exception() is None and f.result()["path"] not in rows:
                        collect(f.result())
                raise
            pool.shutdown(wait=True)
    finally:
        bar.close()
        ordered = [rows[it.path] for it in items if it.path in rows]
        if ordered:
            written = write_report(ordered, report, json_report, time.perf_counter() - t0)
        else:
            written = []
    return ordered, written


def exit_status(rows: list[dict]) -> int:
    return 3 if summary(rows)["failed"] else 0
