"""Installing plugin distributions into a folder, as pip would next to the server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def pip_install_into(target: Path, *sources: Path) -> None:
    """``pip install --target`` of local distributions: no dependencies, no downloads.

    ``--no-build-isolation`` builds with the setuptools already installed (the test
    environment has it), so nothing is fetched from an index.
    """
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(target),
            *map(str, sources),
        ],
        check=True,
        timeout=300,
    )
