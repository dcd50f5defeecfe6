"""The ``syslog`` type against a real rsyslogd (imtcp, octet-counting framing, RFC 5424 parser,
mmpstrucdata for the structured data), plain TCP and TLS."""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from shiplane_plugin_siem import verify_chain
from shiplane_plugin_siem.common import rfc3339_millis
from shiplane_plugin_siem.syslog import Syslog
from shiplane_sdk import AuditRecord, ConfigValidationError, PluginError
from shiplane_sdk.testing import IntegrationTypeContract
from siem_servers import Rsyslog, Tls, free_port, make_records, sha256_hex, unique_tenant

BOM = "\ufeff"
SD_ID = "shiplane@32473"


def send(config: dict[str, Any], records: list[AuditRecord]) -> None:
    asyncio.run(Syslog().send_audit(config, records))


def refused(config: dict[str, Any], records: list[AuditRecord]) -> PluginError:
    with pytest.raises(PluginError) as caught:
        send(config, records)
    return caught.value


def verify_received(messages: list[dict[str, Any]], records: list[AuditRecord], sd_id: str = SD_ID) -> None:
    """What a receiver checks: the sequence has no gap, each MSG (BOM removed) hashes with the
    SD's prevHash to the SD's hash, and each prevHash is the previous hash."""
    previous = "0" * 64
    for message, record in zip(messages, records, strict=True):
        sd = message["sd"][sd_id]
        assert int(sd["seq"]) == record.sequence
        canonical = message["msg"].removeprefix(BOM)
        assert canonical == record.canonical
        assert sd["prevHash"] == previous
        assert sha256_hex(sd["prevHash"] + canonical) == sd["hash"] == record.hash
        previous = sd["hash"]
    received = [
        {"sequence": int(m["sd"][sd_id]["seq"]), "canonical": m["msg"].removeprefix(BOM), **m["sd"][sd_id]}
        for m in messages
    ]
    assert verify_chain(received) is None  # the plugin's own receiver-side helper agrees


# ---------------------------------------------------------------------------
# Contract
# ---------------------------------------------------------------------------


class TestSyslogContract(IntegrationTypeContract):
    valid_configs = [
        {"host": "siem.example.com"},
        {
            "host": "10.1.2.3",
            "port": 6514,
            "facility": "local4",
            "hostname": "shiplane-eu-1",
            "sdId": "shiplane@12345.1",
            "tls": True,
            "timeoutSeconds": 60,
            "maxMessageBytes": 65536,
            "utf8Bom": False,
        },
        {"host": "::1", "port": 601, "facility": "logaudit", "timeoutSeconds": 1},
    ]
    invalid_configs = [
        {},
        {"port": 514},
        {"host": "siem.example.com\n"},
        {"host": "siem example.com"},
        {"host": "siem.example.com", "port": 0},
        {"host": "siem.example.com", "port": 65536},
        {"host": "siem.example.com", "facility": "kern"},
        {"host": "siem.example.com", "facility": "AUTH"},
        {"host": "siem.example.com", "hostname": "two words"},
        {"host": "siem.example.com", "sdId": "shiplane"},
        {"host": "siem.example.com", "sdId": 'ship"lane@32473'},
        {"host": "siem.example.com", "sdId": "a-very-long-structured-data-name@32473"},
        {"host": "siem.example.com", "timeoutSeconds": 0.5},
        {"host": "siem.example.com", "maxMessageBytes": 480},
        {"host": "siem.example.com", "caCertificate": "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----"},
        {"host": "siem.example.com", "tls": "yes"},
        {"host": "siem.example.com", "protocol": "udp"},
    ]

    @pytest.fixture(autouse=True)
    def _rsyslog(self, rsyslog: Rsyslog) -> None:
        self.rsyslog = rsyslog

    def make_capability(self) -> Syslog:
        return Syslog()

    def operation_config(self) -> dict[str, Any]:
        return self.rsyslog.config()


def test_no_secrets_and_the_destination_fields() -> None:
    assert Syslog().secret_fields() == []
    assert Syslog().destination_fields() == ["host", "port"]


def test_a_ca_certificate_needs_tls(tls_files: Tls) -> None:
    errors = Syslog().validate_config({"host": "siem.example.com", "caCertificate": tls_files.ca_pem})
    assert [(e.field, e.message) for e in errors] == [("tls", "caCertificate needs tls: true")]


# ---------------------------------------------------------------------------
# Delivery to rsyslog
# ---------------------------------------------------------------------------


def test_batches_arrive_in_order_with_the_structured_data_and_the_chain_verifies(rsyslog: Rsyslog) -> None:
    tenant = unique_tenant("syslog")
    records = make_records(tenant, 250, action=lambda n: "environment.update" if n % 2 else "release.create")
    config = rsyslog.config(hostname="shiplane-test")
    for start in range(0, len(records), 100):
        send(config, records[start : start + 100])

    messages = rsyslog.messages_of(tenant, 250)
    assert [int(m["sd"][SD_ID]["seq"]) for m in messages] == list(range(1, 251))
    verify_received(messages, records)
    for message, record in zip(messages, records, strict=True):
        # Parsed by rsyslog's RFC 5424 parser: facility auth (4), severity notice (5) for success.
        assert (message["facility"], message["severity"]) == ("4", "5")
        assert message["timestamp"] == rfc3339_millis(record.occurred_at)
        assert (message["hostname"], message["appName"], message["procid"]) == ("shiplane-test", "shiplane", "-")
        assert message["msgid"] == record.action
        assert message["sd"][SD_ID] == {
            "tenant": tenant,
            "seq": str(record.sequence),
            "id": record.id,
            "action": record.action,
            "outcome": "success",
            "hash": record.hash,
            "prevHash": record.prev_hash,
        }
        assert message["msg"].startswith(BOM)  # RFC 5424's MSG-UTF8
        assert message["raw"].startswith(f"<37>1 {rfc3339_millis(record.occurred_at)} shiplane-test shiplane - ")
        parsed = json.loads(message["msg"].removeprefix(BOM))
        assert (parsed["sequence"], parsed["tenantId"], parsed["changes"]) == (record.sequence, tenant, record.changes)


def test_structured_data_values_are_escaped_and_arrive_intact(rsyslog: Rsyslog) -> None:
    tenant = unique_tenant('q"uo]te\\back')
    action = 'odd action] with "quotes" \\ and ünïcode, longer than thirty-two characters'
    records = make_records(tenant, 3, action=action)
    send(rsyslog.config(), records)

    messages = rsyslog.messages_of(tenant, 3)
    verify_received(messages, records)
    for message in messages:
        sd = message["sd"][SD_ID]
        assert (sd["tenant"], sd["action"]) == (tenant, action)  # unescaped by rsyslog's mmpstrucdata
        escaped_tenant = tenant.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")
        assert f'tenant="{escaped_tenant}"' in message["structuredData"]
        assert 'action="odd action\\] with \\"quotes\\" \\\\ and ünïcode' in message["structuredData"]
        # MSGID: printable US-ASCII only, at most 32 characters.
        assert message["msgid"] == 'odd_action]_with_"quotes"_\\_and_'


def test_severity_follows_the_outcome_and_facility_is_configurable(rsyslog: Rsyslog) -> None:
    tenant = unique_tenant("severity")
    outcomes = {1: "success", 2: "denied", 3: "failure", 4: "something-else"}
    records = make_records(tenant, 4, outcome=lambda n: outcomes[n])
    send(rsyslog.config(facility="local3"), records)
    messages = rsyslog.messages_of(tenant, 4)
    assert [(m["facility"], m["severity"]) for m in messages] == [("19", "5"), ("19", "4"), ("19", "3"), ("19", "4")]
    assert [m["raw"].split(" ", 1)[0] for m in messages] == ["<157>1", "<156>1", "<155>1", "<156>1"]
    verify_received(messages, records)


def test_without_bom_with_another_sd_id(rsyslog: Rsyslog) -> None:
    tenant = unique_tenant("nobom")
    records = make_records(tenant, 2)
    send(rsyslog.config(utf8Bom=False, sdId="acme@12345"), records)
    messages = rsyslog.messages_of(tenant, 2, sd_id="acme@12345")
    assert not messages[0]["msg"].startswith(BOM)
    assert json.loads(messages[0]["msg"])["sequence"] == 1
    verify_received(messages, records, sd_id="acme@12345")


def test_a_record_longer_than_max_message_bytes_is_cut_and_marked(rsyslog: Rsyslog) -> None:
    tenant = unique_tenant("long")
    records = make_records(tenant, 3, changes=lambda n: {"after": {"blob": "é" * 3000}} if n == 2 else None)
    send(rsyslog.config(maxMessageBytes=2048), records)
    first, long, last = rsyslog.messages_of(tenant, 3)
    assert "truncated" not in first["sd"][SD_ID] and "truncated" not in last["sd"][SD_ID]
    full = records[1].canonical.encode()
    assert long["sd"][SD_ID]["truncated"] == str(len(full))
    assert len(long["raw"].encode()) <= 2048
    kept = long["msg"].removeprefix(BOM)
    assert full.startswith(kept.encode()) and len(kept) > 100
    # The chain still links through the cut record (its hash and prevHash are in the SD).
    assert long["sd"][SD_ID]["prevHash"] == first["sd"][SD_ID]["hash"]
    assert last["sd"][SD_ID]["prevHash"] == long["sd"][SD_ID]["hash"]


def test_an_empty_batch_connects_to_nobody() -> None:
    send({"host": "127.0.0.1", "port": free_port()}, [])


# ---------------------------------------------------------------------------
# Failures
# ---------------------------------------------------------------------------


def test_an_unreachable_port_is_a_failure() -> None:
    port = free_port()
    error = refused({"host": "127.0.0.1", "port": port, "timeoutSeconds": 2}, make_records(unique_tenant("t"), 2))
    assert error.message == f"could not connect to the syslog receiver 127.0.0.1:{port}: connection refused"
    assert error.details["stage"] == "connect" and error.details["lastSequence"] == 2


def test_an_unknown_host_is_a_failure() -> None:
    config = {"host": "no-such-host.invalid", "port": 514, "timeoutSeconds": 2}
    error = refused(config, make_records(unique_tenant("t"), 1))
    assert error.message.startswith(
        ("could not resolve the syslog host no-such-host.invalid", "the syslog receiver no-such-host.invalid:514")
    )


@pytest.fixture
def silent_listener() -> Iterator[int]:
    """A port whose kernel completes TCP handshakes but where nobody ever reads or answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


def test_a_tls_handshake_that_never_completes_times_out(silent_listener: int, tls_files: Tls) -> None:
    config = {
        "host": "127.0.0.1",
        "port": silent_listener,
        "tls": True,
        "caCertificate": tls_files.ca_pem,
        "timeoutSeconds": 1,
    }
    error = refused(config, make_records(unique_tenant("t"), 1))
    assert error.message == (
        f"the syslog receiver 127.0.0.1:{silent_listener} did not accept a connection and complete the TLS "
        "handshake within 1s"
    )


@pytest.fixture
def resetting_receiver() -> Iterator[int]:
    """Accepts, reads one byte, then resets the connection (SO_LINGER 0) with the rest unread."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(10)

    def serve() -> None:
        try:
            connection, _ = server.accept()
        except OSError:
            return
        with connection:
            connection.settimeout(10)
            connection.recv(1)
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        thread.join(10)
        server.close()


def test_a_receiver_that_resets_the_connection_is_a_failure(resetting_receiver: int) -> None:
    error = refused(
        {"host": "127.0.0.1", "port": resetting_receiver, "timeoutSeconds": 5}, make_records(unique_tenant("t"), 50)
    )
    assert error.message.startswith(f"the syslog receiver 127.0.0.1:{resetting_receiver} ")
    assert error.details["stage"] in ("send", "close")


def test_bad_batches_and_configs_are_refused_before_connecting() -> None:
    with pytest.raises(PluginError, match="at most 100"):
        send({"host": "127.0.0.1", "port": free_port()}, make_records(unique_tenant("t"), 101))
    with pytest.raises(ConfigValidationError):
        send({"host": "127.0.0.1", "port": 0}, make_records(unique_tenant("t"), 1))


# ---------------------------------------------------------------------------
# TLS (rsyslog with its OpenSSL driver)
# ---------------------------------------------------------------------------


def test_over_tls_records_arrive_and_the_certificate_is_checked(rsyslog_tls: Rsyslog, tls_files: Tls) -> None:
    tenant = unique_tenant("tls")
    records = make_records(tenant, 120)
    config = rsyslog_tls.config()
    send(config, records[:100])
    send(config, records[100:])
    verify_received(rsyslog_tls.messages_of(tenant, 120), records)

    other = {**config, "caCertificate": tls_files.other_ca.read_text()}
    error = refused(other, make_records(tenant, 1, start=121, prev_hash=records[-1].hash))
    assert error.message.startswith(f"the TLS certificate of 127.0.0.1:{rsyslog_tls.port} was not accepted: ")
    result = asyncio.run(Syslog().test(other))
    assert not result.ok and "was not accepted" in result.message

    result = asyncio.run(Syslog().test(config))
    assert result.ok, result.message
    assert result.message == (
        f"the syslog receiver 127.0.0.1:{rsyslog_tls.port} accepted a TLS connection (certificate verified); "
        "nothing was sent"
    )


# ---------------------------------------------------------------------------
# test() and health()
# ---------------------------------------------------------------------------


def test_test_and_health(rsyslog: Rsyslog) -> None:
    result = asyncio.run(Syslog().test(rsyslog.config()))
    assert result.ok
    assert result.message == f"the syslog receiver 127.0.0.1:{rsyslog.port} accepted a TCP connection; nothing was sent"
    assert asyncio.run(Syslog().health(rsyslog.config())).status == "ok"

    closed = {"host": "127.0.0.1", "port": free_port(), "timeoutSeconds": 2}
    result = asyncio.run(Syslog().test(closed))
    assert not result.ok and result.message.endswith("connection refused")
    assert asyncio.run(Syslog().health(closed)).status == "failing"

    result = asyncio.run(Syslog().test({"host": "127.0.0.1", "port": 70000}))
    assert not result.ok and result.message.startswith("invalid configuration: port: ")
