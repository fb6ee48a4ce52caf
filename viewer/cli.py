"""``medroute`` command line.  Thin: parses, calls the core, prints.

Exit status: 0 success; 2 bad input or usage (one ``error: ...`` line on stderr); 3 a batch where some studies failed.
Sub-commands owned by other packages register themselves through ``add_parser(subparsers)`` functions so this file
stays small; their heavy imports (Qt, torch, OpenVINO) happen only when the sub-command runs.
"""

from __future__ import annotations

import argparse
import json
import sys

from . import __version__
from .errors import MedRouteError

SUBCOMMANDS = ("view", "info", "segment", "batch", "models", "export", "train", "quantize", "bench")


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, no usage dump
        sys.stderr.write(f"error: {message}\n")
        raise SystemExit(2)


def _cmd_info(args) -> int:
    from .io import open_study, scan

    if args.series or not args.scan_only:
        study = open_study(args.path, series=args.series)
        info = study.summary()
    else:
        info = scan(args.path)
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        _print_info(info)
    return 0


def _print_info(info: dict) -> None:
    rows = [
        ("Format", info.get("format", "")),
        ("Description", info.get("description", "")),
        ("Modality", info.get("modality", "")),
        ("Shape (z,y,x[,c])", " x ".join(str(v) for v in info.get("shape", []))),
        ("Data type", info.get("dtype", "")),
        ("Spacing (mm, x y z)", " ".join(f"{v:g}" for v in info.get("spacing", []))),
        ("Orientation", info.get("orientation", "")),
        ("Intensity range", " .. ".join(f"{v:g}" for v in info.get("intensity_range", []))),
        ("Archive", info.get("archive", "")),
        ("Source", info.get("source", "") + (" (unpacked copy)" if info.get("archive") else "")),
    ]
    for k, v in rows:
        if v not in ("", None):  # a --scan-only listing has no shape, spacing ... to show
            print(f"{k:<22}{v}")
    for w in info.get("warnings", []):
        print(f"{'Warning':<22}{w}")
    series = info.get("series", [])
    if len(series) > 1 or (series and "shape" not in info):
        print(f"Series ({len(series)}):")
        for s in series:
            print(f"  {s['uid']}  {s['slices']:>5} slices  {s['modality']:<4} {s['description']}")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="medroute", description="MedRoute Viewer: routed AI segmentation you can correct.")
    p.add_argument("--version", action="version", version=f"medroute {__version__}")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)

    pi = sub.add_parser("info", help="what the loader sees: format, shape, spacing, orientation, series")
    pi.add_argument("path")
    pi.add_argument("--json", action="store_true", help="machine-readable output")
    pi.add_argument("--series", help="series UID (or index) to open when a folder holds several")
    pi.add_argument("--scan-only", action="store_true", help="list series without loading pixels")
    pi.set_defaults(func=_cmd_info)

    for mod, attr in (
        ("viewer.ui.cli_view", "add_parser"),
        ("viewer.benchmarks_cli", "add_parser"),
        ("viewer.training.cli", "add_parsers"),
        ("viewer.inference.cli", "add_parsers"),
        ("viewer.batch.cli", "add_parser"),
        ("viewer.export.cli", "add_parser"),
    ):
        try:
            module = __import__(mod, fromlist=[attr])
        except ModuleNotFoundError as e:  # optional part not present in this build
            if e.name and e.name.startswith("viewer"):
                continue
            raise
        getattr(module, attr)(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # `medroute` or `medroute PATH...` opens the GUI.
    if not argv or (argv[0] not in SUBCOMMANDS and not argv[0].startswith("-")):
        argv = ["view", *argv]
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except MedRouteError as e:
        sys.stderr.write(f"error: {e}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
