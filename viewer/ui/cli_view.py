"""``medroute view``: the GUI sub-command.  Qt-free at import time; Qt is imported only when the command runs."""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("view", help="open the viewer (a sample study when no path is given)")
    p.add_argument("paths", nargs="*", metavar="PATH", help="study file or folder (the first one is opened)")
    p.add_argument("--labels", help="label file to show over the study (same voxel grid)")
    p.add_argument("--layout", choices=("1x1", "1x3", "2x2"), help="view layout (default: last used, else 2x2)")
    p.add_argument("--series", help="series UID (or index) when a folder holds several")
    p.add_argument("--screenshot", metavar="OUT.png", help="render headless to a PNG and exit")
    p.add_argument("--size", default="1400x1000", help="window size for --screenshot, WxH (default 1400x1000)")
    p.set_defaults(func=_run)


def _run(args) -> int:
    from .app import run_view

    return run_view(
        paths=list(args.paths), labels=args.labels, layout=args.layout, series=args.series,
        screenshot=args.screenshot, size=args.size,
    )
