from __future__ import annotations

import pytest
from tests.editing.editing_helpers import make_session


@pytest.fixture
def session():
    return make_session()


@pytest.fixture(autouse=True)
def _recovery_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDROUTE_RECOVERY_DIR", str(tmp_path / "recovery"))
