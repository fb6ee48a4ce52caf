"""The batch report: one row per study, written atomically as CSV (and JSON when asked).

Columns: path, output, task, confidence, ``voxels:<label>`` and ``ml:<label>`` for every label seen, seconds,
status (ok / skipped / failed), error, notes (e.g. which volume of a 4D image was segmented).  ``ml`` is empty for PNG/TIFF studies: they carry no pixel size in mm.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from ..io import atomic_path

BASE = ("path", "output", "task", "confidence")
TAIL = ("seconds", "status", "error", "notes")


def _label_names(rows: list[dict]) -> list[str]:
    names: list[str] = []
    for r in rows:
        for n in r.get("labels") or {}:
            if n not in names:
                names.append(n)
    return names


def to_csv(rows: list[dict]) -> str:
    names = _label_names(rows)
    header = [*BASE, *(f"voxels:{n}" for n in names), *(f"ml:{n}" for n in names), *TAIL]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    for r in rows:
        labels = r.get("labels") or {}
        conf = r.get("confidence")
        w.writerow([r.get("path", ""), r.get("output", ""), r.get("task", ""), "" if conf is None else conf,
                    *(labels.get(n, {}).get("voxels", "") for n in names),
                    *(labels.get(n, {}).get("ml", "") for n in names),
                    r.get("seconds", ""), r.get("status", ""), r.get("error", ""), r.get("notes", "")])
    return buf.getvalue()


def summary(rows: list[dict], wall_seconds: float | None = None) -> dict:
    s = {"studies": len(rows), "ok": sum(r["status"] == "ok" for r in rows),
         "skipped": sum(r["status"] == "skipped" for r in rows),
         "failed": sum(r["status"] == "failed" for r in rows)}
    if wall_seconds is not None:
        s["wall_seconds"] = round(wall_seconds, 3)
    return s


def write_report(rows: list[dict], path, json_too: bool = False, wall_seconds: float | None = None) -> list[Path]:
    """Write ``path`` (CSV, or JSON when it ends in .json); with ``json_too`` also the JSON beside the CSV."""
    path = Path(path)
    written = []
    doc = {"summary": summary(rows, wall_seconds), "studies": rows}
    if path.suffix.lower() == ".json":
        targets = [("json", path)]
    else:
        targets = [("csv", path)] + ([("json", path.with_suffix(".json"))] if json_too else [])
    for kind, p in targets:
        text = to_csv(rows) if kind == "csv" else json.dumps(doc, indent=1)
        with atomic_path(p) as tmp:
            tmp.write_text(text, encoding="utf-8", newline="" if kind == "csv" else None)
        written.append(p)
    return written


def read_previous(path) -> dict[str, dict]:
    """Rows of an earlier report (CSV or JSON) by study path, for ``--resume``; {} when absent or unreadable."""
    p = Path(path)
    if not p.is_file():
        j = p.with_suffix(".json")
        if not j.is_file():
            return {}
        p = j
    try:
        if p.suffix.lower() == ".json":
            return {r["path"]: r for r in json.loads(p.read_text())["studies"]}
        out = {}
        with open(p, newline="", encoding="utf-8") as f:
            for r in csv.DictReader(f):
                labels = {}
                for k, v in r.items():
                    if k and k.startswith("voxels:") and v not in ("", None):
                        n = k[len("voxels:"):]
                        ml = r.get(f"ml:{n}")
                        labels[n] = {"voxels": int(float(v)), "ml": float(ml) if ml else None}
                conf = r.get("confidence")
                out[r["path"]] = {"task": r.get("task", ""), "confidence": float(conf) if conf else None,
                                  "labels": labels}
        return out
    except (OSError, ValueError, KeyError, TypeError):
        return {}
