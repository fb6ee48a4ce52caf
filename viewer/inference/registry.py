"""The plugin registry: finds task plugins, validates them, and answers "which plugin is X".

Sources, in order (a later source with the same id and an equal or higher version wins):

1. the built-in ``plugins/`` folder next to the package (the repository root, or beside a frozen app);
2. the ``medroute.plugins`` entry-point group: each entry point names a package folder holding one plugin
   (``plugin.toml`` there) or several (sub-folders).  The folder is located through the distribution's file
   list: *the package is not imported*, so no plugin code runs at scan time;
3. the user's plugin folder: ``$MEDROUTE_PLUGIN_DIR`` (several separated by ``os.pathsep``), else
   ``$XDG_DATA_HOME/medroute/plugins`` (``~/.local/share/medroute/plugins``).

A damaged plugin never breaks the scan: it is listed in :attr:`Registry.problems` and asking for it raises its
:class:`PluginError`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from ..errors import PluginError, UnknownTaskError
from .manifest import Plugin, load_manifest

ENTRY_POINT_GROUP = "medroute.plugins"
ENV_PLUGIN_DIR = "MEDROUTE_PLUGIN_DIR"
BUILTIN_DIR = Path(__file__).resolve().parents[2] / "plugins"


def user_plugin_dirs() -> list[Path]:
    env = os.environ.get(ENV_PLUGIN_DIR, "").strip()
    if env:
        return [Path(p).expanduser() for p in env.split(os.pathsep) if p]
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return [base / "medroute" / "plugins"]


def _plugin_folders(root: Path) -> list[Path]:
    """``root`` itself when it is a plugin, else its sub-folders that hold a plugin.toml."""
    if (root / "plugin.toml").is_file():
        return [root]
    if not root.is_dir():
        return []
    return sorted(d for d in root.iterdir() if d.is_dir() and (d / "plugin.toml").is_file())


def _entry_point_roots() -> list[tuple[str, Path]]:
    out = []
    try:
        eps = metadata.entry_points(group=ENTRY_POINT_GROUP)
    except Exception:  # noqa: BLE001 - broken metadata must not stop the viewer
        return out
    for ep in eps:
        rel = ep.module.replace(".", "/")
        if ep.attr:
            rel += "/" + ep.attr.replace(".", "/")
        try:
            root = Path(str(ep.dist.locate_file(rel))) if ep.dist is not None else None
        except Exception:  # noqa: BLE001
            root = None
        if root is not None:
            out.append((f"entry point {ep.name}", root))
    return out


def _version_key(v: str) -> tuple:
    parts = []
    for p in str(v).replace("-", ".").split("."):
        parts.append((0, int(p), "") if p.isdigit() else (1, 0, p))
    return tuple(parts)


@dataclass
class Registry:
    """Validated plugins by id, the router (if any) and the problems met while scanning."""

    plugins: dict[str, Plugin] = field(default_factory=dict)
    problems: list[PluginError] = field(default_factory=list)
    shadowed: list[Plugin] = field(default_factory=list)
    search_path: list[str] = field(default_factory=list)

    @classmethod
    def scan(cls, builtin: bool = True, user_dirs: list[Path] | None = None, entry_points: bool = True,
             extra_dirs: list[Path] | None = None, verify: bool = True) -> "Registry":
        sources: list[tuple[str, Path]] = []
        if builtin:
            sources.append(("builtin", BUILTIN_DIR))
        if entry_points:
            sources += _entry_point_roots()
        for d in (user_dirs if user_dirs is not None else user_plugin_dirs()):
            sources.append(("user", Path(d)))
        for d in extra_dirs or []:
            sources.append(("user", Path(d)))
        reg = cls(search_path=[f"{s}: {p}" for s, p in sources])
        for src, root in sources:
            for folder in _plugin_folders(root):
                try:
                    reg._add(load_manifest(folder, source=src, verify=verify))
                except PluginError as e:
                    reg.problems.append(e)
        return reg

    def _add(self, p: Plugin) -> None:
        old = self.plugins.get(p.id)
        if old is not None and _version_key(old.version) > _version_key(p.version):
            self.shadowed.append(p)
            return
        if old is not None:
            self.shadowed.append(old)
        self.plugins[p.id] = p

    # --- queries --------------------------------------------------------------------------------------------
    @property
    def tasks(self) -> list[Plugin]:
        return [p for p in self.plugins.values() if p.kind == "segmentation"]

    @property
    def router(self) -> Plugin | None:
        routers = [p for p in self.plugins.values() if p.kind == "router"]
        return self.plugins.get("router") or (routers[0] if routers else None)

    def task_ids(self) -> list[str]:
        return sorted(p.id for p in self.tasks)

    def get(self, pid: str) -> Plugin:
        if pid in self.plugins:
            return self.plugins[pid]
        for e in self.problems:  # a damaged plugin of that id (by the id it declares; by folder if unreadable)
            declared = getattr(e, "plugin_id", None)
            if declared == pid or (declared is None and e.path and Path(e.path).name == pid):
                raise e
        avail = ", ".join(self.task_ids()) or "none installed"
        raise UnknownTaskError(f"There is no task plugin '{pid}' (available: {avail}); see `medroute models`.")

    def damaged_newer(self, pid: str) -> str:
        """A sentence when a newer version of ``pid`` is installed but damaged, so an older one is in use; else ""."""
        p = self.plugins.get(pid)
        for e in self.problems:
            v = getattr(e, "plugin_version", None)
            if p is not None and getattr(e, "plugin_id", None) == pid and v and _version_key(v) > _version_key(p.version):
                return (f"{pid} {v} is installed but damaged ({e}); the older {pid} {p.version} was used. "
                        "Reinstall it or remove it (see `medroute models`).")
        return ""

    def task(self, pid: str) -> Plugin:
        p = self.get(pid)
        if p.kind != "segmentation":
            raise UnknownTaskError(f"'{pid}' is a {p.kind}, not a segmentation task; choose one of "
                                   f"{', '.join(self.task_ids()) or 'none installed'}.")
        return p


_DEFAULT: Registry | None = None


def default_registry(refresh: bool = False) -> Registry:
    """The process-wide registry of the standard search path (scanned once)."""
    global _DEFAULT
    if _DEFAULT is None or refresh:
        _DEFAULT = Registry.scan()
    return _DEFAULT
