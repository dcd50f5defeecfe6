"""The contract kit: good capabilities pass the inherited tests, broken ones fail them.

Classes named ``Test*`` are collected by pytest and run the inherited contract
tests; the ``Broken*`` ones are not collected, their checks are called directly.
"""

import asyncio

import pytest

from shiplane_sdk import (
    Batch,
    ConnectionTestResult,
    DeployResult,
    DiscoveredItem,
    Gate,
    GateResult,
    HealthReport,
    IntegrationType,
    PluginInfo,
    RolloutStrategy,
    StepResult,
    StepType,
    TargetType,
    TrafficRouter,
    TrafficStep,
    VersionInfo,
    hookimpl,
)
from shiplane_sdk.testing import (
    FakeGateContext,
    FakeStepContext,
    GateContract,
    IntegrationTypeContract,
    PluginContract,
    RolloutStrategyContract,
    StepTypeContract,
    TargetTypeContract,
    TrafficRouterContract,
)

# --- capabilities -----------------------------------------------------------


class MaxCritical(Gate):
    id = "max-critical"
    display_name = "Maximum critical vulnerabilities"
    description = "Blocks releases with more critical vulnerabilities than allowed."
    config_schema = {
        "type": "object",
        "properties": {"max": {"type": "integer", "minimum": 0}},
        "required": ["max"],
        "additionalProperties": False,
    }

    def evaluate(self, ctx, config):
        critical = sum(c.get("criticalVulnerabilities", 0) for c in ctx.release["components"])
        details = {"critical": critical, "max": config["max"]}
        ctx.log(f"{critical} critical vulnerabilities, {config['max']} allowed")
        if critical > config["max"]:
            return GateResult.failed("too many critical vulnerabilities", details)
        return GateResult.passed("within limits", details)


class AsyncMaxCritical(MaxCritical):
    id = "max-critical-async"

    async def evaluate(self, ctx, config):
        await asyncio.sleep(0)
        return MaxCritical.evaluate(self, ctx, config)


class Echo(StepType):
    id = "echo"
    display_name = "Echo"
    description = "Logs a message and outputs it."
    idempotent = True
    config_schema = {"type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]}

    async def run(self, ctx, config):
        ctx.log(config["message"])
        ctx.write_artifact("message.txt", config["message"].encode(), "text/plain")
        return StepResult(status="succeeded", outputs={"message": config["message"]})


class MemoryRegistry(IntegrationType):
    id = "memory-registry"
    display_name = "In-memory registry"
    description = "A registry held in a dict."
    category = "registry"
    config_schema = {
        "type": "object",
        "properties": {"url": {"type": "string"}, "token": {"type": "string", "writeOnly": True}},
        "required": ["url"],
    }
    images = {"team/api": ["1.0.0", "1.1.0"]}

    def test(self, config):
        return ConnectionTestResult(ok=True, message="reachable")

    def discover(self, config, query):
        return [DiscoveredItem(kind="image", reference=name, name=name) for name in self.images]

    async def list_versions(self, config, reference):
        return [VersionInfo(tag=tag, digest=f"sha256:{n:064d}") for n, tag in enumerate(self.images[reference])]


class Rolling(RolloutStrategy):
    id = "rolling"
    display_name = "Rolling"
    description = "Deploys to batch_size targets at a time."
    config_schema = {
        "type": "object",
        "properties": {"batch_size": {"type": "integer", "minimum": 1}},
        "required": ["batch_size"],
    }

    def plan(self, targets, config):
        size = config["batch_size"]
        return [
            Batch(index=i, targets=targets[start : start + size])
            for i, start in enumerate(range(0, len(targets), size))
        ]


class Canary(Rolling):
    id = "canary"
    progressive = True

    def steps(self, config):
        return [TrafficStep(weight=10, pause_seconds=60), TrafficStep(weight=50, manual=True), TrafficStep(weight=100)]


class MemoryTarget(TargetType):
    id = "memory"
    display_name = "Memory"
    description = "A target that keeps everything in memory."
    config_schema = {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}

    def __init__(self):
        self.stickers = {}
        self.deployed = {}

    def deploy(self, ctx, manifest):
        self.deployed[ctx.target["id"]] = manifest
        return DeployResult(ok=True, outputs={"components": len(manifest["components"])})

    async def health_check(self, ctx):
        return HealthReport(status="ok")

    def read_sticker(self, ctx):
        return self.stickers.get(ctx.target["id"])

    def write_sticker(self, ctx, sticker):
        self.stickers[ctx.target["id"]] = dict(sticker)

    def inspect(self, ctx):
        return {"manifest": self.deployed.get(ctx.target["id"])}


class MemoryRouter(TrafficRouter):
    id = "memory-router"
    display_name = "Memory router"
    description = "Weights in a dict."
    config_schema = {"type": "object", "properties": {"upstream": {"type": "string"}}, "required": ["upstream"]}

    def __init__(self):
        self.weights = {"control": 100, "candidate": 0}

    async def get_weights(self, config):
        return dict(self.weights)

    def set_weights(self, config, weights):
        self.weights = dict(weights)


class SamplePlugin:
    @hookimpl
    def plugin_info(self):
        return PluginInfo(name="Sample", version="1.0.0", vendor="Acme", sdk_requires=">=0.1,<0.2")

    @hookimpl
    def register_gates(self):
        return [MaxCritical(), AsyncMaxCritical()]

    @hookimpl
    def register_step_types(self):
        return [Echo()]

    @hookimpl
    def register_rollout_strategies(self):
        return [Rolling(), Canary()]

    @hookimpl
    async def plugin_health(self):
        return HealthReport(status="ok")


# --- good capabilities pass the inherited tests -----------------------------


class TestMaxCriticalGate(GateContract):
    valid_configs = [{"max": 0}, {"max": 5}]
    invalid_configs = [{}, {"max": -1}, {"max": "none"}, {"max": 1, "min": 0}]

    def make_capability(self):
        return MaxCritical()


class TestAsyncGate(TestMaxCriticalGate):
    def make_capability(self):
        return AsyncMaxCritical()


class TestEchoStep(StepTypeContract):
    valid_configs = [{"message": "hello"}]
    invalid_configs = [{}, {"message": 1}]

    def make_capability(self):
        return Echo()


class TestMemoryRegistry(IntegrationTypeContract):
    valid_configs = [{"url": "https://registry.example", "token": "t"}]
    invalid_configs = [{"token": "t"}]
    sample_reference = "team/api"

    def make_capability(self):
        return MemoryRegistry()

    def operation_config(self):
        # The operations run against the test system; valid_configs stay what a tenant enters.
        return {"url": "memory://test-system", "token": "t"}


class TestOperationConfigIsWhatOperationsGet(IntegrationTypeContract):
    """The kit calls operations with operation_config(), not the first valid config."""

    valid_configs = [{"url": "https://registry.example", "token": "t"}]
    invalid_configs = [{"token": "t"}]
    sample_reference = "team/api"

    def make_capability(self):
        seen = self.seen = []

        class Recording(MemoryRegistry):
            def test(self, config):
                seen.append(config["url"])
                return super().test(config)

        return Recording()

    def operation_config(self):
        return {"url": "memory://elsewhere", "token": "t"}

    def test_the_connection_test_went_to_the_test_system(self) -> None:
        self.test_connection_test_returns_a_result()
        assert self.seen == ["memory://elsewhere"]


class TestRolling(RolloutStrategyContract):
    valid_configs = [{"batch_size": 1}, {"batch_size": 2}, {"batch_size": 10}]
    invalid_configs = [{"batch_size": 0}]

    def make_capability(self):
        return Rolling()


class TestCanary(TestRolling):
    def make_capability(self):
        return Canary()


class TestMemoryTarget(TargetTypeContract):
    valid_configs = [{"path": "/srv/app"}]
    invalid_configs = [{"path": 3}]

    def make_capability(self):
        return MemoryTarget()


class TestMemoryRouter(TrafficRouterContract):
    valid_configs = [{"upstream": "app"}]
    invalid_configs = [{}]

    def make_capability(self):
        return MemoryRouter()


class TestSamplePlugin(PluginContract):
    plugin_name = "sample"

    def make_plugin(self):
        return SamplePlugin()


# --- broken capabilities fail them -------------------------------------------


class BrokenGateContract(GateContract):
    valid_configs = [{"max": 1}]
    invalid_configs = [{"max": -1}]

    def make_capability(self):
        return MaxCritical()


def test_a_gate_returning_a_dict_fails_the_result_check():
    class DictGate(MaxCritical):
        def evaluate(self, ctx, config):
            return {"status": "pass"}

    contract = BrokenGateContract()
    contract.make_capability = DictGate
    with pytest.raises(AssertionError, match="not a GateResult"):
        contract.test_evaluate_returns_a_gate_result()


def test_an_async_gate_returning_the_wrong_type_fails_too():
    class AsyncDictGate(MaxCritical):
        async def evaluate(self, ctx, config):
            return "pass"

    contract = BrokenGateContract()
    contract.make_capability = AsyncDictGate
    with pytest.raises(AssertionError, match="not a GateResult"):
        contract.test_evaluate_returns_a_gate_result()


@pytest.mark.parametrize("bad_id", ["", "Max Critical", "max--critical", "-max", "x" * 65])
def test_an_id_that_is_not_a_slug_fails(bad_id):
    class BadId(MaxCritical):
        id = bad_id

    contract = BrokenGateContract()
    contract.make_capability = BadId
    with pytest.raises(AssertionError):
        contract.test_id_is_a_slug()


def test_missing_display_name_fails():
    class Nameless(MaxCritical):
        display_name = " "

    contract = BrokenGateContract()
    contract.make_capability = Nameless
    with pytest.raises(AssertionError, match="display_name"):
        contract.test_display_name_and_description_are_set()


def test_an_invalid_schema_fails():
    class BadSchema(MaxCritical):
        config_schema = {"type": "object", "properties": {"max": {"type": "int"}}}

    contract = BrokenGateContract()
    contract.make_capability = BadSchema
    with pytest.raises(AssertionError, match="draft 2020-12"):
        contract.test_config_schema_is_valid_draft_2020_12()


def test_an_invalid_config_that_is_accepted_fails():
    class Lenient(MaxCritical):
        config_schema = {"type": "object"}

    contract = BrokenGateContract()
    contract.make_capability = Lenient
    with pytest.raises(AssertionError, match="was accepted"):
        contract.test_invalid_configs_are_rejected_with_field_paths()


def test_a_valid_config_that_is_rejected_fails():
    contract = BrokenGateContract()
    contract.valid_configs = [{"max": "many"}]
    with pytest.raises(AssertionError, match="was rejected"):
        contract.test_valid_configs_have_no_errors()


def test_no_valid_configs_fails():
    contract = BrokenGateContract()
    contract.valid_configs = []
    with pytest.raises(AssertionError, match="no valid_configs"):
        contract.test_valid_configs_have_no_errors()


def test_a_capability_of_another_kind_fails():
    contract = BrokenGateContract()
    contract.make_capability = Echo
    with pytest.raises(AssertionError, match="not a Gate"):
        contract.test_capability_is_of_the_contract_kind()


def test_describe_that_is_not_json_fails():
    class Odd(MaxCritical):
        def describe(self):
            return {**super().describe(), "when": object()}

    contract = BrokenGateContract()
    contract.make_capability = Odd
    with pytest.raises(AssertionError, match="JSON"):
        contract.test_describe_is_json_serialisable()


def test_a_plan_that_drops_a_target_fails():
    class Lossy(Rolling):
        def plan(self, targets, config):
            return super().plan(targets[1:], config)

    contract = TestRolling()
    contract.make_capability = Lossy
    with pytest.raises(AssertionError, match="exactly once"):
        contract.test_plan_covers_each_target_exactly_once()


def test_a_plan_that_repeats_a_target_fails():
    class Doubling(Rolling):
        def plan(self, targets, config):
            return super().plan(targets + targets[:1], config)

    contract = TestRolling()
    contract.make_capability = Doubling
    with pytest.raises(AssertionError, match="exactly once"):
        contract.test_plan_covers_each_target_exactly_once()


def test_a_progressive_strategy_without_steps_fails():
    class StepLess(Rolling):
        progressive = True

        def steps(self, config):
            return []

    contract = TestRolling()
    contract.make_capability = StepLess
    with pytest.raises(AssertionError, match="no steps"):
        contract.test_steps_match_progressive()


def test_a_sticker_that_does_not_read_back_fails():
    class Forgetful(MemoryTarget):
        def write_sticker(self, ctx, sticker):
            pass

    contract = TestMemoryTarget()
    contract.make_capability = Forgetful
    with pytest.raises(AssertionError, match="read_sticker"):
        contract.test_written_sticker_reads_back()


def test_a_router_that_ignores_weights_fails():
    class Stuck(MemoryRouter):
        def set_weights(self, config, weights):
            pass

    contract = TestMemoryRouter()
    contract.make_capability = Stuck
    with pytest.raises(AssertionError, match="after set_weights"):
        contract.test_set_weights_then_get_weights()


def test_an_integration_with_an_unknown_category_fails():
    class Odd(MemoryRegistry):
        category = "database"

    contract = TestMemoryRegistry()
    contract.make_capability = Odd
    with pytest.raises(AssertionError, match="category"):
        contract.test_category_is_known()


class BrokenPluginContract(PluginContract):
    plugin_name = "broken"

    def __init__(self, plugin):
        self.plugin = plugin

    def make_plugin(self):
        return self.plugin


def test_a_plugin_with_a_misspelled_hook_fails():
    class Typo:
        @hookimpl
        def register_gatez(self):
            return []

    with pytest.raises(AssertionError, match="register_gatez"):
        BrokenPluginContract(Typo()).test_hook_names_are_known()


def test_a_plugin_excluding_this_sdk_fails():
    class Future:
        @hookimpl
        def plugin_info(self):
            return PluginInfo(name="Future", version="1", sdk_requires=">=2")

    contract = BrokenPluginContract(Future())
    contract.test_plugin_info_is_valid()
    with pytest.raises(AssertionError, match="excludes"):
        contract.test_plugin_supports_this_sdk()


def test_a_plugin_without_plugin_info_fails():
    class Anonymous:
        @hookimpl
        def register_gates(self):
            return [MaxCritical()]

    with pytest.raises(AssertionError, match="plugin_info"):
        BrokenPluginContract(Anonymous()).test_plugin_info_is_valid()


def test_a_plugin_registering_the_wrong_kind_fails():
    class Confused:
        @hookimpl
        def register_step_types(self):
            return [MaxCritical()]

    with pytest.raises(AssertionError, match="not a StepType"):
        BrokenPluginContract(Confused()).test_registered_capabilities_have_the_right_kind()


def test_a_plugin_registering_duplicate_ids_fails():
    class Twice:
        @hookimpl
        def register_gates(self):
            return [MaxCritical(), MaxCritical()]

    with pytest.raises(AssertionError, match="duplicate"):
        BrokenPluginContract(Twice()).test_registered_capabilities_have_the_right_kind()


def test_the_gate_logic_itself():
    context = FakeGateContext(release={"components": [{"criticalVulnerabilities": 2}]})
    result = MaxCritical().evaluate(context, {"max": 1})
    assert result.status == "fail" and result.details == {"critical": 2, "max": 1}
    assert context.logs == ["2 critical vulnerabilities, 1 allowed"]
    step_context = FakeStepContext()
    asyncio.run(Echo().run(step_context, {"message": "hi"}))
    assert step_context.artifact("message.txt").content == b"hi"
