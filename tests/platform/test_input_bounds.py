"""Input the database cannot take is a 400 (or 413) in the envelope, never a 500.

Each case once gave 500 INTERNAL_ERROR: a page whose OFFSET overflows, filter
integers beyond the column's range, datetimes that overflow when converted to UTC,
NUL characters (PostgreSQL text cannot hold them) and bodies of any size. The
tests go through the real endpoints and check that nothing was stored.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from shiplane.app import create_app
from shiplane.platform.database import UTCDateTime
from shiplane.platform.jwt import mint_token
from shiplane.platform.settings import Settings
from sqlalchemy.dialects import postgresql, sqlite

from tests.conftest import Caller, assert_error, make_settings

ENVIRONMENTS = "/api/v1/environments"
AUDIT = "/api/v1/audit-events"
INSTANCES = "/api/v1/plugin-instances"
RATE_HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "ratelimit")


def field_errors(error: dict[str, Any]) -> dict[str, str]:
    return {item["field"]: item["code"] for item in error["validationErrors"]}


def environment_count(caller: Caller) -> int:
    response = caller.get(ENVIRONMENTS)
    assert response.status_code == 200, response.text
    return int(response.json()["meta"]["pagination"]["totalItems"])


def instance_count(caller: Caller) -> int:
    response = caller.get(INSTANCES)
    assert response.status_code == 200, response.text
    return int(response.json()["meta"]["pagination"]["totalItems"])


def list_with_filter(caller: Caller, path: str, document: Any) -> Any:
    raw = document if isinstance(document, str) else json.dumps(document)
    return caller.get(path, params={"filter": raw})


def assert_filter_refused(response: Any) -> dict[str, Any]:
    error = assert_error(response, 400, "INVALID_FILTER")
    assert error["details"] == {"parameter": "filter"}
    assert field_errors(error) == {"filter": "invalid_filter"}
    return error


# --- page ---------------------------------------------------------------------


@pytest.mark.parametrize("path", [ENVIRONMENTS, AUDIT])
@pytest.mark.parametrize("page", ["100000000000000000000", "9223372036854775807", "1000000001"])
def test_a_page_whose_offset_would_overflow_is_refused(admin: Caller, path: str, page: str) -> None:
    error = assert_error(admin.get(path, params={"page": page, "pageSize": "100"}), 400, "VALIDATION_ERROR")
    assert error["details"] == {"parameter": "page"}
    assert field_errors(error) == {"page": "out_of_range"}
    assert "1000000000" in error["message"]


@pytest.mark.parametrize("path", [ENVIRONMENTS, AUDIT])
def test_the_largest_page_is_an_empty_page(admin: Caller, path: str) -> None:
    response = admin.get(path, params={"page": "1000000000", "pageSize": "100"})
    assert response.status_code == 200, response.text
    assert response.json()["data"] == []
    assert response.json()["meta"]["pagination"]["page"] == 1_000_000_000


@pytest.mark.parametrize("page", ["1_0", " 2", "１", "1" * 5000, "1.0"])
def test_a_page_that_is_not_plain_digits_is_refused(admin: Caller, page: str) -> None:
    error = assert_error(admin.get(ENVIRONMENTS, params={"page": page}), 400, "VALIDATION_ERROR")
    assert field_errors(error) == {"page": "int_parsing"}


def test_in_memory_lists_bound_the_page_too(admin: Caller) -> None:
    error = assert_error(admin.get("/api/v1/plugins", params={"page": "1" + "0" * 20}), 400, "VALIDATION_ERROR")
    assert field_errors(error) == {"page": "out_of_range"}


# --- integer filter values ----------------------------------------------------


@pytest.mark.parametrize(
    "document",
    [
        {"order": 1099511627776},
        {"order": 2147483648},
        {"order": -2147483649},
        {"order": {"$gt": 100000000000000000000}},
        {"order": {"$in": [1, 2, 1099511627776]}},
        {"$or": [{"order": 1}, {"order": {"$lte": -(2**63)}}]},
    ],
)
def test_integer_filter_values_outside_a_32_bit_column_are_refused(admin: Caller, document: Any) -> None:
    error = assert_filter_refused(list_with_filter(admin, ENVIRONMENTS, document))
    assert "'order' takes an integer between -2147483648 and 2147483647" in error["message"]


@pytest.mark.parametrize("raw", ['{"order": 1e20}', '{"order": 1.0}', '{"order": {"$gte": 1e400}}'])
def test_floats_are_not_integers(admin: Caller, raw: str) -> None:
    error = assert_filter_refused(list_with_filter(admin, ENVIRONMENTS, raw))
    assert "'order' takes an integer value" in error["message"]


def test_an_integer_too_long_to_parse_is_refused(admin: Caller) -> None:
    assert_filter_refused(list_with_filter(admin, ENVIRONMENTS, '{"order": ' + "9" * 5000 + "}"))


def test_integer_filter_values_at_the_32_bit_bounds_are_accepted(admin: Caller) -> None:
    document = {"order": {"$gte": -(2**31), "$lte": 2**31 - 1}}
    response = list_with_filter(admin, ENVIRONMENTS, document)
    assert response.status_code == 200, response.text


def test_the_audit_sequence_is_64_bit(admin: Caller) -> None:
    admin.post(ENVIRONMENTS, json={"name": "staging"})  # at least one event
    ok = list_with_filter(admin, AUDIT, {"sequence": {"$lt": 1099511627776, "$gte": -(2**63)}})
    assert ok.status_code == 200, ok.text
    assert ok.json()["meta"]["pagination"]["totalItems"] >= 1
    assert list_with_filter(admin, AUDIT, {"sequence": 2**63 - 1}).status_code == 200
    error = assert_filter_refused(list_with_filter(admin, AUDIT, {"sequence": 2**63}))
    assert "between -9223372036854775808 and 9223372036854775807" in error["message"]
    assert_filter_refused(list_with_filter(admin, AUDIT, {"sequence": {"$gt": -(2**63) - 1}}))
    assert_filter_refused(list_with_filter(admin, AUDIT, '{"sequence": 1e20}'))


# --- datetime filter values ---------------------------------------------------


@pytest.mark.parametrize(
    ("path", "document"),
    [
        (ENVIRONMENTS, {"createdAt": {"$gt": "0001-01-01T00:00:00+01:00"}}),
        (ENVIRONMENTS, {"updatedAt": {"$lt": "9999-12-31T23:59:59-01:00"}}),
        (ENVIRONMENTS, {"createdAt": {"$in": ["2026-01-01T00:00:00Z", "0001-01-01T00:30:00+05:00"]}}),
        (AUDIT, {"occurredAt": {"$gte": "0001-01-01T00:00:00+14:00"}}),
        (AUDIT, {"occurredAt": "9999-12-31T23:00:00-23:59"}),
    ],
)
def test_datetimes_that_overflow_in_utc_are_refused(admin: Caller, path: str, document: Any) -> None:
    error = assert_filter_refused(list_with_filter(admin, path, document))
    assert "out of range once converted to UTC" in error["message"]


@pytest.mark.parametrize(
    "value",
    ["0001-01-01T00:00:00Z", "0001-01-01T00:00:00-01:00", "9999-12-31T23:59:59Z", "9999-12-31T20:00:00+01:00"],
)
def test_extreme_datetimes_that_fit_in_utc_are_accepted(admin: Caller, value: str) -> None:
    admin.post(ENVIRONMENTS, json={"name": "dev"})
    after = list_with_filter(admin, ENVIRONMENTS, {"createdAt": {"$gt": value}})
    before = list_with_filter(admin, ENVIRONMENTS, {"createdAt": {"$lt": value}})
    assert after.status_code == 200, after.text
    assert before.status_code == 200, before.text
    total = after.json()["meta"]["pagination"]["totalItems"] + before.json()["meta"]["pagination"]["totalItems"]
    assert total == 1


def test_utc_datetime_bind_raises_value_error_not_overflow() -> None:
    from datetime import datetime, timedelta, timezone

    column_type = UTCDateTime()
    value = datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1)))
    for dialect in (sqlite.dialect(), postgresql.dialect()):
        with pytest.raises(ValueError, match="out of range in UTC"):
            column_type.process_bind_param(value, dialect)


# --- NUL characters -----------------------------------------------------------


def test_nul_in_an_environment_body_names_the_field(admin: Caller) -> None:
    error = assert_error(
        admin.post(ENVIRONMENTS, json={"name": "staging", "description": "a\x00b"}), 400, "VALIDATION_ERROR"
    )
    assert field_errors(error) == {"description": "string_contains_nul"}
    assert error["message"] == "invalid description: must not contain the NUL character (\\u0000)"
    assert environment_count(admin) == 0


def test_nul_in_nested_gate_config_names_the_dotted_path(admin: Caller) -> None:
    body = {
        "name": "prod",
        "displayName": "Prod\x00",
        "requiredPredecessors": ["ok", "bad\x00id"],
        "gates": [
            {"type": "manual", "config": {"fine": "yes"}},
            {"type": "window", "config": {"nested": {"list": ["ok", {"deep": "x\x00"}]}, "k\x00ey": 1}},
        ],
    }
    error = assert_error(admin.post(ENVIRONMENTS, json=body), 400, "VALIDATION_ERROR")
    assert field_errors(error) == {
        "displayName": "string_contains_nul",
        "requiredPredecessors.1": "string_contains_nul",
        "gates.1.config.nested.list.1.deep": "string_contains_nul",
        "gates.1.config.k\\u0000ey": "string_contains_nul",
    }
    assert environment_count(admin) == 0


def test_nul_on_replace_changes_nothing(admin: Caller) -> None:
    created = admin.post(ENVIRONMENTS, json={"name": "qa", "description": "before"})
    assert created.status_code == 201, created.text
    env = created.json()["data"]
    response = admin.put(f"{ENVIRONMENTS}/{env['id']}", json={"name": "qa", "gates": [{"type": "t", "name": "\x00"}]})
    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert field_errors(error) == {"gates.0.name": "string_contains_nul"}
    again = admin.get(f"{ENVIRONMENTS}/{env['id']}").json()["data"]
    assert again["version"] == env["version"]
    assert again["description"] == "before"


def test_nul_in_plugin_instance_config_names_the_field(admin: Caller) -> None:
    body = {
        "name": "pause",
        "pluginId": "builtin",
        "capabilityKind": "step_type",
        "capabilityId": "wait",
        "config": {"seconds": 5, "labels": {"team": "a\x00"}},
    }
    error = assert_error(admin.post(INSTANCES, json=body), 400, "VALIDATION_ERROR")
    assert field_errors(error) == {"config.labels.team": "string_contains_nul"}
    error = assert_error(
        admin.post(INSTANCES, json={**body, "description": "\x00", "config": {}}), 400, "VALIDATION_ERROR"
    )
    assert field_errors(error) == {"description": "string_contains_nul"}
    assert instance_count(admin) == 0


@pytest.mark.parametrize(
    ("path", "document"),
    [
        (ENVIRONMENTS, {"name": "a\x00"}),
        (ENVIRONMENTS, {"name": {"$in": ["ok", "b\x00"]}}),
        (ENVIRONMENTS, {"displayName": {"$contains": "\x00"}}),
        (ENVIRONMENTS, {"name": {"$startsWith": "x\x00"}}),
        (ENVIRONMENTS, {"$not": {"name": {"$gt": "\x00"}}}),
        (ENVIRONMENTS, {"createdAt": {"$gt": "2026-01-01T00:00:00\x00"}}),
        (AUDIT, {"action": "environment.create\x00"}),
    ],
)
def test_nul_in_a_filter_value_is_refused(admin: Caller, path: str, document: Any) -> None:
    error = assert_filter_refused(list_with_filter(admin, path, document))
    assert "NUL" in error["message"]


@pytest.mark.parametrize("raw", ['{"name": "\\ud800"}', '{"name": {"$contains": "x\\udfff"}}'])
def test_a_lone_surrogate_in_a_filter_value_is_refused(admin: Caller, raw: str) -> None:
    error = assert_filter_refused(admin.get(ENVIRONMENTS, params={"filter": raw}))
    assert "Unicode" in error["message"]


def test_a_raw_nul_in_the_filter_parameter_is_refused(admin: Caller) -> None:
    error = assert_filter_refused(admin.get(f"{ENVIRONMENTS}?filter=%7B%22name%22%3A%22a%00%22%7D"))
    assert "NUL" in error["message"]


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_nul_in_a_path_parameter_is_refused(admin: Caller, method: str) -> None:
    created = admin.post(ENVIRONMENTS, json={"name": "keep"})
    assert created.status_code == 201, created.text
    env_id = created.json()["data"]["id"]
    response = admin.client.request(
        method,
        f"{ENVIRONMENTS}/{env_id}%00",
        headers=admin._h(None),
        json={"name": "keep"} if method == "PUT" else None,
    )
    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert field_errors(error) == {"path": "string_contains_nul"}
    assert all(h in response.headers for h in RATE_HEADERS)
    assert admin.get(f"{ENVIRONMENTS}/{env_id}").json()["data"]["version"] == 1
    assert_error(admin.get(f"{INSTANCES}/%00"), 400, "VALIDATION_ERROR")


# --- nesting depth ------------------------------------------------------------
# A body nests at most 32 levels of objects and arrays (the body itself is level 1);
# deeper ones once reached recursive code (JSON Schema, policy rules) and gave 500.


def policy_environment(total_depth: int) -> dict[str, Any]:
    """An environment body whose policy gate's rules nest ``{"not": ...}`` until the
    body is ``total_depth`` levels deep (body, gates, gate, config, rules = 5)."""
    rules: dict[str, Any] = {}
    for _ in range(total_depth - 5):
        rules = {"not": rules}
    return {"name": "deep", "gates": [{"type": "policy", "config": {"rules": rules}}]}


def test_a_body_nested_past_the_limit_is_refused_naming_the_path(admin: Caller) -> None:
    error = assert_error(admin.post(ENVIRONMENTS, json=policy_environment(40)), 400, "VALIDATION_ERROR")
    # the first container past level 32 is the one at level 33: rules plus 28 "not"s down
    path = ".".join(["gates", "0", "config", "rules", *["not"] * 28])
    assert field_errors(error) == {path: "too_deep"}
    assert "32 levels" in error["message"]
    assert environment_count(admin) == 0


def test_a_body_within_the_limit_is_accepted(admin: Caller) -> None:
    response = admin.post(ENVIRONMENTS, json=policy_environment(30))
    assert response.status_code == 201, response.text
    rules = response.json()["data"]["gates"][0]["config"]["rules"]
    depth = 0
    while rules:
        rules, depth = rules["not"], depth + 1
    assert depth == 25
    # exactly at the limit is still accepted
    assert admin.post(ENVIRONMENTS, json={**policy_environment(32), "name": "deep-32"}).status_code == 201
    error = assert_error(
        admin.post(ENVIRONMENTS, json={**policy_environment(33), "name": "deep-33"}), 400, "VALIDATION_ERROR"
    )
    assert list(field_errors(error).values()) == ["too_deep"]
    assert environment_count(admin) == 2


def test_hundreds_of_levels_in_a_free_form_dict_are_a_400_not_a_500(admin: Caller) -> None:
    deep: Any = "leaf"
    for _ in range(700):
        deep = {"x": deep}
    body = {"name": "deep", "pluginId": "builtin", "capabilityKind": "step_type", "capabilityId": "wait"}
    error = assert_error(admin.post(INSTANCES, json={**body, "config": deep}), 400, "VALIDATION_ERROR")
    assert field_errors(error) == {".".join(["config", *["x"] * 31]): "too_deep"}
    lists: Any = []
    for _ in range(700):
        lists = [lists]
    error = assert_error(
        admin.post(ENVIRONMENTS, json={"name": "deep", "requiredPredecessors": lists}), 400, "VALIDATION_ERROR"
    )
    assert field_errors(error) == {".".join(["requiredPredecessors", *["0"] * 31]): "too_deep"}
    assert instance_count(admin) == 0
    assert environment_count(admin) == 0


# --- body size ----------------------------------------------------------------

LIMIT = 1024


@pytest.fixture(scope="module")
def small_app(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = make_settings(database_url, tmp_path_factory.mktemp("small"), max_body_bytes=LIMIT)
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


def small_caller(client: TestClient) -> Caller:
    settings: Settings = client.app.state.shiplane.settings  # type: ignore[attr-defined]
    tenant_id, user_id = f"tenant-{uuid.uuid4().hex[:10]}", f"user-{uuid.uuid4().hex[:8]}"
    return Caller(
        client, mint_token(settings, user_id=user_id, tenant_id=tenant_id, roles=["admin"]), tenant_id, user_id
    )


def body_of_size(size: int, name: str = "big") -> bytes:
    """An environment body of exactly ``size`` bytes."""
    empty = json.dumps({"name": name, "description": ""}).encode()
    return json.dumps({"name": name, "description": "x" * (size - len(empty))}).encode()


def assert_too_large(response: Any) -> None:
    error = assert_error(response, 413, "PAYLOAD_TOO_LARGE")
    assert error["details"] == {"maxBodyBytes": LIMIT}
    assert str(LIMIT) in error["message"]
    for header in RATE_HEADERS:
        assert header in response.headers, response.headers


def test_the_default_limit_is_one_mebibyte(tmp_path: Path) -> None:
    assert Settings(data_dir=tmp_path).max_body_bytes == 1024 * 1024


def test_a_declared_length_above_the_limit_is_413(small_app: TestClient) -> None:
    caller = small_caller(small_app)
    response = caller.post(ENVIRONMENTS, content=body_of_size(LIMIT + 1), headers={"Content-Type": "application/json"})
    assert_too_large(response)
    assert caller.post(INSTANCES, json={"name": "big", "config": {"x": "y" * 2000}}).status_code == 413
    assert environment_count(caller) == 0
    assert instance_count(caller) == 0


def test_a_declared_length_above_the_limit_is_refused_before_authentication(small_app: TestClient) -> None:
    oversized = body_of_size(LIMIT * 4)
    headers = {"Content-Type": "application/json", "X-Request-ID": "too-big-1"}
    response = small_app.post(
        ENVIRONMENTS, content=oversized, headers={**headers, "Authorization": "Bearer not-a-token"}
    )
    assert_too_large(response)  # not 401: the token was never looked at
    assert response.headers["x-request-id"] == "too-big-1"
    assert_too_large(small_app.post(ENVIRONMENTS, content=oversized, headers=headers))


def test_a_body_at_the_limit_is_untouched(small_app: TestClient) -> None:
    caller = small_caller(small_app)
    body = body_of_size(LIMIT)
    assert len(body) == LIMIT
    response = caller.post(ENVIRONMENTS, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 201, response.text
    assert response.json()["data"]["description"] == json.loads(body)["description"]


def _asgi_post(client: TestClient, caller: Caller, chunks: list[bytes]) -> tuple[int, dict[str, str], Any, int]:
    """POST ``chunks`` as a streamed body without Content-Length, straight to the ASGI app.

    Returns status, headers, JSON body and how many times the app called receive().
    """
    calls = 0
    sent: list[dict[str, Any]] = []

    async def run() -> None:
        async def receive() -> dict[str, Any]:
            nonlocal calls
            calls += 1
            if calls <= len(chunks):
                return {"type": "http.request", "body": chunks[calls - 1], "more_body": calls < len(chunks)}
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": ENVIRONMENTS,
            "raw_path": ENVIRONMENTS.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": [
                (b"host", b"testserver"),
                (b"authorization", f"Bearer {caller.token}".encode()),
                (b"content-type", b"application/json"),
                (b"transfer-encoding", b"chunked"),
            ],
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
        }
        await client.app(scope, receive, send)  # type: ignore[arg-type]

    assert client.portal is not None
    client.portal.call(run)
    start = next(m for m in sent if m["type"] == "http.response.start")
    headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], headers, json.loads(body), calls


def test_a_streamed_body_is_refused_once_it_passes_the_limit_without_reading_on(small_app: TestClient) -> None:
    caller = small_caller(small_app)
    body = body_of_size(LIMIT * 50)
    chunks = [body[i : i + 400] for i in range(0, len(body), 400)]
    status, headers, payload, calls = _asgi_post(small_app, caller, chunks)
    assert status == 413
    assert payload["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert payload["meta"]["requestId"] == headers["x-request-id"]
    assert all(h in headers for h in RATE_HEADERS)
    assert calls == 3  # 400 + 400 + 400 > 1024: refused on the third chunk, the rest never read
    assert environment_count(caller) == 0


def test_a_streamed_body_within_the_limit_is_untouched(small_app: TestClient) -> None:
    caller = small_caller(small_app)
    body = body_of_size(LIMIT, name="streamed")
    chunks = [body[i : i + 100] for i in range(0, len(body), 100)]
    status, _headers, payload, _calls = _asgi_post(small_app, caller, chunks)
    assert status == 201, payload
    assert payload["data"]["description"] == json.loads(body)["description"]
    assert environment_count(caller) == 1


def test_the_shared_app_accepts_ordinary_bodies_and_refuses_over_a_mebibyte(admin: Caller) -> None:
    assert admin.post(ENVIRONMENTS, json={"name": "ok", "description": "d" * 2000}).status_code == 201
    response = admin.post(ENVIRONMENTS, json={"name": "huge", "gates": [{"type": "t", "config": {"x": "y" * 2**20}}]})
    error = assert_error(response, 413, "PAYLOAD_TOO_LARGE")
    assert error["details"] == {"maxBodyBytes": 2**20}
    assert environment_count(admin) == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [("isProduction", 0), ("isProduction", "true"), ("order", "3"), ("order", True), ("order", 3.5), ("name", 7)],
)
def test_body_values_of_another_json_type_are_refused_not_coerced(admin: Caller, field: str, value: Any) -> None:
    # The document's types are the contract: 0 is not false, "3" is not 3.
    response = admin.post("/api/v1/environments", json={"name": "typed", field: value})
    assert response.status_code == 400, response.text
    assert field in field_errors(response.json()["error"])
    assert environment_count(admin) == 0


def test_an_integral_float_is_an_integer_as_in_json_schema(admin: Caller) -> None:
    response = admin.post("/api/v1/environments", json={"name": "integral", "order": 3.0})
    assert response.status_code == 201, response.text
    assert response.json()["data"]["order"] == 3
