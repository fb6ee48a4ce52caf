"""``medroute bench --suite S [--json]``: runs ``benchmarks/bench_<S>.py`` from the source tree.

Each benchmark module exposes ``run(quick: bool = False) -> dict`` returning JSON-serialisable results (medians
and side-by-side baselines measured in the same run).  The benchmarks live outside the package (top-level
``benchmarks/``) because they need the development data in ``../shared/data``.
"""

from __future__ import annotations

import json
import runpy
from pathlib import Path

from .errors import MedRouteError

BENCH_DIR = Path(__file__).resolve().parent.parent / "benchmarks"


def available_suites() -> list[str]:
    if not BENCH_DIR.is_dir():
        return []
    return sorted(p.stem[len("bench_"):] for p in BENCH_DIR.glob("bench_*.py"))


def _cmd_bench(args) -> int:
    suites = available_suites()
    if args.suite not in suites:
        raise MedRouteError(
            f"There is no benchmark suite '{args.suite}'; available: {', '.join(suites) or 'none (benchmarks/ folder missing)'}."
        )
    ns = runpy.run_path(str(BENCH_DIR / f"bench_{args.suite}.py"), run_name="medroute_bench")
    result = ns["run"](quick=args.quick)
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2))
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for k, v in result.items():
            print(f"{k}: {json.dumps(v)}")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("bench", help="speed and memory benchmarks, side by side with baselines")
    p.add_argument("--suite", default="inference", help="io | ui | inference | editing")
    p.add_argument("--json", action="store_true")
    p.add_argument("--quick", action="store_true", help="fewer repeats (smoke run)")
    p.add_argument("--out", help="also write the JSON to this file")
    p.set_defaults(func=_cmd_bench)
