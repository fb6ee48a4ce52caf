"""Crash-safe autosave to a recovery file, and finding it again at the next start.  No Qt.

:class:`Autosaver` is driven by a timer (the UI's ``QTimer``, or any loop) calling :meth:`Autosaver.tick` every
``interval_s / 4``.  When the session changed and the last save is at least ``interval_s / 2`` old, it snapshots
the labels (one memcpy) and writes the recovery file atomically (temp file, fsync, rename - a crash leaves the old
file or the new one, never half of one), by default on a background thread so painting never waits on the disk.
So every edit is on disk at most ``interval_s`` after it was made.  A clean close with nothing unsaved calls
:meth:`discard`; a recovery file still present at the next start holds edits that were never saved (the run
crashed, or the user closed the study or the window without saving them).

Each editing session has its own recovery file, ``autosave-<pid>-<random>.mrsession``: two MedRoute windows running at
once never overwrite (or, closing cleanly, delete) each other's, and the unsaved edits of a study the user moved
away from stay on disk.  :func:`find_recoveries` lists the files whose process is gone (crashed or killed), newest
first; files of a process still running are left alone.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
import uuid
from pathlib import Path

from ..errors import MedRouteError
from .session import SUFFIX, read_session_meta, write_session_file

ENV_RECOVERY_DIR = "MEDROUTE_RECOVERY_DIR"
DEFAULT_INTERVAL_S = 5.0


def recovery_dir() -> Path:
    env = os.environ.get(ENV_RECOVERY_DIR)
    if env:
        return Path(env)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "medroute" / "recovery"


def recovery_path() -> Path:
    """A new recovery file for one editing session of this process: ``autosave-<pid>-<random>.mrsession`` (the
    random part, so a file left by a dead process whose pid is reused is never overwritten)."""
    return recovery_dir() / f"autosave-{os.getpid()}-{uuid.uuid4().hex[:12]}{SUFFIX}"


def _pid_from_name(p: Path) -> int | None:
    m = re.fullmatch(rf"autosave-(\d+)-[0-9a-f]+{re.escape(SUFFIX)}", p.name)
    return int(m.group(1)) if m else None


def _process_running(pid: int, saved: float) -> bool:
    """Is the process that wrote a recovery file at time ``saved`` still running?  (A process with the same pid
    started after the file was written is another program: the pid was reused after a reboot or a crash.)"""
    import psutil

    try:
        return psutil.Process(pid).create_time() <= saved + 1.0
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return psutil.pid_exists(pid) if pid > 0 else False


def _read(p: Path) -> dict | None:
    try:
        meta = read_session_meta(p)
    except MedRouteError:
        return None
    meta["recovery_path"] = str(p)
    return meta


def find_recoveries(directory=None) -> list[dict]:
    """Metadata of every recovery file left by a run that did not close cleanly, newest first.  Files written by
    another MedRoute process that is still running are skipped (its work is live, not lost); this process's own
    files are included (a session it moved away from with unsaved edits)."""
    d = Path(directory) if directory else recovery_dir()
    out = []
    for p in sorted(d.glob(f"autosave*{SUFFIX}")) if d.is_dir() else []:
        pid = _pid_from_name(p)
        try:  # a live process's file is not even opened (on Windows an open file cannot be replaced)
            if pid and pid != os.getpid() and _process_running(pid, p.stat().st_mtime):
                continue
        except OSError:
            continue
        meta = _read(p)
        if meta is None:
            continue
        rec = meta.get("recovery") or {}
        if rec.get("host") not in (None, socket.gethostname()):
            continue  # written on another computer (a shared home folder): its process cannot be checked from here
        if pid is None:  # an older file name without the pid: the pid recorded inside
            pid = int(rec.get("pid", 0) or 0)
            if pid and pid != os.getpid() and _process_running(pid, float(meta.get("saved", 0) or 0)):
                continue
        out.append(meta)
    return sorted(out, key=lambda m: float(m.get("saved", 0) or 0), reverse=True)


def find_recovery(path=None) -> dict | None:
    """Metadata of the given recovery file, or of the newest one left by a run that did not close cleanly
    (None: nothing to recover)."""
    if path is None:
        found = find_recoveries()
        return found[0] if found else None
    p = Path(path)
    return _read(p) if p.is_file() else None


class Autosaver:
    def __init__(self, session, path=None, interval_s: float = DEFAULT_INTERVAL_S, background: bool = True):
        self.session = session
        self.path = Path(path) if path else recovery_path()
        self.interval_s = float(interval_s)
        self.background = background
        self.saved_revision = session.revision  # nothing to save until the first edit
        self.last_save = 0.0
        self.saves = 0
        self.last_error: str = ""
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def tick_interval_s(self) -> float:
        return self.interval_s / 4.0

    def dirty(self) -> bool:
        return self.session.revision != self.saved_revision

    def tick(self, now: float | None = None) -> bool:
        """Save if something changed and the last save is at least half an interval old; True if a save began."""
        now = time.monotonic() if now is None else now
        if not self.dirty() or now - self.last_save < self.interval_s / 2.0:
            return False
        if self._thread is not None and self._thread.is_alive():
            return False  # the previous write is still running; the next tick catches up
        self.save_now(now)
        return True

    def save_now(self, now: float | None = None) -> None:
        rev = self.session.revision
        labels = self.session.labelmap.data.copy()  # snapshot: painting may continue while we write
        meta = self.session.meta()
        meta["recovery"] = {"pid": os.getpid(), "host": socket.gethostname(), "revision": rev}
        self.last_save = time.monotonic() if now is None else now
        if self.background:
            self._thread = threading.Thread(target=self._write, args=(labels, meta, rev), daemon=True,
                                            name="medroute-autosave")
            self._thread.start()
        else:
            self._write(labels, meta, rev)

    def _write(self, labels, meta, rev) -> None:
        with self._lock:
            try:
                write_session_file(self.path, labels, meta)
                self.saved_revision = rev
                self.saves += 1
                self.last_error = ""
            except MedRouteError as e:
                self.last_error = str(e)
            except Exception as e:  # noqa: BLE001 - a background thread must not die silently: the UI shows this
                self.last_error = f"The autosave of {self.path} failed ({type(e).__name__}: {e})."

    def flush(self) -> None:
        """Write the current labels now, on this thread, after any background write in flight."""
        self.wait()
        background, self.background = self.background, False
        try:
            self.save_now()
        finally:
            self.background = background

    def wait(self, timeout: float = 30.0) -> None:
        t = self._thread
        if t is not None:
            t.join(timeout)

    def discard(self) -> None:
        """Clean close: no recovery needed any more."""
        self.wait()
        try:
            self.path.unlink(missing_ok=True)
        except OSError:
            pass
