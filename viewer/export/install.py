"""Installing a retrained plugin version into the user's plugin folder, with rollback.  No Qt.

Layout of the user plugin folder (``$MEDROUTE_PLUGIN_DIR`` or ``~/.local/share/medroute/plugins``)::

    brain_mri/                       the active version (what the registry loads)
    .versions/brain_mri/1.0.0/       earlier versions kept for rollback (hidden: the registry does not scan them)

:func:`install_plugin` refuses a version that is not newer than the one the registry currently uses, or whose
metrics are worse than the current version's *on the same validation set* (``metrics.json["comparison"]``, written
by ``medroute quantize``), or that cannot be compared at all - unless ``force``.  :func:`rollback` puts the
previous version back.  Each swap is a rename of a fully copied and verified folder.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..errors import PluginError
from ..inference.manifest import load_manifest
from ..inference.registry import Registry, _version_key, user_plugin_dirs

VERSIONS = ".versions"
TOLERANCE = 0.005  # a new version may be this much lower on the primary metric (measurement noise) and still pass


class PluginInstallError(PluginError):
    """A plugin version cannot be installed or rolled back."""


@dataclass
class InstallResult:
    id: str
    version: str
    folder: Path
    previous: str | None
    verdict: str


def _metric(m: dict) -> float | None:
    v = m.get("primary_int8")
    return float(v) if isinstance(v, (int, float)) else None


def compare(new_metrics: dict, current) -> tuple[bool | None, str]:
    """(better_or_equal, reason); None when the two versions were not measured on the same validation set."""
    if current is None:
        return True, "no version installed yet"
    cur_m = current.metrics()
    comp = new_metrics.get("comparison") or {}
    if comp.get("baseline_version") == current.version and comp.get("baseline_sha256") in ("", None, current.sha256):
        new, old = comp.get("primary_new"), comp.get("primary_baseline")
        if isinstance(new, (int, float)) and isinstance(old, (int, float)):
            return new >= old - TOLERANCE, (f"{comp.get('metric', 'primary metric')} {new:.4f} vs {old:.4f} for "
                                             f"{current.version} on the same {comp.get('n_cases', '?')} validation cases")
    a, b = new_metrics.get("eval_set_sha256"), cur_m.get("eval_set_sha256")
    new, old = _metric(new_metrics), _metric(cur_m)
    if a and a == b and new is not None and old is not None:
        return new >= old - TOLERANCE, f"primary INT8 metric {new:.4f} vs {old:.4f} (same validation set)"
    return None, (f"the metrics of the new version and of {current.id} {current.version} were not measured on the "
                  "same validation set")


def _user_dir(user_dir) -> Path:
    return Path(user_dir) if user_dir else user_plugin_dirs()[0]


def install_plugin(src, user_dir=None, force: bool = False, registry: Registry | None = None) -> InstallResult:
    src = Path(src)
    new = load_manifest(src, source="user", verify=True)  # damaged plugins never get installed
    root = _user_dir(user_dir)
    reg = registry if registry is not None else Registry.scan(user_dirs=[root])
    current = reg.plugins.get(new.id)
    metrics = new.metrics()
    if current is not None and _version_key(new.version) <= _version_key(current.version) and not force:
        raise PluginInstallError(f"{new.id} {new.version} is not newer than the installed {current.version}; "
                                 "bump the version (medroute quantize does) or use --force.", src)
    ok, why = compare(metrics, current)
    if ok is False and not force:
        raise PluginInstallError(f"{new.id} {new.version} is worse than {current.version}: {why}. Keep the current "
                                 "version, or install anyway with --force.", src)
    if ok is None and not force:
        raise PluginInstallError(f"Cannot tell whether {new.id} {new.version} is better: {why}. Re-run "
                                 "`medroute quantize` with the current version installed, or use --force.", src)
    verdict = "forced" if force and ok is not True else ("better or equal: " + why)
    root.mkdir(parents=True, exist_ok=True)
    target = root / new.id
    tmp = root / f".{new.id}.installing-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(src, tmp, ignore=shutil.ignore_patterns(".*"))
    load_manifest(tmp, source="user", verify=True)
    previous = None
    if target.exists():
        old = load_manifest(target, source="user", verify=False)
        previous = old.version
        keep = root / VERSIONS / new.id / old.version
        if keep.exists():
            shutil.rmtree(keep)
        keep.parent.mkdir(parents=True, exist_ok=True)
        os.rename(target, keep)
    elif current is not None:
        previous = current.version  # a built-in version stays where it is; nothing to move
    os.rename(tmp, target)
    _log(root, {"action": "install", "id": new.id, "version": new.version, "previous": previous, "verdict": verdict})
    return InstallResult(new.id, new.version, target, previous, verdict)


def installed_versions(pid: str, user_dir=None) -> list[str]:
    d = _user_dir(user_dir) / VERSIONS / pid
    return sorted((p.name for p in d.iterdir() if (p / "plugin.toml").is_file()), key=_version_key) if d.is_dir() else []


def rollback(pid: str, user_dir=None, version: str | None = None) -> InstallResult:
    """Make the previous kept version (or ``version``) active again; the replaced one is kept too."""
    root = _user_dir(user_dir)
    kept = installed_versions(pid, root)
    target = root / pid
    active = load_manifest(target, source="user", verify=False).version if (target / "plugin.toml").is_file() else None
    choices = [v for v in kept if v != active]
    if version is None and not choices and active is not None:
        # only the built-in version is older: remove the user's copy so the registry falls back to it
        keep = root / VERSIONS / pid / active
        keep.parent.mkdir(parents=True, exist_ok=True)
        os.rename(target, keep)
        _log(root, {"action": "rollback", "id": pid, "version": "built-in", "previous": active})
        return InstallResult(pid, "built-in", target, active, "rolled back to the built-in version")
    pick = version or (choices[-1] if choices else None)
    if pick is None or pick not in kept:
        raise PluginInstallError(f"There is no earlier version of {pid} to roll back to "
                                 f"(kept: {', '.join(kept) or 'none'}).", root)
    src = root / VERSIONS / pid / pick
    if active is not None:
        keep = root / VERSIONS / pid / active
        shutil.rmtree(keep, ignore_errors=True)
        os.rename(target, keep)
    os.rename(src, target)
    _log(root, {"action": "rollback", "id": pid, "version": pick, "previous": active})
    return InstallResult(pid, pick, target, active, "rolled back")


def _log(root: Path, rec: dict) -> None:
    import time

    rec["at"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    with open(root / VERSIONS / "install.log.jsonl" if (root / VERSIONS).is_dir() else root / ".install.log.jsonl",
              "a") as f:
        f.write(json.dumps(rec) + "\n")
