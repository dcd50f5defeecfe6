"""Capability base classes: what a plugin adds to Shiplane.

A plugin returns instances of these classes from its ``register_*`` hooks. Each
capability has an ``id`` (a slug, unique per kind among installed plugins), a
``display_name``, a ``description`` and a ``config_schema`` (JSON Schema, draft
2020-12) that every configuration is validated against before any call.

**Sync or async.** Any contract method may be a plain ``def`` or an
``async def``. The core awaits what returns an awaitable and runs plain functions
in a thread pool, so a sync method may block (on network or disk) without
stalling the server. Don't mix: an ``async def`` must not block.

**Failures.** Return a failed result when the operation ran and failed for a
reason the result type can express (``ConnectionTestResult(ok=False)``,
``GateResult.failed(...)``, ``StepResult(status="failed")``). Raise
:class:`~shiplane_sdk.PluginError` for other failures the user should see, and
:class:`~shiplane_sdk.CapabilityNotSupported` for an optional operation the
capability does not offer. The core catches everything a capability raises and
applies a timeout to each call; gates fail closed (an exception blocks).

**Secrets.** Mark secret config properties ``"writeOnly": true``. The core
encrypts them at rest, never returns them (``"***"``) and keeps them out of logs,
audit records and evidence. Capabilities receive them decrypted.
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any, ClassVar, Literal

from jsonschema import Draft202012Validator, ValidationError

from shiplane_sdk.context import GateContext, StepContext, TargetContext
from shiplane_sdk.exceptions import CapabilityNotSupported, ConfigValidationError
from shiplane_sdk.models import (
    AuditRecord,
    Batch,
    ConfigError,
    ConnectionTestResult,
    DeployResult,
    DiscoveredItem,
    GateResult,
    HealthReport,
    MetricQuery,
    MetricResult,
    NotificationMessage,
    StepResult,
    TargetRef,
    TrafficStep,
    VersionInfo,
)

__all__ = [
    "CAPABILITY_ID_PATTERN",
    "CAPABILITY_KINDS",
    "INTEGRATION_CATEGORIES",
    "Capability",
    "CapabilityKind",
    "Gate",
    "IntegrationCategory",
    "IntegrationType",
    "RolloutStrategy",
    "StepType",
    "TargetType",
    "TrafficRouter",
]

CapabilityKind = Literal["integration_type", "step_type", "gate", "rollout_strategy", "target_type", "traffic_router"]
CAPABILITY_KINDS: tuple[CapabilityKind, ...] = (
    "integration_type",
    "step_type",
    "gate",
    "rollout_strategy",
    "target_type",
    "traffic_router",
)

IntegrationCategory = Literal["registry", "scm", "ci", "notification", "secrets", "monitoring", "router", "siem"]
INTEGRATION_CATEGORIES: tuple[IntegrationCategory, ...] = (
    "registry",
    "scm",
    "ci",
    "notification",
    "secrets",
    "monitoring",
    "router",
    "siem",
)

#: What a capability id must look like: lowercase letters and digits, words
#: joined by single ``-`` or ``_`` (``http``, ``oci-registry``, ``freeze_window``).
CAPABILITY_ID_PATTERN = r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$"

_SECRET_PLACEHOLDER_MESSAGE = "invalid value for a secret field (value not shown)"
_STRUCTURAL_KEYWORDS = frozenset({"required", "dependentRequired", "additionalProperties"})


class Capability(ABC):
    """Base of every capability. Subclass one of the six kinds below, not this.

    Class attributes a subclass sets:

    ``id``
        A slug (:data:`CAPABILITY_ID_PATTERN`), unique per kind among all
        installed plugins: a plugin registering an id another plugin already
        registered for that kind fails to load, so make ids specific
        (``acme-jira-ticket`` rather than ``ticket``). Objects that use the
        capability store it, so never change it.
    ``display_name``, ``description``
        Shown in listings.
    ``config_schema``
        A JSON Schema (draft 2020-12) for the capability's configuration, a JSON
        object. Default: an object schema accepting anything. Mark secrets with
        ``"writeOnly": true``.
    ``secret_destinations``
        Config paths that decide where a secret is sent, besides the properties
        with a ``uri``/``hostname`` format (which count already); see
        :meth:`destination_fields`.
    """

    kind: ClassVar[CapabilityKind]
    id: str = ""
    display_name: str = ""
    description: str = ""
    config_schema: dict[str, Any] = {"type": "object", "properties": {}}
    # Config paths, beside those with a uri/hostname format, that decide where a secret goes.
    secret_destinations: ClassVar[list[str]] = []

    def validate_config(self, config: Any) -> list[ConfigError]:
        """Every violation of ``config_schema`` in ``config``; ``[]`` if valid.

        Fast and offline (no network): the core calls it before any slow call and
        when a configuration is saved. Each error's ``field`` is a dotted path
        (``auth.token``, ``items.0.name``); a missing required property is named
        in the path, an unexpected property (``additionalProperties: false``) as
        well; ``""`` stands for the whole config. ``code`` is the failing
        JSON Schema keyword. ``format`` is checked (``date``, ``email``,
        ``ipv4``, ...; formats such as ``uri`` only when jsonschema's optional
        format packages are installed, so don't rely on them). No message quotes
        the value of a secret field: an error on a secret, or on an object or
        array holding one, gets a neutral message naming the keyword only.
        """
        validator = Draft202012Validator(self.config_schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
        secret_patterns = [path.split(".") for path in self.secret_fields()]
        # The secrets actually present in this config, at concrete paths.
        secrets = _secrets_in(config, secret_patterns)
        masks = _mask_strings(value for _, value in secrets)
        errors: list[ConfigError] = []
        for error in validator.iter_errors(config):
            instance_path = [str(part) for part in error.absolute_path]
            # Only errors about a value can quote it; a missing or unexpected
            # property has no secret value to leak (those messages name keys only).
            about_value = error.validator not in _STRUCTURAL_KEYWORDS
            is_secret = any(_path_matches(instance_path, p) for p in secret_patterns)
            holds_secret = _holds_secret(error, config, instance_path, secrets)
            for path, message in _paths_and_messages(error):
                field = ".".join(str(part) for part in path)
                if about_value and is_secret:
                    message = _SECRET_PLACEHOLDER_MESSAGE
                elif about_value and holds_secret:
                    # An error on an object or array holding a secret: jsonschema's
                    # message would print the whole instance, secret included.
                    message = _neutral_message(error, instance_path)
                # Defense in depth: whatever the message, no secret value in it.
                errors.append(ConfigError(field=field, message=_mask(message, masks), code=str(error.validator)))
        return errors

    def require_valid_config(self, config: Any) -> None:
        """Raise :class:`~shiplane_sdk.ConfigValidationError` listing every violation."""
        errors = self.validate_config(config)
        if errors:
            raise ConfigValidationError(errors)

    def secret_fields(self) -> list[str]:
        """Dotted paths of the config properties marked ``"writeOnly": true``.

        Nested objects are followed (``auth.token``); ``*`` stands for any array
        index or any key of a map (``endpoints.*.password``). Local ``$ref``\\ s
        and ``allOf``/``anyOf``/``oneOf``/``then``/``else`` branches are followed.
        """
        found: list[str] = []
        _collect_secrets(self.config_schema, self.config_schema, [], found, set())
        return list(dict.fromkeys(found))

    def destination_fields(self) -> list[str]:
        """Dotted paths of the config properties that decide where data is sent.

        Every property whose schema has ``format`` ``uri``, ``hostname`` (or their
        variants, :data:`DESTINATION_FORMATS`), found as :meth:`secret_fields` finds
        secrets, plus the paths a subclass lists in ``secret_destinations``. When a
        tenant changes one of them, a stored secret is not kept by sending ``***``:
        it must be entered again, so nobody who may edit a configuration can send
        its secret to a server of their choosing.
        """
        found: list[str] = []
        _collect(self.config_schema, self.config_schema, [], found, set(), _is_destination)
        return list(dict.fromkeys([*found, *self.secret_destinations]))

    def describe(self) -> dict[str, Any]:
        """A JSON-serialisable description, as the API lists the capability.

        Keys: ``id``, ``kind``, ``displayName``, ``description``, ``configSchema``
        (and, per kind, ``category``/``operations``, ``idempotent`` or
        ``progressive``).
        """
        return {
            "id": self.id,
            "kind": self.kind,
            "displayName": self.display_name,
            "description": self.description,
            "configSchema": self.config_schema,
        }

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.kind} {self.id!r}>"


# ---------------------------------------------------------------------------
# The six kinds
# ---------------------------------------------------------------------------


class IntegrationType(Capability):
    """A kind of external system a tenant connects (a registry, an SCM, a chat).

    A tenant's *integration* is a named, validated configuration of an
    integration type. Set ``category`` to one of :data:`INTEGRATION_CATEGORIES`.
    Only :meth:`test` is required; override the optional operations the system
    offers (registries and SCMs: :meth:`discover` and :meth:`list_versions`;
    notification integrations: :meth:`notify`). The defaults raise
    :class:`~shiplane_sdk.CapabilityNotSupported`; :meth:`supports` tells which
    ones a subclass overrides.
    """

    kind: ClassVar[CapabilityKind] = "integration_type"
    category: IntegrationCategory

    #: The operations an integration type may offer, in the order listed.
    OPERATIONS: ClassVar[tuple[str, ...]] = (
        "test",
        "discover",
        "list_versions",
        "health",
        "notify",
        "query_metrics",
        "send_audit",
    )

    @abstractmethod
    def test(self, config: dict[str, Any]) -> ConnectionTestResult | Awaitable[ConnectionTestResult]:
        """Check that ``config`` reaches the system and is accepted by it.

        Return ``ConnectionTestResult(ok=False, message=...)`` when the check ran
        and failed (unreachable, bad credentials); say what failed, never echo a
        secret. ``POST /integrations/{id}/test`` shows the result.
        """

    def discover(
        self, config: dict[str, Any], query: dict[str, Any]
    ) -> list[DiscoveredItem] | Awaitable[list[DiscoveredItem]]:
        """List what the system offers to build components from.

        ``query`` holds optional, integration-specific filters (for example
        ``{"prefix": "team/"}``); an empty query lists everything (the core
        paginates the result). Optional: raises ``CapabilityNotSupported``.
        """
        raise CapabilityNotSupported(f"{self!r} does not support discover")

    def list_versions(self, config: dict[str, Any], reference: str) -> list[VersionInfo] | Awaitable[list[VersionInfo]]:
        """List the versions of ``reference`` (a ``DiscoveredItem.reference``).

        Any order (the core sorts); include ``digest`` whenever the system
        knows it. Raise :class:`~shiplane_sdk.PluginError` if ``reference``
        doesn't exist. Optional: raises ``CapabilityNotSupported``.
        """
        raise CapabilityNotSupported(f"{self!r} does not support list_versions")

    def health(self, config: dict[str, Any]) -> HealthReport | Awaitable[HealthReport]:
        """Report the health of the configured system (called periodically).

        Cheaper than :meth:`test` where the system allows it. Optional: raises
        ``CapabilityNotSupported`` (the core then uses :meth:`test`).
        """
        raise CapabilityNotSupported(f"{self!r} does not support health")

    def notify(self, config: dict[str, Any], message: NotificationMessage) -> None | Awaitable[None]:
        """Send ``message`` through the configured system (notification integrations).

        Raise :class:`~shiplane_sdk.PluginError` if it was not delivered; the
        core retries with backoff. Optional: raises ``CapabilityNotSupported``.
        """
        raise CapabilityNotSupported(f"{self!r} does not support notify")

    def query_metrics(self, config: dict[str, Any], query: MetricQuery) -> MetricResult | Awaitable[MetricResult]:
        """Run ``query`` against the configured monitoring system (monitoring
        integrations; A/B release analysis reads its measurements through this).

        Return every series (an empty result when there is no data); raise
        :class:`~shiplane_sdk.PluginError` when the system refuses the query (say why,
        in one sentence) or cannot be reached. Optional: raises ``CapabilityNotSupported``.
        """
        raise CapabilityNotSupported(f"{self!r} does not support query_metrics")

    def send_audit(self, config: dict[str, Any], records: list[AuditRecord]) -> None | Awaitable[None]:
        """Deliver ``records`` (one tenant's audit events, in ``sequence`` order, at most
        100) to the configured SIEM sink (integrations of category ``siem``).

        Return only when the sink accepted them all; raise
        :class:`~shiplane_sdk.PluginError` otherwise (the core retries the same batch
        with backoff, so delivery is at least once and in order: a receiver may see a
        record twice and should de-duplicate by ``(tenant_id, sequence)``).
        Optional: raises ``CapabilityNotSupported``.
        """
        raise CapabilityNotSupported(f"{self!r} does not support send_audit")

    def supports(self, operation: str) -> bool:
        """Whether this integration type implements ``operation`` (see ``OPERATIONS``)."""
        if operation not in self.OPERATIONS:
            raise ValueError(f"unknown operation {operation!r}; one of {self.OPERATIONS}")
        return getattr(type(self), operation) is not getattr(IntegrationType, operation)

    def describe(self) -> dict[str, Any]:
        """As :meth:`Capability.describe`, plus ``category`` and ``operations``."""
        description = super().describe()
        description["category"] = getattr(self, "category", None)
        description["operations"] = [op for op in self.OPERATIONS if self.supports(op)]
        return description


class StepType(Capability):
    """A kind of workflow step (``script``, ``http``, ``deploy``, ...).

    Set ``idempotent = True`` only if running the step twice with the same
    inputs has the effect of running it once: after a crash the engine re-runs
    idempotent steps and fails the others with a clear reason instead.
    """

    kind: ClassVar[CapabilityKind] = "step_type"
    idempotent: bool = False
    runs_on: str = "server"
    """Where the step's work happens: ``server`` (in the engine's process) or ``agent``
    (the step sends the work to a host agent, e.g. ``script``)."""

    @abstractmethod
    def run(self, ctx: StepContext, config: dict[str, Any]) -> StepResult | Awaitable[StepResult]:
        """Run the step once with its validated ``config``.

        Read inputs from ``ctx.inputs``, stream progress with ``ctx.log``, store
        files with ``ctx.write_artifact``, fetch credentials with
        ``ctx.integration``/``ctx.secret``. Check ``ctx.is_cancelled()`` during
        long work and raise :class:`~shiplane_sdk.StepCancelled` when it is set.
        Return ``StepResult(status="failed", message=...)`` for an expected
        failure; an exception also fails the step, with its message. The step
        timeout is the workflow node's ``timeoutSeconds``.
        """

    def describe(self) -> dict[str, Any]:
        """As :meth:`Capability.describe`, plus ``idempotent`` and ``runsOn``."""
        description = super().describe()
        description["idempotent"] = self.idempotent
        description["runsOn"] = self.runs_on
        return description


class Gate(Capability):
    """A check a promotion must pass before it may proceed.

    Gates fail closed: an exception or a timeout blocks the promotion, with the
    reason shown.
    """

    kind: ClassVar[CapabilityKind] = "gate"

    @abstractmethod
    def evaluate(self, ctx: GateContext, config: dict[str, Any]) -> GateResult | Awaitable[GateResult]:
        """Judge the promotion in ``ctx`` against ``config``.

        Be explainable: put the inputs judged (the values read, the thresholds
        from config) in ``GateResult.details``, since the result is stored in the
        evidence packet. Be deterministic for the same inputs and ``ctx.now``
        (use it rather than the clock). Return ``pending`` when the answer may
        change later without anyone acting (the core re-evaluates).
        """


class RolloutStrategy(Capability):
    """How a deployment spreads over targets, and for progressive ones, traffic.

    ``plan`` splits targets into batches (all-at-once, rolling, ...).
    Progressive strategies (``progressive = True``: canary, blue-green, A/B)
    also describe the traffic steps of an A/B release in :meth:`steps`.
    """

    kind: ClassVar[CapabilityKind] = "rollout_strategy"
    progressive: bool = False

    @abstractmethod
    def plan(self, targets: list[TargetRef], config: dict[str, Any]) -> list[Batch] | Awaitable[list[Batch]]:
        """Split ``targets`` into ordered batches. Pure: no I/O, no clock, no randomness.

        Every target appears in exactly one batch, batches are numbered 0, 1,
        2, ... in order, and none is empty. An empty ``targets`` gives ``[]``.
        """

    def steps(self, config: dict[str, Any]) -> list[TrafficStep] | Awaitable[list[TrafficStep]]:
        """The traffic steps of a progressive rollout (pure).

        The default returns ``[]`` for a non-progressive strategy; a progressive
        strategy must override it (the default raises ``CapabilityNotSupported``).
        """
        if not self.progressive:
            return []
        raise CapabilityNotSupported(f"{self!r} is progressive but does not define steps")

    def describe(self) -> dict[str, Any]:
        """As :meth:`Capability.describe`, plus ``progressive``."""
        description = super().describe()
        description["progressive"] = self.progressive
        return description


class TargetType(Capability):
    """A kind of place releases are deployed to (a host over SSH, a local dir).

    Its methods run on the agent that owns the target, not on the server.
    ``config_schema`` validates the target's config (``ctx.target["config"]``).
    The *version sticker* is a small JSON document the agent leaves on the target
    saying what was deployed; the core compares it with :meth:`inspect` to detect
    drift.
    """

    kind: ClassVar[CapabilityKind] = "target_type"

    @abstractmethod
    def deploy(self, ctx: TargetContext, manifest: dict[str, Any]) -> DeployResult | Awaitable[DeployResult]:
        """Deploy ``manifest`` (the rendered release: components, digests) to the target.

        Return ``DeployResult(ok=False, message=...)`` for an expected failure.
        Check ``ctx.is_cancelled()`` during long work. Should be safe to retry.
        """

    @abstractmethod
    def health_check(self, ctx: TargetContext) -> HealthReport | Awaitable[HealthReport]:
        """Report whether the target and what runs on it are healthy."""

    @abstractmethod
    def read_sticker(self, ctx: TargetContext) -> dict[str, Any] | None | Awaitable[dict[str, Any] | None]:
        """Return the version sticker last written to the target, ``None`` if there is none."""

    @abstractmethod
    def write_sticker(self, ctx: TargetContext, sticker: dict[str, Any]) -> None | Awaitable[None]:
        """Store ``sticker`` on the target, replacing any previous one, atomically.

        A later :meth:`read_sticker` returns an equal dict.
        """

    @abstractmethod
    def inspect(self, ctx: TargetContext) -> dict[str, Any] | Awaitable[dict[str, Any]]:
        """Return the actual state of the target (what really runs, with versions).

        JSON-serialisable; used for drift detection, so report what is there,
        not what the sticker says.
        """


class TrafficRouter(Capability):
    """Something that splits traffic between the two sides of an A/B release.

    Weights are percentages (0..100) keyed by side: the core uses ``"control"``
    (A, the current release) and ``"candidate"`` (B); their sum is 100. The
    router's config says how the sides map to the system's backends.
    """

    kind: ClassVar[CapabilityKind] = "traffic_router"

    @abstractmethod
    def get_weights(self, config: dict[str, Any]) -> dict[str, int] | Awaitable[dict[str, int]]:
        """Read the weights currently applied by the router."""

    @abstractmethod
    def set_weights(self, config: dict[str, Any], weights: dict[str, int]) -> None | Awaitable[None]:
        """Apply ``weights``; when this returns, new traffic follows them.

        Raise :class:`~shiplane_sdk.PluginError` if they could not be applied.
        """


# ---------------------------------------------------------------------------
# JSON Schema helpers
# ---------------------------------------------------------------------------


def _paths_and_messages(error: ValidationError) -> Iterator[tuple[list[Any], str]]:
    """The config paths an error is about, with a message for each.

    ``required`` and ``dependentRequired`` errors point at the object; the
    missing property is added to the path. ``additionalProperties: false``
    reports all extra properties in one error; it is split, one per property.
    """
    path = list(error.absolute_path)
    instance = error.instance
    if error.validator == "required" and isinstance(instance, dict):
        missing = [name for name in error.validator_value if name not in instance]
        named = [name for name in missing if f"{name!r} is a required property" == error.message]
        yield path + (named[:1] or missing[:1]), error.message
    elif error.validator == "dependentRequired" and isinstance(instance, dict):
        missing = [
            dependency
            for trigger, dependencies in error.validator_value.items()
            if trigger in instance
            for dependency in dependencies
            if dependency not in instance and f"{dependency!r} is a dependency of {trigger!r}" == error.message
        ]
        yield path + missing[:1], error.message
    elif error.validator == "additionalProperties" and error.validator_value is False and isinstance(instance, dict):
        declared = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
        patterns = error.schema.get("patternProperties", {}) if isinstance(error.schema, dict) else {}
        extras = [name for name in instance if name not in declared and not any(re.search(p, name) for p in patterns)]
        if not extras:
            yield path, error.message
        for name in extras:
            yield path + [name], f"additional property {name!r} is not allowed"
    else:
        yield path, error.message


def _secrets_in(config: Any, patterns: list[list[str]]) -> list[tuple[list[str], Any]]:
    """The values at the secret paths of ``config``, each with its concrete path."""
    found: list[tuple[list[str], Any]] = []

    def walk(node: Any, pattern: list[str], prefix: list[str]) -> None:
        if not pattern:
            found.append((prefix, node))
            return
        head, rest = pattern[0], pattern[1:]
        children: list[tuple[Any, Any]] = []
        if isinstance(node, dict):
            if head == "*":
                children = list(node.items())
            elif head in node:
                children = [(head, node[head])]
        elif isinstance(node, list):
            if head == "*":
                children = list(enumerate(node))
            elif head.isdigit() and int(head) < len(node):
                children = [(int(head), node[int(head)])]
        for key, child in children:
            walk(child, rest, [*prefix, str(key)])

    for pattern in patterns:
        walk(config, pattern, [])
    return found


def _value_at(config: Any, path: list[str]) -> tuple[bool, Any]:
    node = config
    for part in path:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False, None
    return True, node


def _holds_secret(
    error: ValidationError, config: Any, instance_path: list[str], secrets: list[tuple[list[str], Any]]
) -> bool:
    """Whether the error's instance is, or contains, a secret present in ``config``."""
    depth = len(instance_path)
    if not any(path[:depth] == instance_path for path, _ in secrets):
        return False
    # ``propertyNames`` validates the keys of an object without moving the path:
    # the instance is then a property name (never a secret), not the object.
    found, value = _value_at(config, instance_path)
    is_property_name = (
        found
        and isinstance(value, dict)
        and isinstance(error.instance, str)
        and error.instance is not value
        and error.instance in value
    )
    return not is_property_name


def _neutral_message(error: ValidationError, instance_path: list[str]) -> str:
    """A message for an error on a value holding a secret: keyword and path, no value."""
    subject = f"the value of {'.'.join(instance_path)}" if instance_path else "the configuration"
    keyword = str(error.validator)
    limit = error.validator_value
    if keyword == "maxProperties":
        problem = f"has too many properties (maxProperties {limit}"
    elif keyword == "minProperties":
        problem = f"has too few properties (minProperties {limit}"
    elif keyword == "maxItems":
        problem = f"has too many items (maxItems {limit}"
    elif keyword == "minItems":
        problem = f"has too few items (minItems {limit}"
    elif keyword == "uniqueItems":
        problem = "has non-unique items (uniqueItems"
    elif keyword == "enum":
        problem = "is not one of the allowed values (enum"
    elif keyword == "const":
        problem = "is not the allowed value (const"
    elif keyword == "type":
        types = limit if isinstance(limit, list) else [limit]
        problem = f"is not of type {', '.join(repr(t) for t in types)} (type"
    elif keyword in ("contains", "minContains", "maxContains"):
        problem = f"does not contain the expected number of matching items ({keyword}"
    elif keyword == "unevaluatedProperties":
        problem = "has properties that are not allowed (unevaluatedProperties"
    elif keyword == "unevaluatedItems":
        problem = "has items that are not allowed (unevaluatedItems"
    else:
        problem = f"does not match the schema ({keyword}"
    return f"{subject} {problem}; value not shown)"


def _mask_strings(values: Iterable[Any]) -> list[str]:
    """The strings to hide from messages: every secret string or number, as is
    and as ``repr``/JSON would print it; longest first. Shorter than 3: kept."""
    leaves: list[str] = []

    def collect(value: Any) -> None:
        if isinstance(value, str):
            leaves.append(value)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            leaves.append(repr(value))
        elif isinstance(value, dict):
            for item in value.values():
                collect(item)
        elif isinstance(value, list | tuple):
            for item in value:
                collect(item)

    for value in values:
        collect(value)
    variants: set[str] = set()
    for leaf in leaves:
        if len(leaf) >= 3:
            variants.update({leaf, repr(leaf), repr(leaf)[1:-1], json.dumps(leaf), json.dumps(leaf)[1:-1]})
    return sorted((v for v in variants if len(v) >= 3), key=len, reverse=True)


def _mask(message: str, masks: list[str]) -> str:
    for secret in masks:
        message = message.replace(secret, "***")
    return message


def _path_matches(path: list[Any], pattern: list[str]) -> bool:
    """Whether a concrete config path falls under a secret path pattern (``*`` = any)."""
    if len(path) < len(pattern):
        return False
    return all(want in ("*", str(part)) for part, want in zip(path, pattern, strict=False))


def _resolve_local_ref(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any] | None:
    ref = schema.get("$ref")
    if not isinstance(ref, str) or not ref.startswith("#"):
        return None
    node: Any = root
    for token in ref[1:].split("/")[1:]:
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return None
    return node if isinstance(node, dict) else None


def _is_write_only(schema: Any, root: dict[str, Any]) -> bool:
    return _has(schema, root, lambda node: node.get("writeOnly") is True)


# Formats of a value that says where data is sent: a secret kept beside one of these
# must be entered again when it changes (the core enforces it).
DESTINATION_FORMATS = frozenset({"uri", "uri-reference", "iri", "iri-reference", "hostname", "idn-hostname"})


def _is_destination(schema: Any, root: dict[str, Any]) -> bool:
    return _has(schema, root, lambda node: node.get("format") in DESTINATION_FORMATS)


def _has(schema: Any, root: dict[str, Any], test: Callable[[dict[str, Any]], bool]) -> bool:
    if not isinstance(schema, dict):
        return False
    if test(schema):
        return True
    target = _resolve_local_ref(schema, root)
    return target is not None and test(target)


def _collect_secrets(
    schema: Any, root: dict[str, Any], prefix: list[str], found: list[str], seen: set[tuple[str, str]]
) -> None:
    _collect(schema, root, prefix, found, seen, _is_write_only)


def _collect(
    schema: Any,
    root: dict[str, Any],
    prefix: list[str],
    found: list[str],
    seen: set[tuple[str, str]],
    matches: Callable[[Any, dict[str, Any]], bool],
) -> None:
    """Append to ``found`` the dotted path of every property whose schema ``matches``,
    wherever the schema puts it: properties, local ``$ref``, every combinator and
    conditional branch, items and map values (``*``)."""
    if not isinstance(schema, dict):
        return

    def visit(subschema: Any, path: list[str]) -> None:
        if matches(subschema, root):
            found.append(".".join(path))
        _collect(subschema, root, path, found, seen, matches)

    target = _resolve_local_ref(schema, root)
    if target is not None:
        key = (str(schema["$ref"]), ".".join(prefix))
        if key not in seen:
            seen.add(key)
            _collect(target, root, prefix, found, seen, matches)
    properties = schema.get("properties")
    if isinstance(properties, dict):
        for name, subschema in properties.items():
            visit(subschema, [*prefix, name])
    for keyword in ("allOf", "anyOf", "oneOf"):
        branches = schema.get(keyword)
        if isinstance(branches, list):
            for branch in branches:
                _collect(branch, root, prefix, found, seen, matches)
    # Branches that apply to the same object: a property declared in them is the object's.
    for keyword in ("if", "then", "else", "not"):
        _collect(schema.get(keyword), root, prefix, found, seen, matches)
    dependent = schema.get("dependentSchemas")
    if isinstance(dependent, dict):
        for subschema in dependent.values():
            _collect(subschema, root, prefix, found, seen, matches)
    for keyword in ("items", "additionalProperties", "unevaluatedProperties", "unevaluatedItems"):
        visit(schema.get(keyword), [*prefix, "*"])
    patterns = schema.get("patternProperties")
    if isinstance(patterns, dict):
        for subschema in patterns.values():
            visit(subschema, [*prefix, "*"])
    prefix_items = schema.get("prefixItems")
    if isinstance(prefix_items, list):
        for index, subschema in enumerate(prefix_items):
            visit(subschema, [*prefix, str(index)])
