"""Shared pytest fixtures (browser fixtures first; other modules may add theirs)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def chromium():
    """A running headless Chromium (``tests/browser.py``); skips the test when none can run here."""
    from browser import Chromium, browser_unavailable_reason

    reason = browser_unavailable_reason()
    if reason:
        pytest.skip(f"browser test skipped: {reason}")
    with Chromium() as browser:
        yield browser


@pytest.fixture(scope="session")
def demo_district():
    """The bundled demo district (data/demo), loaded once per test session."""
    from pathlib import Path

    from gridmgmt.ops.district import load_district

    path = Path(__file__).resolve().parents[1] / "data" / "demo" / "district.toml"
    return load_district(path)


from pg_fixtures import pg_server, store_url  # noqa: E402, F401  (the store tests' PostgreSQL fixtures)
