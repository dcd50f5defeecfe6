"""Exceptions of the SDK.

Every exception the SDK raises, and every exception a plugin is invited to raise,
derives from :class:`ShiplaneSDKError`. A plugin may raise anything else too: the
core catches every exception a plugin call raises and turns it into a failed
result naming the plugin, but these types carry a meaning the core acts on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shiplane_sdk.models import ConfigError


class ShiplaneSDKError(Exception):
    """Base class of every exception defined by the SDK."""


class ConfigValidationError(ShiplaneSDKError, ValueError):
    """A capability's configuration does not match its ``config_schema``.

    Raised by :meth:`shiplane_sdk.Capability.require_valid_config`. ``errors``
    holds every violation found (never only the first); the core reports them as
    ``400 VALIDATION_ERROR`` with one ``validationErrors[]`` entry each.
    """

    def __init__(self, errors: list[ConfigError], message: str | None = None) -> None:
        self.errors: list[ConfigError] = list(errors)
        if message is None:
            described = "; ".join(f"{error.field or '<config>'}: {error.message}" for error in self.errors)
            message = f"invalid configuration ({len(self.errors)} error(s)): {described}"
        super().__init__(message)


class CapabilityNotSupported(ShiplaneSDKError, NotImplementedError):
    """The capability does not offer this optional operation.

    The default implementation of every optional method (for example
    :meth:`shiplane_sdk.IntegrationType.discover`) raises it. The core treats it
    as "not supported" (for the API: the operation is unavailable for this
    integration type), not as a plugin failure.
    """


class PluginError(ShiplaneSDKError):
    """A failure the plugin wants reported with a message safe to show to users.

    Raise it from any capability method when the operation failed for a reason
    the user can act on (bad credentials, an unreachable host). ``message`` is
    shown as is, so never put a secret in it; ``details`` is an optional,
    JSON-serialisable dict of extra context (also shown).
    """

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        self.message = message
        self.details: dict[str, Any] = dict(details or {})
        super().__init__(message)


class StepCancelled(ShiplaneSDKError):
    """Raised by a step that noticed ``ctx.is_cancelled()`` and stopped early.

    Cancellation is cooperative: the core never kills a step's thread or task, it
    sets the flag. A step that raises ``StepCancelled`` ends ``cancelled``, not
    ``failed``.
    """
