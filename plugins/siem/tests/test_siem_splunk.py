"""The ``splunk-hec`` type against a local fake of Splunk's HTTP Event Collector API."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from decimal import Decimal
from typing import Any

import pytest
import shiplane_plugin_siem.plugin
import siem_servers
from shiplane_plugin_siem import verify_chain
from shiplane_plugin_siem.splunk import SplunkHec, hec_body
from shiplane_sdk import AuditRecord, ConfigValidationError, PluginError
from shiplane_sdk.testing import IntegrationTypeContract, PluginContract
from siem_servers import (
    ACK_TOKEN,
    DISABLED_TOKEN,
    HEC_TOKEN,
    FakeHec,
    HecToken,
    Tls,
    free_port,
    make_records,
    sha256_hex,
    unique_tenant,
)

RECORD_KEYS = [
    "id",
    "tenantId",
    "sequence",
    "occurredAt",
    "actorType",
    "actorId",
    "action",
    "resourceType",
    "resourceId",
    "outcome",
    "requestId",
    "changes",
    "prevHash",
    "hash",
    "canonical",
]


def send(config: dict[str, Any], records: list[AuditRecord]) -> None:
    asyncio.run(SplunkHec().send_audit(config, records))


def refused(config: dict[str, Any], records: list[AuditRecord]) -> PluginError:
    with pytest.raises(PluginError) as caught:
        send(config, records)
    assert_no_secret(caught.value.message, caught.value.details, str(caught.value))
    return caught.value


def assert_no_secret(*things: Any) -> None:
    """No token, of any fake, in what a user is shown."""
    text = json.dumps(things, default=str)
    for token in (HEC_TOKEN, ACK_TOKEN, DISABLED_TOKEN, "wrong-token-0123456789"):
        assert token not in text


# ---------------------------------------------------------------------------
# Contracts
# ---------------------------------------------------------------------------

VALID_TOKEN = "00000000-1111-2222-3333-444444444444"


class TestSplunkHecContract(IntegrationTypeContract):
    valid_configs = [
        {"url": "https://splunk.example.com:8088", "token": VALID_TOKEN},
        {
            "url": "https://http-inputs-acme.splunkcloud.com/proxy/",
            "token": VALID_TOKEN,
            "index": "shiplane_audit-1",
            "host": "shiplane-eu-1",
            "timeoutSeconds": 60,
            "verifyTls": True,
        },
        {"url": "http://10.0.0.7:8088", "token": VALID_TOKEN, "verifyTls": False, "timeoutSeconds": 1},
    ]
    invalid_configs = [
        {"url": "https://splunk.example.com:8088"},
        {"token": VALID_TOKEN},
        {"url": "ftp://splunk.example.com", "token": VALID_TOKEN},
        {"url": "https://user:pw@splunk.example.com:8088", "token": VALID_TOKEN},
        {"url": "https://splunk.example.com:8088/services/collector/event", "token": VALID_TOKEN},
        {"url": "https://splunk.example.com:8088?x=1", "token": VALID_TOKEN},
        {"url": "https://splunk.example.com:8088\n", "token": VALID_TOKEN},
        {"url": "https://splunk.example.com:8088", "token": VALID_TOKEN + "\n"},
        {"url": "https://splunk.example.com:8088", "token": "two words"},
        {"url": "https://splunk.example.com:8088", "token": ""},
        {"url": "https://splunk.example.com:8088", "token": VALID_TOKEN, "index": "Main"},
        {"url": "https://splunk.example.com:8088", "token": VALID_TOKEN, "index": "_internal"},
        {"url": "https://splunk.example.com:8088", "token": VALID_TOKEN, "index": "main\n"},
        {"url": "https://splunk.example.com:8088", "token": VALID_TOKEN, "index": "x" * 81},
        {"url": "https://splunk.example.com:8088", "token": VALID_TOKEN, "host": "a host"},
        {"url": "https://splunk.example.com:8088", "token": VALID_TOKEN, "timeoutSeconds": 0},
        {"url": "https://splunk.example.com:8088", "token": VALID_TOKEN, "timeoutSeconds": 61},
        {"url": "https://splunk.example.com:8088", "token": VALID_TOKEN, "verifyTls": "no"},
        {"url": "https://splunk.example.com:8088", "token": VALID_TOKEN, "caCertificate": "not a certificate"},
        {"url": "https://splunk.example.com:8088", "token": VALID_TOKEN, "sourcetype": "other"},
    ]

    @pytest.fixture(autouse=True)
    def _hec(self, hec: FakeHec) -> None:
        self.hec = hec

    def make_capability(self) -> SplunkHec:
        return SplunkHec()

    def operation_config(self) -> dict[str, Any]:
        return self.hec.config()


class TestSiemPlugin(PluginContract):
    plugin_name = "siem"

    def make_plugin(self) -> object:
        return shiplane_plugin_siem.plugin


def test_the_plugin_registers_both_sinks() -> None:
    types = shiplane_plugin_siem.plugin.register_integration_types()
    assert [(t.id, t.category) for t in types] == [("splunk-hec", "siem"), ("syslog", "siem")]
    assert all(t.supports("send_audit") and t.supports("test") and t.supports("health") for t in types)
    assert not any(t.supports("notify") for t in types)
    info = shiplane_plugin_siem.plugin.plugin_info()
    assert (info.name, info.vendor, info.version, info.sdk_requires) == (
        "SIEM audit streaming",
        "Shiplane",
        "0.1.0",
        ">=0.1,<1",
    )


def test_secret_and_destination_fields() -> None:
    hec = SplunkHec()
    assert hec.secret_fields() == ["token"]
    assert hec.destination_fields() == ["url", "verifyTls", "caCertificate"]
    assert hec.config_schema["properties"]["token"]["writeOnly"] is True


def test_validation_messages_never_quote_the_token() -> None:
    secret = "s3cr3t-token with space"
    errors = SplunkHec().validate_config({"url": "https://splunk.example.com", "token": secret})
    assert [e.field for e in errors] == ["token"]
    assert secret not in json.dumps([e.model_dump() for e in errors])


def test_a_ca_certificate_that_does_not_load_is_refused_and_one_needs_verification(tls_files: Tls) -> None:
    broken = "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"
    errors = SplunkHec().validate_config({"url": "https://s.example.com", "token": "t", "caCertificate": broken})
    assert [(e.field, e.message) for e in errors] == [("caCertificate", "holds no valid PEM certificate")]
    errors = SplunkHec().validate_config(
        {"url": "https://s.example.com", "token": "t", "verifyTls": False, "caCertificate": tls_files.ca_pem}
    )
    assert [(e.field, e.message) for e in errors] == [("caCertificate", "no CA certificate when verifyTls is false")]
    assert (
        SplunkHec().validate_config({"url": "https://s.example.com", "token": "t", "caCertificate": tls_files.ca_pem})
        == []
    )


# ---------------------------------------------------------------------------
# Delivery
# ---------------------------------------------------------------------------


def test_records_arrive_in_order_with_every_field_and_the_chain_verifies(hec: FakeHec) -> None:
    tenant = unique_tenant("hec")
    records = make_records(tenant, 237, outcome=lambda n: "denied" if n % 7 == 0 else "success")
    config = hec.config(index="audit", host="shiplane-test")
    for start in range(0, len(records), 100):
        send(config, records[start : start + 100])

    posts = [r for r in hec.requests if r.method == "POST"]
    assert [r.path for r in posts] == ["/services/collector/event"] * 3
    for request in posts:
        headers = {name.lower(): value for name, value in request.headers.items()}
        assert headers["authorization"] == f"Splunk {HEC_TOKEN}"
        assert headers["content-type"] == "application/json"
        assert headers["user-agent"] == "Shiplane-SIEM/0.1"
        uuid.UUID(headers["x-splunk-request-channel"])
        # Concatenated JSON objects, no array and no separator.
        assert request.body.startswith(b'{"time":') and b'}{"time":' in request.body
        assert not request.body.lstrip().startswith(b"[")

    events = hec.events_of(tenant)
    assert [e["event"]["sequence"] for e in events] == list(range(1, 238))
    previous_hash = "0" * 64
    for event, record in zip(events, records, strict=True):
        assert list(event) == ["time", "host", "source", "sourcetype", "index", "event"]
        assert (event["host"], event["source"], event["sourcetype"], event["index"]) == (
            "shiplane-test",
            "shiplane",
            "shiplane:audit",
            "audit",
        )
        # Epoch seconds with exactly three decimals (milliseconds), as Splunk reads "time".
        assert isinstance(event["time"], Decimal) and event["time"].as_tuple().exponent == -3
        assert event["time"] == Decimal(int(record.occurred_at.timestamp() * 1000)) / 1000
        body = event["event"]
        assert list(body) == RECORD_KEYS
        assert body["id"] == record.id and body["tenantId"] == tenant
        assert body["occurredAt"] == record.occurred_at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        assert body["outcome"] == record.outcome and body["changes"] == record.changes
        # The receiver's check: each hash is sha256(prevHash + canonical), and each prevHash the last hash.
        assert body["prevHash"] == previous_hash
        assert sha256_hex(body["prevHash"] + body["canonical"]) == body["hash"]
        previous_hash = body["hash"]
        # The canonical JSON says what the other fields say.
        canonical = json.loads(body["canonical"])
        for key in ("id", "tenantId", "sequence", "occurredAt", "action", "outcome", "changes", "requestId"):
            assert canonical[key] == body[key]
    assert verify_chain([e["event"] for e in events]) is None  # the plugin's own receiver-side helper agrees


def test_without_index_and_host_the_token_default_index_and_the_server_host_are_used(hec: FakeHec) -> None:
    tenant = unique_tenant("defaults")
    send(hec.config(), make_records(tenant, 2))
    events = hec.events_of(tenant)
    assert [e["index"] for e in events] == ["main", "main"]  # the fake applies the token's default index
    assert events[0]["host"] == socket.gethostname()
    assert b'"index"' not in [r for r in hec.requests if r.method == "POST"][-1].body


def test_a_resent_batch_arrives_again_and_deduplicates_by_tenant_and_sequence(hec: FakeHec) -> None:
    tenant = unique_tenant("again")
    records = make_records(tenant, 5)
    send(hec.config(), records)
    send(hec.config(), records)  # the core retries a batch whose answer it did not see
    sequences = [e["event"]["sequence"] for e in hec.events_of(tenant)]
    assert sequences == [1, 2, 3, 4, 5, 1, 2, 3, 4, 5]
    assert sorted({(e["event"]["tenantId"], e["event"]["sequence"]) for e in hec.events_of(tenant)}) == [
        (tenant, n) for n in range(1, 6)
    ]


def test_an_empty_batch_sends_nothing(hec: FakeHec) -> None:
    send(hec.config(), [])
    assert hec.requests == []


def test_the_body_is_the_documented_event_objects() -> None:
    [record] = make_records("ten_acme", 1)
    body = hec_body([record], host="shiplane-1", index="audit").decode()
    assert body.startswith('{"time":1796017022.121,"host":"shiplane-1","source":"shiplane",')
    assert '"sourcetype":"shiplane:audit","index":"audit","event":{"id":' in body
    assert json.loads(body)["event"]["canonical"] == record.canonical


# ---------------------------------------------------------------------------
# Refusals and failures
# ---------------------------------------------------------------------------


def test_a_wrong_token_is_refused_with_the_code_and_without_the_token(hec: FakeHec) -> None:
    error = refused(hec.config(token="wrong-token-0123456789"), make_records(unique_tenant("t"), 3))
    assert error.message == (
        f'Splunk HEC at {hec.url} refused the batch of 3 audit records 1-3: HTTP 403, code 4 "Invalid token"'
    )
    assert (error.details["status"], error.details["code"], error.details["text"]) == (403, 4, "Invalid token")
    error = refused(hec.config(token=DISABLED_TOKEN), make_records(unique_tenant("t"), 1))
    assert "code 1" in error.message and "Token disabled" in error.message


def test_an_index_the_token_may_not_write_is_refused(hec: FakeHec) -> None:
    tenant = unique_tenant("index")
    error = refused(hec.config(index="secrets"), make_records(tenant, 4))
    assert error.message == (
        f"Splunk HEC at {hec.url} refused the batch of 4 audit records 1-4 (invalid-event-number 0): "
        'HTTP 400, code 7 "Incorrect index" (index "secrets")'
    )
    assert error.details["invalidEventNumber"] == 0
    assert hec.events_of(tenant) == []


def test_server_busy_is_a_failure_and_the_same_batch_goes_through_on_retry(hec: FakeHec) -> None:
    tenant = unique_tenant("busy")
    records = make_records(tenant, 10)
    hec.mode = "busy"
    error = refused(hec.config(), records)
    assert error.message.endswith('HTTP 503, code 9 "Server is busy"')
    assert error.details["firstSequence"] == 1 and error.details["lastSequence"] == 10
    hec.mode = "normal"
    send(hec.config(), records)
    assert [e["event"]["sequence"] for e in hec.events_of(tenant)] == list(range(1, 11))


def test_an_unreachable_collector_is_a_failure() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    error = refused({"url": url, "token": HEC_TOKEN, "timeoutSeconds": 2}, make_records(unique_tenant("t"), 1))
    assert error.message.startswith(f"could not connect to Splunk HEC at {url}: ")


def test_a_collector_that_never_answers_times_out(hec: FakeHec) -> None:
    hec.mode = "hang"
    error = refused(hec.config(timeoutSeconds=1), make_records(unique_tenant("t"), 2))
    assert error.message == f"Splunk HEC at {hec.url} did not answer the batch of 2 audit records 1-2 within 1s"


def test_redirects_are_not_followed(hec: FakeHec) -> None:
    hec.mode = "redirect"
    error = refused(hec.config(), make_records(unique_tenant("t"), 1))
    assert "HTTP 302, a redirect to http://127.0.0.1:1/services/collector/event: redirects are not followed" in (
        error.message
    )
    assert len(hec.requests) == 1


def test_an_answer_that_is_not_hec_is_a_failure(hec: FakeHec) -> None:
    hec.mode = "proxy-error"
    error = refused(hec.config(), make_records(unique_tenant("t"), 1))
    assert error.message == (
        f"{hec.url} answered the batch of 1 audit record 1-1 with HTTP 502 Bad Gateway "
        "(<html><body><h1>502 Bad Gateway</h1></body></html>), not with a Splunk HEC status"
    )


def test_the_token_echoed_back_is_masked(hec: FakeHec, monkeypatch: pytest.MonkeyPatch) -> None:
    hec.mode = "busy"
    monkeypatch.setattr(siem_servers, "SERVER_BUSY", (503, f"busy, token {HEC_TOKEN} rejected", 9))
    error = refused(hec.config(), make_records(unique_tenant("t"), 1))
    assert "token *** rejected" in error.message


def test_bad_batches_are_refused_before_sending(hec: FakeHec) -> None:
    records = make_records(unique_tenant("a"), 101)
    assert "at most 100" in refused(hec.config(), records).message
    mixed = make_records(unique_tenant("a"), 1) + make_records(unique_tenant("b"), 1, start=2)
    assert "one tenant" in refused(hec.config(), mixed).message
    backwards = list(reversed(make_records(unique_tenant("c"), 2)))
    assert "sequence order" in refused(hec.config(), backwards).message
    assert hec.requests == []
    with pytest.raises(ConfigValidationError):
        send({"url": hec.url}, records[:1])


# ---------------------------------------------------------------------------
# Indexer acknowledgment
# ---------------------------------------------------------------------------


@pytest.fixture
def ack_hec() -> Any:
    fake = FakeHec({ACK_TOKEN: HecToken(ack=True)}).start()
    try:
        yield fake
    finally:
        fake.stop()


def test_with_indexer_acknowledgment_the_call_returns_once_the_batch_is_indexed(ack_hec: FakeHec) -> None:
    tenant = unique_tenant("ack")
    send(ack_hec.config(token=ACK_TOKEN), make_records(tenant, 3))
    post, *queries = [r for r in ack_hec.requests if r.method == "POST"]
    assert post.path == "/services/collector/event"
    assert [q.path for q in queries] == ["/services/collector/ack"] * 2  # ack_after = 2 queries
    channel = post.headers["X-Splunk-Request-Channel"]
    assert all(q.headers["X-Splunk-Request-Channel"] == channel for q in queries)
    assert all(json.loads(q.body) == {"acks": [0]} for q in queries)
    assert [e["event"]["sequence"] for e in ack_hec.events_of(tenant)] == [1, 2, 3]


def test_a_batch_never_reported_indexed_is_a_failure(ack_hec: FakeHec) -> None:
    ack_hec.ack_after = 10**9
    error = refused(ack_hec.config(token=ACK_TOKEN, timeoutSeconds=1), make_records(unique_tenant("t"), 1))
    assert error.message == (
        f"Splunk HEC at {ack_hec.url} took the batch of 1 audit record 1-1 but did not confirm it indexed "
        "(indexer acknowledgment, ackId 0) within 1s"
    )


# ---------------------------------------------------------------------------
# TLS
# ---------------------------------------------------------------------------


@pytest.fixture
def https_hec(tls_files: Tls) -> Any:
    fake = FakeHec(tls=tls_files).start()
    try:
        yield fake
    finally:
        fake.stop()


def test_https_with_the_collector_ca(https_hec: FakeHec, tls_files: Tls) -> None:
    tenant = unique_tenant("tls")
    assert https_hec.url.startswith("https://")
    send(https_hec.config(caCertificate=tls_files.ca_pem), make_records(tenant, 2))
    assert len(https_hec.events_of(tenant)) == 2
    # Another CA: the certificate is not accepted and nothing is sent.
    other = tls_files.other_ca.read_text()
    error = refused(https_hec.config(caCertificate=other), make_records(tenant, 1, start=3))
    assert "certificate verify failed" in error.message.lower()
    # verifyTls false: anything goes (the token is then only as safe as the network).
    send(https_hec.config(verifyTls=False), make_records(tenant, 1, start=3))
    assert [e["event"]["sequence"] for e in https_hec.events_of(tenant)] == [1, 2, 3]


# ---------------------------------------------------------------------------
# test() and health()
# ---------------------------------------------------------------------------


def run_test(config: dict[str, Any]) -> Any:
    result = asyncio.run(SplunkHec().test(config))
    assert_no_secret(result.message, result.details)
    return result


def test_test_checks_health_and_the_token_without_indexing_anything(hec: FakeHec) -> None:
    result = run_test(hec.config(index="audit"))
    assert result.ok, result.message
    assert result.message == (
        f"Splunk HEC at {hec.url} is healthy and accepts the token (the index is checked by the first batch)"
    )
    assert (result.details["healthCode"], result.details["tokenCheckCode"]) == (17, 5)
    assert [(r.method, r.path, r.body) for r in hec.requests] == [
        ("GET", "/services/collector/health", b""),
        ("POST", "/services/collector/event", b""),
    ]
    assert "Authorization" not in hec.requests[0].headers  # the health check needs no token
    assert hec.indexed == []


def test_test_fails_on_a_wrong_token(hec: FakeHec) -> None:
    result = run_test(hec.config(token="wrong-token-0123456789"))
    assert not result.ok
    assert result.message == f'Splunk HEC at {hec.url} refused the token: HTTP 403, code 4 "Invalid token"'


def test_test_fails_when_hec_is_unhealthy(hec: FakeHec) -> None:
    hec.mode = "unhealthy"
    result = run_test(hec.config())
    assert not result.ok
    assert (
        result.message
        == f'Splunk HEC at {hec.url} is not healthy: HTTP 503, code 18 "HEC is unhealthy, queues are full"'
    )


def test_test_without_a_health_endpoint_relies_on_the_token_check(hec: FakeHec) -> None:
    hec.mode = "no-health"
    result = run_test(hec.config())
    assert result.ok and result.message.startswith(f"Splunk HEC at {hec.url} is reachable (no health endpoint)")
    result = run_test(hec.config(url=hec.url + "/wrong/prefix"))
    assert not result.ok
    assert result.message == (
        f'Splunk HEC at {hec.url} answered the token check with HTTP 404, code 404 "The requested URL was not '
        'found on this server."'
    )


def test_test_fails_when_unreachable_or_misconfigured() -> None:
    result = run_test({"url": f"http://127.0.0.1:{free_port()}", "token": HEC_TOKEN, "timeoutSeconds": 2})
    assert not result.ok and result.message.startswith("could not connect to Splunk HEC at http://127.0.0.1:")
    result = run_test({"url": "https://splunk.example.com/services/collector", "token": HEC_TOKEN})
    assert not result.ok and result.message.startswith("invalid configuration: url: give the base URL")


def test_health_reads_the_health_endpoint(hec: FakeHec) -> None:
    report = asyncio.run(SplunkHec().health(hec.config()))
    assert (report.status, report.details["code"]) == ("ok", 17)
    hec.mode = "unhealthy"
    report = asyncio.run(SplunkHec().health(hec.config()))
    assert report.status == "failing" and "code 18" in report.message
    report = asyncio.run(SplunkHec().health({"url": f"http://127.0.0.1:{free_port()}", "timeoutSeconds": 2}))
    assert report.status == "failing" and report.message.startswith("could not connect")
