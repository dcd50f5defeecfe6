"""A pluggy ``PluginManager`` that knows Shiplane's hooks."""

from __future__ import annotations

import pluggy

from shiplane_sdk import hookspecs
from shiplane_sdk.markers import PROJECT_NAME

__all__ = ["create_plugin_manager"]


def create_plugin_manager() -> pluggy.PluginManager:
    """A new ``PluginManager("shiplane")`` with the SDK's hook specs added.

    The core builds its manager with this, and so does
    :func:`shiplane_sdk.testing.registered_plugin`, so a plugin tested with the
    SDK is registered exactly as the server registers it. Call
    ``check_pending()`` after registering plugins to catch misspelled hooks.
    """
    manager = pluggy.PluginManager(PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    return manager
