"""Register a plugin for the length of one test."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import pluggy

from shiplane_sdk.plugin_manager import create_plugin_manager

__all__ = ["registered_plugin", "resolve"]

T = TypeVar("T")


@contextmanager
def registered_plugin(plugin: object, name: str | None = None) -> Iterator[pluggy.PluginManager]:
    """Register ``plugin`` with a fresh ``PluginManager("shiplane")`` for one block.

    ``plugin`` is what the entry point would load (a module, a class or an
    object with ``@hookimpl`` functions); ``name`` is the plugin id (default:
    pluggy's canonical name). The manager has the SDK's hook specs, and
    ``check_pending()`` has run, so a misspelled hook raises
    ``pluggy.PluginValidationError`` here, as it would in the server. The plugin
    is unregistered when the block exits::

        with registered_plugin(my_plugin, name="acme") as pm:
            gates = [g for batch in pm.hook.register_gates() for g in batch]
    """
    manager = create_plugin_manager()
    registered_name = manager.register(plugin, name=name)
    try:
        manager.check_pending()
        yield manager
    finally:
        if registered_name is not None and manager.get_plugin(registered_name) is not None:
            manager.unregister(name=registered_name)


async def _await(awaitable: Any) -> Any:
    return await awaitable


def resolve(value: Any) -> Any:
    """Return ``value``, or what it resolves to if it is awaitable.

    Lets a synchronous test call a capability method that may be ``async def``:
    ``result = resolve(gate.evaluate(ctx, config))``. Runs the awaitable in a new
    event loop (``asyncio.run``), so don't use it inside a running loop.
    """
    if inspect.isawaitable(value):
        return asyncio.run(_await(value))
    return value
