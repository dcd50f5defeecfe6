"""The ``webhook`` type against a real receiver on a loopback port, and ``sign``/``verify``."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from typing import Any

import pytest
import shiplane_plugin_notify.plugin
from notify_servers import WEBHOOK_SECRET, WebhookReceiver, free_port
from shiplane_plugin_notify.webhook import PING_EVENT_TYPE, USER_AGENT, Webhook, payload_bytes, sign, verify
from shiplane_sdk import ConfigValidationError, NotificationMessage, PluginError
from shiplane_sdk.testing import IntegrationTypeContract, PluginContract

EVENT = {
    "id": "evt_01J9Z3",
    "type": "promotion.approved",
    "tenantId": "ten_acme",
    "occurredAt": "2026-11-30T05:37:01.120Z",
    "resourceType": "promotion",
    "resourceId": "prm_42",
    "data": {"schemaVersion": 1, "release": "shop-2.0.0", "environment": "prod", "note": "ünïcode ✓"},
}
MESSAGE = NotificationMessage(
    subject="shop-2.0.0 approved for prod",
    body="Promotion prm_42 of shop-2.0.0 to prod was approved by alice.",
    severity="info",
    data={"event": EVENT, "delivery": {"id": "dlv_7", "attempt": 2}},
)


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def deliver(config: dict[str, Any], message: NotificationMessage = MESSAGE) -> None:
    run(Webhook().notify(config, message))


# ---------------------------------------------------------------------------
# Contracts
# ---------------------------------------------------------------------------


class TestWebhookContract(IntegrationTypeContract):
    valid_configs = [
        {"url": "https://hooks.example.com/shiplane", "secret": "s" * 24},
        {
            "url": "http://receiver.internal:8080/events?source=shiplane",
            "secret": "0123456789abcdef",
            "headers": {"Authorization": "Bearer abc", "X-Team": "payments"},
            "events": ["promotion.*", "deployment.failed", "freeze_window.created"],
            "timeoutSeconds": 5,
        },
        {"url": "HTTPS://hooks.example.com", "secret": "s" * 16, "events": ["*"], "timeoutSeconds": 30},
    ]
    invalid_configs = [
        {"url": "https://hooks.example.com"},
        {"url": "ftp://hooks.example.com/x", "secret": "s" * 24},
        {"url": "https://user:pass@hooks.example.com/", "secret": "s" * 24},
        {"url": "hooks.example.com/x", "secret": "s" * 24},
        {"url": "https://hooks.example.com", "secret": "too-short"},
        {"url": "https://hooks.example.com", "secret": "s" * 24, "events": []},
        {"url": "https://hooks.example.com", "secret": "s" * 24, "events": ["Promotion.Approved"]},
        {"url": "https://hooks.example.com", "secret": "s" * 24, "events": ["promotion.*.x"]},
        {"url": "https://hooks.example.com", "secret": "s" * 24, "events": ["*"] * 2},
        {"url": "https://hooks.example.com", "secret": "s" * 24, "events": [f"e{n}.x" for n in range(51)]},
        {"url": "https://hooks.example.com", "secret": "s" * 24, "headers": {"X-Shiplane-Signature": "v1=0"}},
        {"url": "https://hooks.example.com", "secret": "s" * 24, "headers": {"X-Evil": "a\r\nInjected: 1"}},
        {"url": "https://hooks.example.com", "secret": "s" * 24, "headers": {f"X-H{n}": "v" for n in range(11)}},
        {"url": "https://hooks.example.com", "secret": "s" * 24, "timeoutSeconds": 0},
        {"url": "https://hooks.example.com", "secret": "s" * 24, "timeoutSeconds": 300},
        {"url": "https://hooks.example.com", "secret": "s" * 24, "method": "PUT"},
    ]

    @pytest.fixture(autouse=True)
    def _receiver(self, receiver: WebhookReceiver) -> None:
        self.receiver = receiver

    def make_capability(self) -> Webhook:
        return Webhook()

    def operation_config(self) -> dict[str, Any]:
        return self.receiver.config()


class TestNotifyPlugin(PluginContract):
    plugin_name = "notify"

    def make_plugin(self) -> object:
        return shiplane_plugin_notify.plugin


def test_the_plugin_registers_both_types() -> None:
    types = shiplane_plugin_notify.plugin.register_integration_types()
    assert [(t.id, t.category) for t in types] == [("webhook", "notification"), ("smtp", "notification")]
    info = shiplane_plugin_notify.plugin.plugin_info()
    assert (info.name, info.vendor, info.version) == ("Notifications", "Shiplane", "0.1.0")
    assert info.sdk_requires == ">=0.1,<1"


def test_secret_and_destination_fields() -> None:
    webhook = Webhook()
    assert webhook.secret_fields() == ["secret", "headers.*"]
    assert webhook.destination_fields() == ["url"]
    assert "events" in webhook.config_schema["properties"]


# ---------------------------------------------------------------------------
# Delivery
# ---------------------------------------------------------------------------


def test_a_delivery_is_signed_json_that_verifies(receiver: WebhookReceiver) -> None:
    before = int(time.time())
    deliver(receiver.config(headers={"Authorization": "Bearer receiver-token", "X-Team": "payments"}))

    [delivery] = receiver.deliveries
    assert delivery.verified
    assert delivery.path == "/hooks/shiplane"
    headers = {name.lower(): value for name, value in delivery.headers.items()}
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"] == USER_AGENT == "Shiplane-Webhook/0.1"
    assert headers["x-shiplane-event"] == "promotion.approved"
    assert headers["x-shiplane-delivery"] == "dlv_7"
    assert before <= int(headers["x-shiplane-timestamp"]) <= time.time()
    assert headers["x-shiplane-signature"] == sign(WEBHOOK_SECRET, headers["x-shiplane-timestamp"], delivery.body)
    assert headers["authorization"] == "Bearer receiver-token"
    assert headers["x-team"] == "payments"

    payload = json.loads(delivery.body)
    assert payload == {
        "id": "evt_01J9Z3",
        "type": "promotion.approved",
        "tenantId": "ten_acme",
        "occurredAt": "2026-11-30T05:37:01.120Z",
        "resourceType": "promotion",
        "resourceId": "prm_42",
        "data": EVENT["data"],
        "subject": "shop-2.0.0 approved for prod",
        "body": MESSAGE.body,
        "severity": "info",
        "deliveryId": "dlv_7",
        "attempt": 2,
    }
    # Serialised once, compact, sorted keys, UTF-8.
    assert delivery.body == payload_bytes(payload)
    assert delivery.body.startswith(b'{"attempt":2,"body":')
    assert "ünïcode ✓".encode() in delivery.body


def test_a_message_without_an_event_still_delivers(receiver: WebhookReceiver) -> None:
    deliver(receiver.config(), NotificationMessage(subject="Hello", body="By hand."))
    [delivery] = receiver.deliveries
    payload = json.loads(delivery.body)
    assert delivery.verified
    assert payload["type"] == "shiplane.notification" and payload["id"] and payload["deliveryId"]
    assert payload["attempt"] == 1 and payload["data"] == {}


def test_each_attempt_is_signed_afresh(receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1_900_000_000.0]
    monkeypatch.setattr("shiplane_plugin_notify.webhook.time.time", lambda: clock[0])
    receiver.secret = WEBHOOK_SECRET
    for _ in range(2):
        deliver(receiver.config())
        clock[0] += 60
    first, second = receiver.deliveries
    assert first.headers["X-Shiplane-Timestamp"] == "1900000000"
    assert second.headers["X-Shiplane-Timestamp"] == "1900000060"
    assert first.headers["X-Shiplane-Signature"] != second.headers["X-Shiplane-Signature"]
    assert verify(WEBHOOK_SECRET, second.headers, second.body, now=1_900_000_060)


# ---------------------------------------------------------------------------
# sign / verify
# ---------------------------------------------------------------------------


def test_tampered_bodies_wrong_secrets_and_replays_fail_verification(receiver: WebhookReceiver) -> None:
    deliver(receiver.config())
    [delivery] = receiver.deliveries
    headers, body = delivery.headers, delivery.body
    timestamp = int(headers["X-Shiplane-Timestamp"])
    assert verify(WEBHOOK_SECRET, headers, body)
    # Header names in any case, or the (timestamp, signature) pair.
    assert verify(WEBHOOK_SECRET, {k.upper(): v for k, v in headers.items()}, body)
    assert verify(WEBHOOK_SECRET, (headers["X-Shiplane-Timestamp"], headers["X-Shiplane-Signature"]), body)
    assert verify(WEBHOOK_SECRET.encode(), list(headers.items()), body)

    tampered = body.replace(b'"attempt":2', b'"attempt":3')
    assert tampered != body
    assert not verify(WEBHOOK_SECRET, headers, tampered)
    assert not verify(WEBHOOK_SECRET, headers, body + b" ")
    assert not verify("another-secret-of-some-length", headers, body)
    # A replay: the same request, captured and sent again later.
    assert not verify(WEBHOOK_SECRET, headers, body, now=timestamp + 301)
    assert verify(WEBHOOK_SECRET, headers, body, now=timestamp + 299)
    assert not verify(WEBHOOK_SECRET, headers, body, now=timestamp - 301)  # from the future
    assert verify(WEBHOOK_SECRET, headers, body, now=timestamp + 3000, tolerance_seconds=3600)
    # Moving the timestamp to look fresh breaks the signature.
    fresh = {**headers, "X-Shiplane-Timestamp": str(timestamp + 600)}
    assert not verify(WEBHOOK_SECRET, fresh, body, now=timestamp + 600)


def test_verify_refuses_malformed_input_without_raising() -> None:
    body = b'{"a":1}'
    good = sign("s" * 20, 1_900_000_000, body)
    now = 1_900_000_000
    assert good.startswith("v1=") and len(good) == 3 + 64
    assert verify("s" * 20, (1_900_000_000, good), body, now=now)
    assert verify("s" * 20, ("1900000000", f"v0=dead, {good}"), body, now=now)  # several signatures
    for headers in [
        {},
        {"X-Shiplane-Timestamp": "1900000000"},
        {"X-Shiplane-Signature": good},
        ("-1900000000", good),
        ("1900000000.5", good),
        ("nineteen", good),
        ("1900000000", good.upper()),
        ("1900000000", good[3:]),
        ("1900000000", "v1=ü"),
        ("1900000000", None),
        None,
        42,
    ]:
        assert not verify("s" * 20, headers, body, now=now), headers  # type: ignore[arg-type]
    assert not verify("", (1_900_000_000, good), body, now=now)
    with pytest.raises(ValueError):
        sign("", 1, body)
    with pytest.raises(ValueError):
        sign("s" * 20, -1, body)


def test_signature_matches_the_documented_formula() -> None:
    import hashlib
    import hmac

    body = b'{"id":"evt_1"}'
    expected = hmac.new(b"k" * 16, b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign("k" * 16, 1_700_000_000, body) == f"v1={expected}"
    assert sign("k" * 16, "1700000000", body.decode()) == f"v1={expected}"


# ---------------------------------------------------------------------------
# Failures: the core retries on PluginError
# ---------------------------------------------------------------------------


def test_a_5xx_raises_with_the_status_and_an_excerpt(receiver: WebhookReceiver) -> None:
    receiver.status = 500
    receiver.response_body = b"database is down\n" + b"x" * 5000
    with pytest.raises(PluginError) as caught:
        deliver(receiver.config())
    message = caught.value.message
    assert "HTTP 500" in message and "database is down" in message
    assert len(message) < 400
    assert caught.value.details["status"] == 500
    assert WEBHOOK_SECRET not in message and WEBHOOK_SECRET not in json.dumps(caught.value.details)


@pytest.mark.parametrize("status", [400, 404, 410, 429, 503])
def test_every_non_2xx_raises(receiver: WebhookReceiver, status: int) -> None:
    receiver.status = status
    with pytest.raises(PluginError, match=f"HTTP {status}"):
        deliver(receiver.config())


def test_a_receiver_that_rejects_the_signature_raises(receiver: WebhookReceiver) -> None:
    with pytest.raises(PluginError, match="HTTP 401.*bad signature"):
        deliver(receiver.config(secret="not-the-receivers-secret"))
    assert receiver.deliveries[0].verified is False


def test_secrets_never_appear_in_messages_even_when_echoed(receiver: WebhookReceiver) -> None:
    receiver.status = 400
    receiver.echo_header = "Authorization"
    token = "Bearer receiver-token-9f8e7d"
    with pytest.raises(PluginError) as caught:
        deliver(receiver.config(headers={"Authorization": token}))
    assert "you sent ***" in caught.value.message
    assert "receiver-token-9f8e7d" not in str(caught.value) + json.dumps(caught.value.details)


def test_a_receiver_that_is_down_fails_fast() -> None:
    port = free_port()  # nothing listens there
    started = time.monotonic()
    with pytest.raises(PluginError, match=f"could not connect to http://127.0.0.1:{port}"):
        deliver({"url": f"http://127.0.0.1:{port}/hook", "secret": WEBHOOK_SECRET, "timeoutSeconds": 2})
    assert time.monotonic() - started < 2


def test_a_slow_receiver_is_bounded_by_the_timeout(receiver: WebhookReceiver) -> None:
    receiver.delay = 5
    started = time.monotonic()
    with pytest.raises(PluginError, match="timed out after 1s"):
        deliver(receiver.config(timeoutSeconds=1))
    assert time.monotonic() - started < 2.5


def test_a_server_that_accepts_but_never_answers_is_bounded() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(PluginError, match="timed out after 1s"):
            deliver({"url": f"http://127.0.0.1:{port}/", "secret": WEBHOOK_SECRET, "timeoutSeconds": 1})
        assert time.monotonic() - started < 2.5


def test_redirects_are_not_followed(receiver: WebhookReceiver) -> None:
    receiver.redirect = f"http://127.0.0.1:{receiver.port}/elsewhere"
    with pytest.raises(PluginError) as caught:
        deliver(receiver.config())
    assert "HTTP 302" in caught.value.message and "redirects are not followed" in caught.value.message
    assert "/elsewhere" in caught.value.message
    assert [d.path for d in receiver.deliveries] == ["/hooks/shiplane"]


# ---------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "ftp://hooks.example.com/",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "https://",
        "https:///path",
        "https://user:secret@hooks.example.com/",
        "https://hooks.example.com/a b",
        "//hooks.example.com/",
        "",
    ],
)
def test_bad_urls_are_rejected(url: str) -> None:
    errors = Webhook().validate_config({"url": url, "secret": WEBHOOK_SECRET})
    assert errors and {e.field for e in errors} == {"url"}
    assert all("http:// or https://" in e.message for e in errors)


def test_short_secrets_are_rejected_without_showing_them() -> None:
    [error] = Webhook().validate_config({"url": "https://hooks.example.com", "secret": "tiny-secret"})
    assert error.field == "secret" and "16" in error.message and "tiny-secret" not in error.message


@pytest.mark.parametrize("pattern", ["", "Promotion.approved", "promotion.", ".approved", "promotion.*.x", "**", "a b"])
def test_bad_event_patterns_are_rejected(pattern: str) -> None:
    errors = Webhook().validate_config({"url": "https://h.example", "secret": WEBHOOK_SECRET, "events": [pattern]})
    assert [e.field for e in errors] == ["events.0"]
    assert "event pattern" in errors[0].message


@pytest.mark.parametrize(
    "name",
    [
        "X-Shiplane-Signature",
        "x-shiplane-signature",
        "X-SHIPLANE-TIMESTAMP",
        "X-Shiplane-Event",
        "X-Shiplane-Delivery",
        "X-Shiplane-Anything",
        "Content-Type",
        "user-agent",
        "Host",
        "Content-Length",
        "Transfer-Encoding",
    ],
)
def test_headers_cannot_override_what_shiplane_sets(name: str) -> None:
    errors = Webhook().validate_config(
        {"url": "https://h.example", "secret": WEBHOOK_SECRET, "headers": {name: "v1=forged"}}
    )
    assert [(e.field, e.code) for e in errors] == [(f"headers.{name}", "not")]
    assert "can't be overridden" in errors[0].message


def test_notify_refuses_a_config_that_sets_signature_headers(receiver: WebhookReceiver) -> None:
    # The core validates before calling; the type checks again rather than send a forged header.
    with pytest.raises(ConfigValidationError):
        deliver(receiver.config(headers={"x-shiplane-signature": "v1=forged"}))
    assert receiver.deliveries == []


# ---------------------------------------------------------------------------
# test()
# ---------------------------------------------------------------------------


def test_test_sends_a_signed_ping(receiver: WebhookReceiver) -> None:
    result = run(Webhook().test(receiver.config()))
    assert result.ok, result.message
    assert result.details["status"] == 204 and result.details["elapsedMs"] >= 0
    [delivery] = receiver.deliveries
    assert delivery.verified
    assert json.loads(delivery.body)["type"] == PING_EVENT_TYPE == "shiplane.ping"
    assert delivery.headers["X-Shiplane-Event"] == "shiplane.ping"


def test_test_reports_a_failing_receiver(receiver: WebhookReceiver) -> None:
    receiver.status = 503
    result = run(Webhook().test(receiver.config()))
    assert not result.ok and "HTTP 503" in result.message and result.details["status"] == 503
    assert WEBHOOK_SECRET not in result.message


def test_test_reports_an_unreachable_receiver_and_a_bad_config() -> None:
    port = free_port()
    result = run(Webhook().test({"url": f"http://127.0.0.1:{port}/", "secret": WEBHOOK_SECRET}))
    assert not result.ok and "could not connect" in result.message
    result = run(Webhook().test({"url": "ftp://x.example/", "secret": "short-secret"}))
    assert not result.ok and result.message.startswith("invalid configuration")
    assert "short-secret" not in result.message


def test_health_connects_without_sending_anything(receiver: WebhookReceiver) -> None:
    report = run(Webhook().health(receiver.config()))
    assert report.status == "ok", report.message
    assert receiver.deliveries == []
    port = free_port()
    report = run(Webhook().health({"url": f"http://127.0.0.1:{port}/", "secret": WEBHOOK_SECRET}))
    assert report.status == "failing" and "could not connect" in report.message


def test_a_trailing_newline_does_not_slip_past_a_pattern() -> None:
    base = {"url": "https://h.example", "secret": WEBHOOK_SECRET}
    for config in ({**base, "url": "https://h.example/\n"}, {**base, "headers": {"X-A": "v\n"}}):
        assert Webhook().validate_config(config), config
    assert Webhook().validate_config({**base, "headers": {"X-A": "v"}}) == []
