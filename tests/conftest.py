"""Shared test fixtures.

Tests that need the development data in ../shared/data use the ``shared_data`` fixture (or ``require_data()``):
they skip with a reason when it is absent, and fail when ``MEDROUTE_REQUIRE_DATA=1`` (set by .ci/run).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Qt tests run headless everywhere (CI has no display); set before any test module imports Qt.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Archives opened by tests unpack into a throw-away cache, not the user's ~/.cache/medroute.
os.environ.setdefault("MEDROUTE_ARCHIVE_DIR", __import__("tempfile").mkdtemp(prefix="medroute-test-archives-"))

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("MEDROUTE_SHARED_DATA", ROOT.parent / "shared" / "data"))


def require_data(*parts: str) -> Path:
    """Path under ../shared/data; skip (or fail under MEDROUTE_REQUIRE_DATA=1) when it is missing."""
    p = SHARED_DATA.joinpath(*parts)
    if not p.exists():
        msg = f"development data not found at {p} (clone with ../shared/data beside the repo)"
        if os.environ.get("MEDROUTE_REQUIRE_DATA") == "1":
            pytest.fail(msg + "; MEDROUTE_REQUIRE_DATA=1 requires it")
        pytest.skip(msg)
    return p


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return require_data()
