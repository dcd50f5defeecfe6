"""No message of ``validate_config`` quotes a secret (``writeOnly``) value.

jsonschema's messages print the failing instance; for an error on an object or
array that holds a secret (``maxProperties``, ``oneOf``, ``enum``, ...) that
would print the secret. Each case checks that every message is free of the
secret while errors on plain values still quote them.
"""

from typing import Any

from shiplane_sdk import ConfigError, ConnectionTestResult, IntegrationType

SECRET = "TOPSECRET-123"
OTHER_SECRET = "PW-hunter2-xyz"
PLAIN = "not-a-number"
PLAIN_MESSAGE = f"{PLAIN!r} is not of type 'integer'"


def _validate(schema: dict[str, Any], config: Any) -> list[ConfigError]:
    class Sample(IntegrationType):
        id = "sample"
        category = "registry"
        config_schema = schema

        def test(self, config):
            return ConnectionTestResult(ok=True)

    return Sample().validate_config(config)


def _object(extra: dict[str, Any] | None = None, **properties: Any) -> dict[str, Any]:
    """A root object schema with a plain ``url``, an integer ``timeout`` and a secret ``token``."""
    return {
        "type": "object",
        "properties": {
            "url": {"type": "string"},
            "timeout": {"type": "integer"},
            "token": {"type": "string", "writeOnly": True},
            **properties,
        },
        **(extra or {}),
    }


def _assert_hidden(errors: list[ConfigError], *secrets: str) -> None:
    assert errors
    for error in errors:
        for secret in secrets:
            assert secret not in error.message, error


def _codes(errors: list[ConfigError]) -> set[tuple[str, str]]:
    return {(error.field, error.code) for error in errors}


def _message(errors: list[ConfigError], field: str, code: str) -> str:
    [message] = [error.message for error in errors if (error.field, error.code) == (field, code)]
    return message


def test_max_properties_on_the_root_does_not_print_the_config():
    errors = _validate(_object({"maxProperties": 2}), {"url": "u", "token": SECRET, "extra": 1})
    _assert_hidden(errors, SECRET)
    assert _codes(errors) == {("", "maxProperties")}
    assert _message(errors, "", "maxProperties") == (
        "the configuration has too many properties (maxProperties 2; value not shown)"
    )


def test_one_of_at_the_root():
    schema = _object({"oneOf": [{"required": ["url"]}, {"required": ["token"]}]})
    errors = _validate(schema, {"url": "u", "token": SECRET, "timeout": PLAIN})
    _assert_hidden(errors, SECRET)
    assert _codes(errors) == {("", "oneOf"), ("timeout", "type")}
    assert "oneOf" in _message(errors, "", "oneOf")
    assert _message(errors, "timeout", "type") == PLAIN_MESSAGE


def test_any_of():
    schema = _object({"anyOf": [{"required": ["missing-a"]}, {"required": ["missing-b"]}]})
    errors = _validate(schema, {"token": SECRET, "timeout": PLAIN})
    _assert_hidden(errors, SECRET)
    assert _codes(errors) == {("", "anyOf"), ("timeout", "type")}
    assert _message(errors, "timeout", "type") == PLAIN_MESSAGE


def test_not():
    errors = _validate(_object({"not": {"required": ["token"]}}), {"token": SECRET, "timeout": PLAIN})
    _assert_hidden(errors, SECRET)
    assert _codes(errors) == {("", "not"), ("timeout", "type")}
    assert _message(errors, "timeout", "type") == PLAIN_MESSAGE


def test_enum_and_const_on_an_object_holding_a_secret():
    schema = _object(
        auth={
            "type": "object",
            "properties": {"user": {"type": "string"}, "key": {"type": "string", "writeOnly": True}},
            "enum": [{"user": "a", "key": "b"}],
        },
        creds={
            "type": "object",
            "properties": {"key": {"type": "string", "writeOnly": True}},
            "const": {"key": "expected"},
        },
    )
    config = {"auth": {"user": "u", "key": SECRET}, "creds": {"key": OTHER_SECRET}, "timeout": PLAIN}
    errors = _validate(schema, config)
    _assert_hidden(errors, SECRET, OTHER_SECRET)
    assert _codes(errors) == {("auth", "enum"), ("creds", "const"), ("timeout", "type")}
    assert "not one of the allowed values" in _message(errors, "auth", "enum")
    assert _message(errors, "timeout", "type") == PLAIN_MESSAGE


def test_a_map_of_endpoints_with_a_secret_password():
    endpoint = {
        "type": "object",
        "properties": {"password": {"type": "string", "writeOnly": True}},
        "additionalProperties": {"type": "string", "maxLength": 4},
        "minProperties": 2,
        "maxProperties": 3,
    }
    schema = _object(endpoints={"type": "object", "additionalProperties": endpoint, "maxProperties": 2})
    config = {
        "endpoints": {
            "a": {"password": SECRET},
            "b": {"password": OTHER_SECRET, "url": "too-long-url", "port": 5},
            "c": {"password": "PW-third-one", "x": "1", "y": "2", "z": "3"},
        },
        "timeout": PLAIN,
    }
    errors = _validate(schema, config)
    _assert_hidden(errors, SECRET, OTHER_SECRET, "PW-third-one")
    assert _codes(errors) == {
        ("endpoints", "maxProperties"),
        ("endpoints.a", "minProperties"),
        ("endpoints.b.url", "maxLength"),
        ("endpoints.b.port", "type"),
        ("endpoints.c", "maxProperties"),
        ("timeout", "type"),
    }
    assert _message(errors, "endpoints.a", "minProperties") == (
        "the value of endpoints.a has too few properties (minProperties 2; value not shown)"
    )
    # Errors on the endpoints' plain values still quote them.
    assert _message(errors, "endpoints.b.url", "maxLength") == "'too-long-url' is too long"
    assert _message(errors, "endpoints.b.port", "type") == "5 is not of type 'string'"
    assert _message(errors, "timeout", "type") == PLAIN_MESSAGE


def test_a_secret_inside_an_array_item():
    item = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "password": {"type": "string", "writeOnly": True}},
        "not": {"required": ["forbidden"]},
    }
    schema = _object(items={"type": "array", "items": item, "maxItems": 1, "uniqueItems": True})
    config = {
        "items": [{"name": "a", "password": SECRET}, {"name": "a", "password": SECRET, "forbidden": 1}],
        "timeout": PLAIN,
    }
    errors = _validate(schema, config)
    _assert_hidden(errors, SECRET)
    assert _codes(errors) == {("items", "maxItems"), ("items.1", "not"), ("timeout", "type")}
    assert _message(errors, "items", "maxItems") == (
        "the value of items has too many items (maxItems 1; value not shown)"
    )

    errors = _validate(schema, {"items": [{"name": 3, "password": SECRET}, {"name": 3, "password": SECRET}]})
    _assert_hidden(errors, SECRET)
    assert ("items", "uniqueItems") in _codes(errors)
    assert _message(errors, "items.0.name", "type") == "3 is not of type 'string'"


def test_other_keywords_on_a_parent_holding_a_secret():
    cases: list[tuple[dict[str, Any], str]] = [
        ({"dependentSchemas": {"token": {"maxProperties": 1}}}, "maxProperties"),
        ({"if": {"required": ["token"]}, "then": {"maxProperties": 1}}, "maxProperties"),
        ({"if": {"required": ["nope"]}, "else": {"const": {}}}, "const"),
        ({"allOf": [{"type": "array"}]}, "type"),
        ({"unevaluatedProperties": {"type": "integer"}}, "unevaluatedProperties"),
    ]
    for extra, code in cases:
        errors = _validate(_object(extra), {"url": "u", "token": SECRET, "other": "x"})
        _assert_hidden(errors, SECRET)
        assert ("", code) in _codes(errors), (extra, errors)
    errors = _validate(_object({"type": "array"}), {"token": SECRET})
    assert [(e.field, e.code, e.message) for e in errors] == [
        ("", "type", "the configuration is not of type 'array' (type; value not shown)")
    ]


def test_parent_errors_keep_their_message_when_no_secret_is_present():
    errors = _validate(_object({"maxProperties": 1}), {"url": "u", "timeout": 1})
    assert [error.message for error in errors] == ["{'url': 'u', 'timeout': 1} has too many properties"]


def test_property_names_and_structural_errors_keep_their_message():
    schema = _object({"propertyNames": {"maxLength": 8}, "required": ["url"], "additionalProperties": False})
    errors = _validate(schema, {"token": SECRET, "longer-name": 1})
    _assert_hidden(errors, SECRET)
    messages = {(error.field, error.code): error.message for error in errors}
    assert messages == {
        ("", "maxLength"): "'longer-name' is too long",
        ("url", "required"): "'url' is a required property",
        ("longer-name", "additionalProperties"): "additional property 'longer-name' is not allowed",
    }


def test_secret_values_are_masked_in_any_message():
    # Defense in depth: a plain value equal to a secret is masked too, as is the
    # escaped form of a secret holding quotes or newlines.
    tricky = "it's\na secret"
    schema = _object(alias={"type": "integer"}, other={"type": "integer"})
    errors = _validate(schema, {"token": SECRET, "alias": SECRET, "other": tricky})
    assert _message(errors, "alias", "type") == "*** is not of type 'integer'"
    _assert_hidden(errors, SECRET)
    errors = _validate(_object(extra={"maxProperties": 0}), {"token": tricky, "other": tricky})
    _assert_hidden(errors, tricky, repr(tricky)[1:-1])
    # Short secrets (under 3 characters) are not masked elsewhere.
    errors = _validate(schema, {"token": "ab", "alias": "ab"})
    assert _message(errors, "alias", "type") == "'ab' is not of type 'integer'"
