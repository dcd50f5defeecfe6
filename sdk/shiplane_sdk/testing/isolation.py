"""Running contract tests against a capability in a plugin worker process.

``SHIPLANE_TEST_ISOLATION=process pytest`` runs every contract test of
:mod:`shiplane_sdk.testing.contracts` against the capability as the server runs a
third-party plugin: loaded from its installed entry point in a worker process of
Shiplane's plugin host, every call crossing the process boundary (configs, results
and contexts as plain data, the fake context's methods served back over the
channel). The default, ``in_process``, calls the object ``make_capability`` returns.

Process mode needs the plugin installed (its entry point) and the ``shiplane`` server
package in the test environment; the SDK itself does not depend on it.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

__all__ = ["ISOLATION_VARIABLE", "isolation", "under_test"]

ISOLATION_VARIABLE = "SHIPLANE_TEST_ISOLATION"
_MODES = ("in_process", "process")


def isolation() -> str:
    """The mode the contract tests run in: ``in_process`` (default) or ``process``."""
    mode = os.environ.get(ISOLATION_VARIABLE, "in_process") or "in_process"
    if mode not in _MODES:
        raise ValueError(f"{ISOLATION_VARIABLE} must be one of {_MODES}, not {mode!r}")
    return mode


def under_test(capability: Any) -> Any:
    """``capability`` itself, or (process mode) its stand-in whose calls run in a worker."""
    if isolation() == "in_process":
        return capability
    try:
        # Looked up at run time, only in process mode: the SDK has no dependency on the
        # server, a vendor's test environment adds it for this mode.
        host = importlib.import_module("shiplane.plugins.testing")
    except ImportError as exc:
        raise RuntimeError(
            f"{ISOLATION_VARIABLE}=process runs capabilities in a Shiplane plugin worker: "
            "install the shiplane server package in the test environment"
        ) from exc
    return host.in_worker(capability)
