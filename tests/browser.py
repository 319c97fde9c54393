"""What the browser tests share: Debian's chromium driven headless by Playwright, screenshots under test-artifacts/."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import IN_CI

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def need_chromium() -> None:
    """Skip without chromium or Playwright, with a clear message; under CI their absence fails the run."""
    missing = []
    if not Path(CHROMIUM).exists():
        missing.append("Debian's chromium (apt-get install -y chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("playwright (pip install -r requirements-dev.txt)")
    if missing:
        message = "the browser tests need " + " and ".join(missing)
        if IN_CI:
            pytest.fail(message + "; CI=true makes them mandatory")
        pytest.skip(message)
