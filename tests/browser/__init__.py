"""Browser tests (the web console), and a real headless Chromium for any test:
Debian's ``chromium`` driven through Playwright.

Playwright talks to the browser over the DevTools protocol; it is given the system's
Chromium (``executable_path``), so nothing is downloaded. Screenshots and other files a
person should look at after a run go to :func:`artifacts_dir` (``SHIPLANE_TEST_ARTIFACTS``,
else ``.artifacts/`` at the repository root), which CI keeps.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import once_on_sqlite

REPO_ROOT = Path(__file__).resolve().parents[2]


def chromium_path() -> str:
    """The system Chromium; a test that needs it fails (not skips) when it is missing,
    because ``.ci/run`` installs it."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.fail("Chromium is not installed: apt-get install -y chromium (.ci/run does)")


def artifacts_dir(*parts: str) -> Path:
    """A folder under the run's artifacts (created)."""
    root = Path(os.environ.get("SHIPLANE_TEST_ARTIFACTS") or REPO_ROOT / ".artifacts")
    folder = root.joinpath(*parts)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# The console's browser tests run once, on SQLite: what they add is the browser and the
# pages; every request they make is an API call the API tests run on both databases.
ONCE_ON_SQLITE = once_on_sqlite("a browser driving the console")


@contextmanager
def chromium() -> Iterator[object]:
    """A launched headless Chromium (a Playwright ``Browser``), always closed."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path(),
            headless=True,
            # root in a container has no user namespace for the sandbox
            args=["--no-sandbox", "--disable-dev-shm-usage"],
        )
        try:
            yield browser
        finally:
            browser.close()
