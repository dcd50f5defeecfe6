"""Contract test base classes: subclass one, get its tests.

Each class holds ``test_*`` methods that check a capability (or a whole plugin)
against the contract the core relies on. A vendor subclasses it in a test
module under a name pytest collects, says how to build the capability and
which configs are valid or invalid, and inherits the tests::

    from shiplane_sdk.testing import GateContract

    class TestMaxCriticalVulnerabilities(GateContract):
        valid_configs = [{"max": 0}, {"max": 3}]
        invalid_configs = [{"max": -1}, {"max": "three"}, {}]

        def make_capability(self):
            return MaxCriticalVulnerabilities()

Tests take no pytest fixtures (only ``self``), so they also run when called
directly. Capability methods may be sync or ``async def``: awaitables are run
with ``asyncio.run`` (pytest-asyncio is not needed). Override a ``make_context``
method to give the capability a richer fake context, or any test to adapt it.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from typing import Any, ClassVar

import pluggy
import pytest
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from packaging.specifiers import InvalidSpecifier, SpecifierSet

from shiplane_sdk._version import __version__
from shiplane_sdk.capabilities import (
    CAPABILITY_ID_PATTERN,
    INTEGRATION_CATEGORIES,
    Capability,
    Gate,
    IntegrationType,
    RolloutStrategy,
    StepType,
    TargetType,
    TrafficRouter,
)
from shiplane_sdk.context import GateContext, StepContext, TargetContext
from shiplane_sdk.exceptions import CapabilityNotSupported
from shiplane_sdk.hookspecs import REGISTRATION_HOOKS
from shiplane_sdk.models import (
    Batch,
    ConfigError,
    ConnectionTestResult,
    DeployResult,
    DiscoveredItem,
    GateResult,
    HealthReport,
    NotificationMessage,
    PluginInfo,
    StepResult,
    TargetRef,
    TrafficStep,
    VersionInfo,
)
from shiplane_sdk.testing.fakes import FakeGateContext, FakeStepContext, FakeTargetContext
from shiplane_sdk.testing.isolation import under_test
from shiplane_sdk.testing.plugins import registered_plugin, resolve

__all__ = [
    "CapabilityContract",
    "GateContract",
    "IntegrationTypeContract",
    "PluginContract",
    "RolloutStrategyContract",
    "StepTypeContract",
    "TargetTypeContract",
    "TrafficRouterContract",
]


def _assert_json(value: Any, what: str) -> None:
    try:
        json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise AssertionError(f"{what} is not JSON-serialisable: {exc}") from exc


class CapabilityContract:
    """Tests every capability must pass; the per-kind classes below extend it.

    Set ``valid_configs`` (at least one) and ``invalid_configs``, and override
    :meth:`make_capability`.
    """

    #: The capability base class under test; set by each per-kind contract.
    capability_base: ClassVar[type[Capability]] = Capability
    #: Configs the capability must accept; the main method is called with them.
    valid_configs: ClassVar[list[dict[str, Any]]] = []
    #: Configs the capability must reject, each with at least one field path.
    invalid_configs: ClassVar[list[dict[str, Any]]] = []

    def make_capability(self) -> Capability:
        """Return a new instance of the capability under test (override this)."""
        raise NotImplementedError(f"{type(self).__name__} must override make_capability()")

    def capability_under_test(self) -> Any:
        """What the tests call: :meth:`make_capability`'s object, or with
        ``SHIPLANE_TEST_ISOLATION=process`` its stand-in running in a plugin worker
        (:mod:`shiplane_sdk.testing.isolation`)."""
        return under_test(self.make_capability())

    def first_valid_config(self) -> dict[str, Any]:
        """The first of ``valid_configs`` (fails the test if there are none)."""
        assert self.valid_configs, f"{type(self).__name__} declares no valid_configs"
        return self.valid_configs[0]

    def test_capability_is_of_the_contract_kind(self) -> None:
        capability = self.capability_under_test()
        base = self.capability_base
        assert isinstance(capability, base), f"{capability!r} is not a {base.__name__}"
        assert capability.kind == base.kind, f"kind is {capability.kind!r}, expected {base.kind!r}"

    def test_id_is_a_slug(self) -> None:
        capability_id = self.capability_under_test().id
        assert isinstance(capability_id, str) and capability_id, "id is empty"
        assert len(capability_id) <= 64, f"id {capability_id!r} is longer than 64 characters"
        assert re.fullmatch(CAPABILITY_ID_PATTERN, capability_id), (
            f"id {capability_id!r} is not a slug (lowercase letters and digits joined by - or _)"
        )

    def test_display_name_and_description_are_set(self) -> None:
        capability = self.capability_under_test()
        assert isinstance(capability.display_name, str) and capability.display_name.strip(), "display_name is empty"
        assert isinstance(capability.description, str) and capability.description.strip(), "description is empty"

    def test_config_schema_is_valid_draft_2020_12(self) -> None:
        schema = self.capability_under_test().config_schema
        assert isinstance(schema, dict), "config_schema is not a dict"
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            raise AssertionError(f"config_schema is not a valid draft 2020-12 schema: {exc.message}") from exc
        _assert_json(schema, "config_schema")

    def test_valid_configs_have_no_errors(self) -> None:
        capability = self.capability_under_test()
        assert self.valid_configs, f"{type(self).__name__} declares no valid_configs"
        for index, config in enumerate(self.valid_configs):
            errors = resolve(capability.validate_config(config))
            assert errors == [], f"valid_configs[{index}] was rejected: {errors}"

    def test_invalid_configs_are_rejected_with_field_paths(self) -> None:
        if not self.invalid_configs:
            pytest.skip(f"{type(self).__name__} declares no invalid_configs")
        capability = self.capability_under_test()
        for index, config in enumerate(self.invalid_configs):
            errors = resolve(capability.validate_config(config))
            assert errors, f"invalid_configs[{index}] was accepted: {config!r}"
            assert all(isinstance(error, ConfigError) for error in errors), (
                f"validate_config returned something other than ConfigError: {errors!r}"
            )
            assert any(error.field for error in errors), (
                f"no error for invalid_configs[{index}] names a field: {errors}"
            )

    def test_secret_fields_are_dotted_paths(self) -> None:
        secrets = self.capability_under_test().secret_fields()
        assert all(isinstance(path, str) and path for path in secrets), secrets

    def test_describe_is_json_serialisable(self) -> None:
        capability = self.capability_under_test()
        description = capability.describe()
        _assert_json(description, "describe()")
        for key in ("id", "kind", "displayName", "description", "configSchema"):
            assert key in description, f"describe() lacks {key!r}"
        assert description["id"] == capability.id
        assert description["kind"] == capability.kind


class GateContract(CapabilityContract):
    """Contract of a :class:`~shiplane_sdk.Gate`.

    ``evaluate`` is called once per valid config with :meth:`make_context`.
    """

    capability_base = Gate

    def make_capability(self) -> Gate:
        raise NotImplementedError(f"{type(self).__name__} must override make_capability()")

    def make_context(self, config: dict[str, Any]) -> GateContext:
        """The context ``evaluate`` gets for ``config`` (default: a sample release)."""
        return FakeGateContext()

    def test_evaluate_returns_a_gate_result(self) -> None:
        gate = self.capability_under_test()
        assert self.valid_configs, f"{type(self).__name__} declares no valid_configs"
        for index, config in enumerate(self.valid_configs):
            result = resolve(gate.evaluate(self.make_context(config), config))
            assert isinstance(result, GateResult), (
                f"evaluate() with valid_configs[{index}] returned {result!r}, not a GateResult"
            )
            _assert_json(result.details, "GateResult.details")


class StepTypeContract(CapabilityContract):
    """Contract of a :class:`~shiplane_sdk.StepType`.

    ``run`` is called once per valid config with :meth:`make_context`.
    """

    capability_base = StepType

    def make_capability(self) -> StepType:
        raise NotImplementedError(f"{type(self).__name__} must override make_capability()")

    def make_context(self, config: dict[str, Any]) -> StepContext:
        """The context ``run`` gets for ``config`` (default: empty inputs)."""
        return FakeStepContext()

    def test_idempotent_is_declared(self) -> None:
        assert isinstance(self.capability_under_test().idempotent, bool), "idempotent is not a bool"

    def test_run_returns_a_step_result(self) -> None:
        step = self.capability_under_test()
        assert self.valid_configs, f"{type(self).__name__} declares no valid_configs"
        for index, config in enumerate(self.valid_configs):
            result = resolve(step.run(self.make_context(config), config))
            assert isinstance(result, StepResult), (
                f"run() with valid_configs[{index}] returned {result!r}, not a StepResult"
            )
            _assert_json(result.outputs, "StepResult.outputs")


class IntegrationTypeContract(CapabilityContract):
    """Contract of an :class:`~shiplane_sdk.IntegrationType`.

    Operations (``test``, ``discover``, ...) are called with
    :meth:`operation_config`: by default the first valid config; override it to
    point at a test system the test started (a local fake of the vendor's API, a
    container), so ``valid_configs`` can stay what a real tenant would enter and
    the production schema needs no special test-only URL. The optional
    operations are checked only when the integration type supports them;
    ``list_versions`` also needs ``sample_reference``.
    """

    capability_base = IntegrationType
    #: The query passed to ``discover``.
    discover_query: ClassVar[dict[str, Any]] = {}
    #: A reference for ``list_versions``; ``None`` skips that check.
    sample_reference: ClassVar[str | None] = None
    #: The message passed to ``notify``.
    sample_message: ClassVar[NotificationMessage] = NotificationMessage(
        subject="Contract test", body="Sent by the shiplane_sdk contract tests."
    )

    def make_capability(self) -> IntegrationType:
        raise NotImplementedError(f"{type(self).__name__} must override make_capability()")

    def operation_config(self) -> dict[str, Any]:
        """The config the operations are called with (override: your test system's address)."""
        return self.first_valid_config()

    def _require(self, integration: IntegrationType, operation: str) -> None:
        if not integration.supports(operation):
            pytest.skip(f"{integration!r} does not support {operation}")

    def test_category_is_known(self) -> None:
        category = getattr(self.capability_under_test(), "category", None)
        assert category in INTEGRATION_CATEGORIES, f"category {category!r} is not one of {INTEGRATION_CATEGORIES}"

    def test_connection_test_returns_a_result(self) -> None:
        integration = self.capability_under_test()
        result = resolve(integration.test(self.operation_config()))
        assert isinstance(result, ConnectionTestResult), f"test() returned {result!r}, not a ConnectionTestResult"

    def test_discover_returns_discovered_items(self) -> None:
        integration = self.capability_under_test()
        self._require(integration, "discover")
        items = resolve(integration.discover(self.operation_config(), dict(self.discover_query)))
        assert isinstance(items, list), f"discover() returned {items!r}, not a list"
        assert all(isinstance(item, DiscoveredItem) for item in items), items

    def test_list_versions_returns_version_infos(self) -> None:
        integration = self.capability_under_test()
        self._require(integration, "list_versions")
        if self.sample_reference is None:
            pytest.skip("set sample_reference to check list_versions")
        versions = resolve(integration.list_versions(self.operation_config(), self.sample_reference))
        assert isinstance(versions, list), f"list_versions() returned {versions!r}, not a list"
        assert all(isinstance(version, VersionInfo) for version in versions), versions

    def test_health_returns_a_health_report(self) -> None:
        integration = self.capability_under_test()
        self._require(integration, "health")
        report = resolve(integration.health(self.operation_config()))
        assert isinstance(report, HealthReport), f"health() returned {report!r}, not a HealthReport"

    def test_notify_returns_none(self) -> None:
        integration = self.capability_under_test()
        self._require(integration, "notify")
        result = resolve(integration.notify(self.operation_config(), self.sample_message))
        assert result is None, f"notify() returned {result!r}, expected None"

    def test_unsupported_operations_raise_capability_not_supported(self) -> None:
        integration = self.capability_under_test()
        config = self.operation_config()
        calls: dict[str, Callable[[], object]] = {
            "discover": lambda: integration.discover(config, {}),
            "list_versions": lambda: integration.list_versions(config, "x"),
            "health": lambda: integration.health(config),
            "notify": lambda: integration.notify(config, self.sample_message),
        }
        for operation, call in calls.items():
            if not integration.supports(operation):
                with pytest.raises(CapabilityNotSupported):
                    resolve(call())


class RolloutStrategyContract(CapabilityContract):
    """Contract of a :class:`~shiplane_sdk.RolloutStrategy`.

    ``plan`` is called per valid config with ``target_count`` targets from
    :meth:`make_targets`; progressive strategies must return traffic steps.
    """

    capability_base = RolloutStrategy
    #: How many targets ``plan`` is given.
    target_count: ClassVar[int] = 5

    def make_capability(self) -> RolloutStrategy:
        raise NotImplementedError(f"{type(self).__name__} must override make_capability()")

    def make_targets(self, count: int) -> list[TargetRef]:
        """``count`` distinct targets (override to add labels your strategy reads)."""
        return [TargetRef(id=f"target-{n}", name=f"target-{n}", labels={"zone": f"zone-{n % 2}"}) for n in range(count)]

    def _plan(self, strategy: RolloutStrategy, targets: list[TargetRef], config: dict[str, Any]) -> list[Batch]:
        batches = resolve(strategy.plan(list(targets), config))
        assert isinstance(batches, list), f"plan() returned {batches!r}, not a list"
        assert all(isinstance(batch, Batch) for batch in batches), f"plan() returned non-Batch items: {batches!r}"
        return batches

    def test_plan_covers_each_target_exactly_once(self) -> None:
        strategy = self.capability_under_test()
        targets = self.make_targets(self.target_count)
        assert self.valid_configs, f"{type(self).__name__} declares no valid_configs"
        for index, config in enumerate(self.valid_configs):
            batches = self._plan(strategy, targets, config)
            assert batches, f"plan() with valid_configs[{index}] returned no batches"
            assert [batch.index for batch in batches] == list(range(len(batches))), (
                f"batch indexes are not 0..{len(batches) - 1} in order: {[b.index for b in batches]}"
            )
            assert all(batch.targets for batch in batches), "plan() returned an empty batch"
            planned = Counter(target.id for batch in batches for target in batch.targets)
            expected = Counter(target.id for target in targets)
            assert planned == expected, (
                f"plan() with valid_configs[{index}] does not cover each target exactly once: "
                f"missing {sorted((expected - planned).elements())}, "
                f"extra {sorted((planned - expected).elements())}"
            )

    def test_plan_of_no_targets_is_empty(self) -> None:
        strategy = self.capability_under_test()
        for config in self.valid_configs:
            assert self._plan(strategy, [], config) == [], "plan() of no targets is not []"

    def test_plan_is_deterministic(self) -> None:
        strategy = self.capability_under_test()
        targets = self.make_targets(self.target_count)
        for config in self.valid_configs:
            assert self._plan(strategy, targets, config) == self._plan(strategy, targets, config), (
                "plan() gave different batches for the same input (it must be pure)"
            )

    def test_steps_match_progressive(self) -> None:
        strategy = self.capability_under_test()
        for index, config in enumerate(self.valid_configs):
            steps = resolve(strategy.steps(config))
            assert isinstance(steps, list), f"steps() returned {steps!r}, not a list"
            assert all(isinstance(step, TrafficStep) for step in steps), steps
            if strategy.progressive:
                assert steps, f"progressive strategy has no steps for valid_configs[{index}]"
            else:
                assert steps == [], "a non-progressive strategy returned traffic steps"


class TargetTypeContract(CapabilityContract):
    """Contract of a :class:`~shiplane_sdk.TargetType`.

    Methods are called with a context from :meth:`make_context` for the first
    valid config; override it to point the target at a test system (a temporary
    directory, a local SSH server). Checks that a written sticker reads back.
    """

    capability_base = TargetType
    #: The manifest passed to ``deploy``.
    sample_manifest: ClassVar[dict[str, Any]] = {
        "release": {"id": "release-1", "name": "release-1"},
        "components": [{"name": "app", "version": "1.0.0", "digest": "sha256:" + "0" * 64}],
    }
    #: The sticker written and read back.
    sample_sticker: ClassVar[dict[str, Any]] = {
        "releaseId": "release-1",
        "components": [{"name": "app", "version": "1.0.0", "digest": "sha256:" + "0" * 64}],
        "deploymentJobId": "job-1",
    }

    def make_capability(self) -> TargetType:
        raise NotImplementedError(f"{type(self).__name__} must override make_capability()")

    def make_context(self, config: dict[str, Any]) -> TargetContext:
        """The context for a target configured with ``config``."""
        return FakeTargetContext.for_config(config)

    def test_deploy_returns_a_deploy_result(self) -> None:
        target_type = self.capability_under_test()
        config = self.first_valid_config()
        result = resolve(target_type.deploy(self.make_context(config), dict(self.sample_manifest)))
        assert isinstance(result, DeployResult), f"deploy() returned {result!r}, not a DeployResult"
        _assert_json(result.outputs, "DeployResult.outputs")

    def test_health_check_returns_a_health_report(self) -> None:
        target_type = self.capability_under_test()
        config = self.first_valid_config()
        report = resolve(target_type.health_check(self.make_context(config)))
        assert isinstance(report, HealthReport), f"health_check() returned {report!r}, not a HealthReport"

    def test_written_sticker_reads_back(self) -> None:
        target_type = self.capability_under_test()
        config = self.first_valid_config()
        context = self.make_context(config)
        written = resolve(target_type.write_sticker(context, dict(self.sample_sticker)))
        assert written is None, f"write_sticker() returned {written!r}, expected None"
        sticker = resolve(target_type.read_sticker(context))
        assert sticker == self.sample_sticker, f"read_sticker() returned {sticker!r} after write_sticker()"

    def test_inspect_returns_a_json_object(self) -> None:
        target_type = self.capability_under_test()
        config = self.first_valid_config()
        state = resolve(target_type.inspect(self.make_context(config)))
        assert isinstance(state, dict), f"inspect() returned {state!r}, not a dict"
        _assert_json(state, "inspect()")


class TrafficRouterContract(CapabilityContract):
    """Contract of a :class:`~shiplane_sdk.TrafficRouter`.

    Sets ``sample_weights`` with the first valid config and reads them back, so
    :meth:`make_capability` must return a router talking to a test system.
    """

    capability_base = TrafficRouter
    #: The weights applied and read back.
    sample_weights: ClassVar[dict[str, int]] = {"control": 90, "candidate": 10}

    def make_capability(self) -> TrafficRouter:
        raise NotImplementedError(f"{type(self).__name__} must override make_capability()")

    def test_set_weights_then_get_weights(self) -> None:
        router = self.capability_under_test()
        config = self.first_valid_config()
        result = resolve(router.set_weights(config, dict(self.sample_weights)))
        assert result is None, f"set_weights() returned {result!r}, expected None"
        weights = resolve(router.get_weights(config))
        assert isinstance(weights, dict), f"get_weights() returned {weights!r}, not a dict"
        assert all(
            isinstance(key, str) and isinstance(value, int) and 0 <= value <= 100 for key, value in weights.items()
        ), f"get_weights() returned {weights!r}; expected str keys and int weights in 0..100"
        assert weights == self.sample_weights, f"get_weights() returned {weights!r} after set_weights()"


class PluginContract:
    """Contract of a whole plugin (what an entry point loads).

    Override :meth:`make_plugin` to return the module or object the entry point
    names; ``plugin_name`` is the entry-point name (the plugin id).
    """

    plugin_name: ClassVar[str] = "plugin-under-test"

    def make_plugin(self) -> object:
        """Return the plugin object: the module or object holding ``@hookimpl``\\ s."""
        raise NotImplementedError(f"{type(self).__name__} must override make_plugin()")

    def test_hook_names_are_known(self) -> None:
        try:
            with registered_plugin(self.make_plugin(), name=self.plugin_name):
                pass
        except pluggy.PluginValidationError as exc:
            raise AssertionError(f"the plugin does not match the hook specs: {exc}") from exc

    def test_plugin_info_is_valid(self) -> None:
        with registered_plugin(self.make_plugin(), name=self.plugin_name) as manager:
            assert manager.hook.plugin_info.get_hookimpls(), "the plugin does not implement plugin_info"
            info = manager.hook.plugin_info()
        assert isinstance(info, PluginInfo), f"plugin_info() returned {info!r}, not a PluginInfo"
        try:
            SpecifierSet(info.sdk_requires)
        except InvalidSpecifier as exc:
            raise AssertionError(f"sdk_requires {info.sdk_requires!r} is not a specifier set") from exc

    def test_plugin_supports_this_sdk(self) -> None:
        with registered_plugin(self.make_plugin(), name=self.plugin_name) as manager:
            info = manager.hook.plugin_info()
        assert isinstance(info, PluginInfo), f"plugin_info() returned {info!r}, not a PluginInfo"
        assert info.supports_sdk(__version__), (
            f"sdk_requires {info.sdk_requires!r} excludes the installed shiplane-sdk {__version__}"
        )

    def test_registered_capabilities_have_the_right_kind(self) -> None:
        with registered_plugin(self.make_plugin(), name=self.plugin_name) as manager:
            for hook_name, base in REGISTRATION_HOOKS.items():
                hook = getattr(manager.hook, hook_name)
                if not hook.get_hookimpls():
                    continue
                ids: list[str] = []
                for returned in hook():
                    assert isinstance(returned, list), f"{hook_name}() returned {returned!r}, not a list"
                    for capability in returned:
                        assert isinstance(capability, base), (
                            f"{hook_name}() returned {capability!r}, not a {base.__name__}"
                        )
                        assert re.fullmatch(CAPABILITY_ID_PATTERN, capability.id or ""), (
                            f"{hook_name}() returned a capability with id {capability.id!r}"
                        )
                        ids.append(capability.id)
                duplicates = sorted(i for i, n in Counter(ids).items() if n > 1)
                assert not duplicates, f"{hook_name}() returned duplicate ids: {duplicates}"

    def test_plugin_health_returns_a_health_report(self) -> None:
        with registered_plugin(self.make_plugin(), name=self.plugin_name) as manager:
            if not manager.hook.plugin_health.get_hookimpls():
                pytest.skip("the plugin does not implement plugin_health")
            report = resolve(manager.hook.plugin_health())
        assert isinstance(report, HealthReport), f"plugin_health() returned {report!r}, not a HealthReport"
