"""Child processes that run tenant- or plugin-supplied work: a clean environment.

A child gets how to find Python and the installed packages, and nothing of the
server's configuration (no ``SHIPLANE_*`` setting, database URL, key or cloud
credential the server's own environment may hold).
"""

from __future__ import annotations

import os
import sys


def clean_environment(**extra: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
        "PYTHONDONTWRITEBYTECODE": "1",
        **extra,
    }
