import pytest

from shiplane_sdk import (
    CapabilityNotSupported,
    ConfigError,
    ConfigValidationError,
    ConnectionTestResult,
    Gate,
    GateResult,
    IntegrationType,
    RolloutStrategy,
    TrafficStep,
)
from shiplane_sdk.testing import resolve

SCHEMA = {
    "type": "object",
    "properties": {
        "url": {"type": "string", "format": "uri", "minLength": 8},
        "timeout": {"type": "integer", "minimum": 1},
        "since": {"type": "string", "format": "date"},
        "auth": {
            "type": "object",
            "properties": {
                "username": {"type": "string"},
                "token": {"type": "string", "writeOnly": True, "minLength": 10},
            },
            "required": ["username", "token"],
            "additionalProperties": False,
        },
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "password": {"type": "string", "writeOnly": True}},
                "required": ["name"],
            },
        },
        "proxy": {"$ref": "#/$defs/proxy"},
    },
    "required": ["url"],
    "$defs": {
        "proxy": {
            "type": "object",
            "properties": {"host": {"type": "string"}, "secret": {"$ref": "#/$defs/secret"}},
        },
        "secret": {"type": "string", "writeOnly": True},
    },
}


class Registry(IntegrationType):
    id = "sample-registry"
    display_name = "Sample registry"
    description = "A registry for tests."
    category = "registry"
    config_schema = SCHEMA

    def test(self, config):
        return ConnectionTestResult(ok=True)

    async def list_versions(self, config, reference):
        return []


def _by_field(errors):
    return {error.field: error for error in errors}


def test_a_valid_config_has_no_errors():
    config = {"url": "https://registry.example", "auth": {"username": "u", "token": "0123456789"}}
    assert Registry().validate_config(config) == []


def test_every_violation_is_reported_with_a_dotted_path():
    config = {
        "timeout": 0,
        "auth": {"username": 5, "extra": True, "other": 1},
        "items": [{"name": "a"}, {"password": "x"}, {"name": 3}],
    }
    errors = Registry().validate_config(config)
    assert all(isinstance(error, ConfigError) for error in errors)
    fields = {(error.field, error.code) for error in errors}
    assert fields == {
        ("url", "required"),
        ("timeout", "minimum"),
        ("auth.username", "type"),
        ("auth.token", "required"),
        ("auth.extra", "additionalProperties"),
        ("auth.other", "additionalProperties"),
        ("items.1.name", "required"),
        ("items.2.name", "type"),
    }
    assert _by_field(errors)["url"].message == "'url' is a required property"


def test_several_missing_required_properties_each_get_their_path():
    errors = Registry().validate_config({"url": "https://registry.example", "auth": {}})
    assert sorted(e.field for e in errors) == ["auth.token", "auth.username"]


def test_formats_are_checked():
    errors = Registry().validate_config({"url": "https://registry.example", "since": "yesterday"})
    assert [(e.field, e.code) for e in errors] == [("since", "format")]


def test_a_non_object_config_is_a_whole_config_error():
    errors = Registry().validate_config(["a"])
    assert [(e.field, e.code) for e in errors] == [("", "type")]


def test_messages_about_secret_values_do_not_quote_them():
    errors = Registry().validate_config(
        {"url": "https://registry.example", "auth": {"username": "u", "token": "hunter2"}}
    )
    [error] = errors
    assert (error.field, error.code) == ("auth.token", "minLength")
    assert "hunter2" not in error.message
    assert "secret" in error.message


def test_require_valid_config_raises_with_every_error():
    with pytest.raises(ConfigValidationError) as raised:
        Registry().require_valid_config({"timeout": "soon"})
    assert {e.field for e in raised.value.errors} == {"url", "timeout"}
    assert "url" in str(raised.value) and "timeout" in str(raised.value)
    assert isinstance(raised.value, ValueError)


def test_secret_fields_follow_nested_objects_arrays_and_refs():
    assert Registry().secret_fields() == ["auth.token", "items.*.password", "proxy.secret"]


def test_secret_fields_in_combinators_and_maps():
    class Notifier(Registry):
        config_schema = {
            "type": "object",
            "properties": {
                "headers": {"type": "object", "additionalProperties": {"type": "string", "writeOnly": True}}
            },
            "oneOf": [
                {"properties": {"webhook": {"type": "object", "properties": {"key": {"writeOnly": True}}}}},
                {"properties": {"apiKey": {"type": "string", "writeOnly": True}}},
            ],
        }

    assert Notifier().secret_fields() == ["headers.*", "webhook.key", "apiKey"]


def test_default_schema_accepts_an_empty_object():
    class Plain(Gate):
        id = "plain"

        def evaluate(self, ctx, config):
            return GateResult.passed()

    assert Plain().validate_config({}) == []
    assert Plain().secret_fields() == []
    assert Plain().describe() == {
        "id": "plain",
        "kind": "gate",
        "displayName": "",
        "description": "",
        "configSchema": {"type": "object", "properties": {}},
    }


def test_integration_type_optional_operations():
    registry = Registry()
    assert [op for op in IntegrationType.OPERATIONS if registry.supports(op)] == ["test", "list_versions"]
    with pytest.raises(CapabilityNotSupported):
        registry.discover({}, {})
    with pytest.raises(CapabilityNotSupported):
        registry.notify({}, None)
    with pytest.raises(NotImplementedError):
        registry.health({})
    assert resolve(registry.list_versions({}, "team/app")) == []
    with pytest.raises(ValueError):
        registry.supports("delete")
    description = registry.describe()
    assert description["category"] == "registry"
    assert description["operations"] == ["test", "list_versions"]
    assert description["kind"] == "integration_type"


def test_abstract_methods_must_be_implemented():
    class Incomplete(Gate):
        id = "incomplete"

    with pytest.raises(TypeError):
        Incomplete()


def test_rollout_strategy_steps_default():
    class AllAtOnce(RolloutStrategy):
        id = "all-at-once"

        def plan(self, targets, config):
            return []

    class Canary(AllAtOnce):
        id = "canary"
        progressive = True

    class GoodCanary(Canary):
        def steps(self, config):
            return [TrafficStep(weight=10, pause_seconds=60), TrafficStep(weight=100)]

    assert AllAtOnce().steps({}) == []
    with pytest.raises(CapabilityNotSupported):
        Canary().steps({})
    assert [s.weight for s in GoodCanary().steps({})] == [10, 100]
    assert GoodCanary().describe()["progressive"] is True
    assert repr(GoodCanary()) == "<GoodCanary rollout_strategy 'canary'>"


@pytest.mark.parametrize(
    ("schema", "secrets"),
    [
        ({"properties": {"a": {"type": "string", "writeOnly": True}}}, ["a"]),
        ({"$defs": {"s": {"writeOnly": True}}, "properties": {"a": {"$ref": "#/$defs/s"}}}, ["a"]),
        ({"allOf": [{"properties": {"a": {"writeOnly": True}}}]}, ["a"]),
        ({"anyOf": [{"properties": {"a": {"writeOnly": True}}}]}, ["a"]),
        ({"oneOf": [{"properties": {"a": {"writeOnly": True}}}]}, ["a"]),
        ({"if": {"properties": {"a": {"writeOnly": True}}}}, ["a"]),
        ({"then": {"properties": {"a": {"writeOnly": True}}}}, ["a"]),
        ({"else": {"properties": {"a": {"writeOnly": True}}}}, ["a"]),
        ({"not": {"properties": {"a": {"writeOnly": True}}}}, ["a"]),
        ({"dependentSchemas": {"b": {"properties": {"a": {"writeOnly": True}}}}}, ["a"]),
        ({"unevaluatedProperties": {"writeOnly": True}}, ["*"]),
        ({"additionalProperties": {"properties": {"p": {"writeOnly": True}}}}, ["*.p"]),
        ({"properties": {"l": {"unevaluatedItems": {"writeOnly": True}}}}, ["l.*"]),
        ({"properties": {"l": {"prefixItems": [{}, {"writeOnly": True}]}}}, ["l.1"]),
        ({"patternProperties": {"^x": {"writeOnly": True}}}, ["*"]),
    ],
)
def test_write_only_is_found_wherever_the_schema_puts_it(schema: dict, secrets: list[str]) -> None:
    from shiplane_sdk import Gate

    class Probe(Gate):
        id = "probe"
        config_schema = {"type": "object", **schema}

        def evaluate(self, ctx, config):  # type: ignore[no-untyped-def]
            raise NotImplementedError

    assert Probe().secret_fields() == secrets


def test_destination_fields_are_uri_and_hostname_properties_and_the_named_ones() -> None:
    from shiplane_sdk import Gate

    class Probe(Gate):
        id = "probe"
        config_schema = {
            "type": "object",
            "properties": {
                "url": {"type": "string", "format": "uri"},
                "host": {"type": "string", "format": "hostname"},
                "nested": {"properties": {"endpoint": {"format": "uri"}}},
                "region": {"type": "string"},
                "name": {"type": "string"},
            },
        }
        secret_destinations = ["region"]

        def evaluate(self, ctx, config):  # type: ignore[no-untyped-def]
            raise NotImplementedError

    assert sorted(Probe().destination_fields()) == ["host", "nested.endpoint", "region", "url"]
