"""``medroute batch IN_DIR OUT_DIR ...``: folder mode.  Exit 0 when every study succeeded, 3 when some failed."""

from __future__ import annotations

import json
import sys


def _cmd_batch(args) -> int:
    from .executor import exit_status, run_batch
    from .report import summary

    if args.workers < 1:
        from ..errors import MedRouteError

        raise MedRouteError("--workers must be at least 1.")
    rows, written = run_batch(args.in_dir, args.out_dir, task=args.task, device=args.device, workers=args.workers,
                              fmt=args.format, resume=args.resume, report=args.report, json_report=args.json,
                              dask=args.dask, progress=not args.quiet)
    s = summary(rows)
    if args.json:
        print(json.dumps({"summary": s, "reports": [str(p) for p in written]}, indent=2))
    else:
        print(f"{s['studies']} studies: {s['ok']} segmented, {s['skipped']} already done, {s['failed']} failed. "
              f"Report: {', '.join(str(p) for p in written)}")
        for r in rows:
            if r["status"] == "failed":
                sys.stderr.write(f"failed: {r['path']}: {r['error']}\n")
    return exit_status(rows)


def add_parser(sub) -> None:
    p = sub.add_parser("batch", help="segment every study in a folder tree (local pool or Dask cluster)")
    p.add_argument("in_dir", help="folder searched recursively for images, NIfTI files and DICOM series")
    p.add_argument("out_dir", help="where label files (named after each study) and the report go")
    p.add_argument("--task", default="auto", help="auto (router decides per study) or a task id")
    p.add_argument("--device", default="CPU", help="CPU, GPU or AUTO (falls back to CPU when absent)")
    p.add_argument("--workers", type=int, default=2, help="studies processed at once (local pool)")
    p.add_argument("--format", choices=("nifti", "png"), default="nifti",
                   help="label file format; png applies to 2-D images (volumes are always NIfTI)")
    p.add_argument("--resume", action="store_true", help="skip studies whose label file exists and is valid")
    p.add_argument("--report", help="report file (.csv, or .json); default OUT_DIR/report.csv")
    p.add_argument("--json", action="store_true", help="also write the report as JSON and print a JSON summary")
    p.add_argument("--dask", metavar="ADDRESS", help="run on a Dask cluster (tcp://host:8786, or local[:N])")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_batch)
