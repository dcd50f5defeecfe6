"""Installs the plugin distributions the tests use, once per source change.

The example vendor plugin (examples/acme-plugin) and the misbehaving test plugins
(tests/fixtures/plugins) are installed with pip into ``.test-site/<hash>`` and that
folder is put on ``sys.path`` before tests import anything: the server then
discovers them through their entry points exactly as it would a plugin installed
next to it. ``SHIPLANE_TEST_PLUGIN_SITE`` tells tests where it is (to start server
processes with or without it).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from pathlib import Path

from tests.plugin_site import pip_install_into

ROOT = Path(__file__).resolve().parent
PLUGIN_SOURCES = [ROOT / "examples" / "acme-plugin", ROOT / "tests" / "fixtures" / "plugins"]


def _source_hash() -> str:
    digest = hashlib.sha256()
    for source in PLUGIN_SOURCES:
        for path in sorted(source.rglob("*")):
            skip = "__pycache__" in path.parts or "build" in path.parts or ".egg-info" in str(path)
            if path.is_file() and not skip:
                digest.update(str(path.relative_to(ROOT)).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def install_test_plugins() -> Path:
    site = ROOT / ".test-site" / _source_hash()
    marker = site / ".complete"
    if not marker.exists():
        for old in (ROOT / ".test-site").glob("*"):
            shutil.rmtree(old, ignore_errors=True)
        pip_install_into(site, *PLUGIN_SOURCES)
        for leftover in ROOT.glob("examples/acme-plugin/build"):
            shutil.rmtree(leftover, ignore_errors=True)
        marker.write_text("ok")
    return site


def pytest_configure(config) -> None:  # type: ignore[no-untyped-def]
    site = install_test_plugins()
    if str(site) not in sys.path:
        sys.path.insert(0, str(site))
    os.environ["SHIPLANE_TEST_PLUGIN_SITE"] = str(site)
