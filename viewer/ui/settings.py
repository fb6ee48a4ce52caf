"""Persistent viewer settings (QSettings): last folder, layout, recent studies, preset, window geometry."""

from __future__ import annotations

from pathlib import Path

from PySide6 import QtCore

MAX_RECENT = 10


class ViewerSettings:
    def __init__(self, qsettings: QtCore.QSettings | None = None):
        self.q = qsettings if qsettings is not None else QtCore.QSettings("MedRoute", "MedRoute Viewer")

    def _get(self, key: str, default=None):
        v = self.q.value(key, default)
        return default if v is None else v

    @property
    def last_folder(self) -> str:
        return str(self._get("last_folder", str(Path.home())))

    @last_folder.setter
    def last_folder(self, v: str) -> None:
        self.q.setValue("last_folder", str(v))

    @property
    def layout(self) -> str:
        v = str(self._get("layout", "2x2"))
        return v if v in ("1x1", "1x3", "2x2") else "2x2"

    @layout.setter
    def layout(self, v: str) -> None:
        self.q.setValue("layout", v)

    @property
    def preset(self) -> str:
        return str(self._get("window_preset", ""))

    @preset.setter
    def preset(self, v: str) -> None:
        self.q.setValue("window_preset", v)

    def recent(self) -> list[str]:
        v = self._get("recent", [])
        if isinstance(v, str):
            v = [v]
        return [str(x) for x in v if x]

    def add_recent(self, path: str) -> list[str]:
        path = str(Path(path).resolve())
        items = [path] + [p for p in self.recent() if p != path]
        self.q.setValue("recent", items[:MAX_RECENT])
        return items[:MAX_RECENT]

    def clear_recent(self) -> None:
        self.q.setValue("recent", [])

    def save_window(self, window) -> None:
        self.q.setValue("window/geometry", window.saveGeometry())
        self.q.setValue("window/state", window.saveState())

    def restore_window(self, window) -> None:
        g = self.q.value("window/geometry")
        s = self.q.value("window/state")
        if g is not None:
            window.restoreGeometry(g)
        if s is not None:
            window.restoreState(s)

    def sync(self) -> None:
        self.q.sync()
