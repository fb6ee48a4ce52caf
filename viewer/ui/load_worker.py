"""Opening studies off the UI thread: the core loader runs in a QThread; results come back as signals."""

from __future__ import annotations

import traceback

from PySide6 import QtCore

from ..errors import MedRouteError


class LoadWorker(QtCore.QObject):
    """Runs ``fn(*args)`` in a worker thread; emits ``finished((tag, result))`` or ``failed(message)``.

    Connect the signals to *bound methods of QObjects living in the GUI thread* (not lambdas): PySide calls plain
    callables directly in the emitting (worker) thread, which must never touch widgets.
    """

    finished = QtCore.Signal(object)
    failed = QtCore.Signal(str)

    def __init__(self, fn, *args, tag=None, parent=None):
        super().__init__(parent)
        self._fn, self._args, self.tag = fn, args, tag
        self.thread = QtCore.QThread()
        self.moveToThread(self.thread)
        self.thread.started.connect(self._run)

    def start(self) -> None:
        self.thread.start()

    @QtCore.Slot()
    def _run(self) -> None:
        try:
            result = self._fn(*self._args)
        except MedRouteError as e:
            self.failed.emit(str(e))
        except MemoryError:
            self.failed.emit("There is not enough memory to open this study.")
        except Exception as e:  # noqa: BLE001 - shown as a sentence, details to the log
            traceback.print_exc()
            self.failed.emit(f"The study could not be opened ({type(e).__name__}: {e}).")
        else:
            self.finished.emit((self.tag, result))
        finally:
            self.thread.quit()
