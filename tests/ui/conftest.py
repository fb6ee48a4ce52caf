"""Qt test set-up: offscreen platform (set before any Qt import), isolated QSettings, window fixtures."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def _isolated_settings(tmp_path_factory):
    from PySide6 import QtCore

    d = tmp_path_factory.mktemp("qsettings")
    os.environ["MEDROUTE_RECOVERY_DIR"] = str(tmp_path_factory.mktemp("recovery"))  # autosave never hits $HOME
    QtCore.QSettings.setDefaultFormat(QtCore.QSettings.Format.IniFormat)
    QtCore.QSettings.setPath(QtCore.QSettings.Format.IniFormat, QtCore.QSettings.Scope.UserScope, str(d))
    yield d


@pytest.fixture
def app(qapp):
    from viewer.ui.app import make_app

    return make_app(headless=True)


@pytest.fixture
def settings(tmp_path):
    from PySide6 import QtCore

    from viewer.ui.settings import ViewerSettings

    return ViewerSettings(QtCore.QSettings(str(tmp_path / "viewer.ini"), QtCore.QSettings.Format.IniFormat))


@pytest.fixture
def window(app, qtbot, settings):
    from viewer.ui.main_window import MainWindow

    win = MainWindow(settings=settings, persist=True)
    win.errors = []
    win.show_error = lambda title, message: win.errors.append(f"{title}: {message}")  # dialogs would block
    qtbot.addWidget(win)
    win.resize(1200, 900)
    win.show()
    qtbot.waitExposed(win)
    return win
