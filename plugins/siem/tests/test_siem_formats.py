"""The wire formats and the receiver's chain check, without a network."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from shiplane_plugin_siem import GENESIS_HASH, chain_hash, verify_chain
from shiplane_plugin_siem.common import check_batch, epoch_millis, record_json, rfc3339_millis, tls_context
from shiplane_plugin_siem.splunk import hec_event
from shiplane_plugin_siem.syslog import escape_sd_value, frame, msgid_of, severity_of, syslog_message
from shiplane_sdk import PluginError
from siem_servers import make_records, sha256_hex


def test_times() -> None:
    moment = datetime(2026, 11, 30, 5, 37, 1, 120999, tzinfo=UTC)
    assert rfc3339_millis(moment) == "2026-11-30T05:37:01.120Z"
    assert epoch_millis(moment) == "1796017021.120"
    assert rfc3339_millis(moment.replace(tzinfo=None)) == "2026-11-30T05:37:01.120Z"  # naive is UTC
    paris = moment.astimezone(timezone(timedelta(hours=1)))
    assert (rfc3339_millis(paris), epoch_millis(paris)) == ("2026-11-30T05:37:01.120Z", "1796017021.120")
    assert epoch_millis(datetime(1970, 1, 1, 0, 0, 0, 5000, tzinfo=UTC)) == "0.005"


def test_the_hec_event_of_a_record() -> None:
    [record] = make_records("ten_acme", 1)
    event = hec_event(record, host="shiplane-1")
    assert event.startswith(
        '{"time":1796017022.121,"host":"shiplane-1","source":"shiplane","sourcetype":"shiplane:audit",'
    )
    parsed = json.loads(event)
    assert "index" not in parsed
    assert parsed["event"] == record_json(record)
    assert parsed["event"]["canonical"] == record.canonical


def test_the_syslog_message_of_a_record() -> None:
    [record] = make_records("ten_acme", 1)
    message = syslog_message(record, hostname="shiplane-1").decode("utf-8")
    assert message == (
        '<37>1 2026-11-30T05:37:02.121Z shiplane-1 shiplane - environment.update [shiplane@32473 tenant="ten_acme" '
        f'seq="1" id="{record.id}" action="environment.update" outcome="success" hash="{record.hash}" '
        f'prevHash="{GENESIS_HASH}"] \ufeff{record.canonical}'
    )
    assert frame(message.encode()) == f"{len(message.encode())} ".encode() + message.encode()
    no_bom = syslog_message(record, hostname="h", utf8_bom=False, facility="local0", sd_id="acme@1").decode()
    assert (
        no_bom.startswith("<133>1 ")
        and '[acme@1 tenant="ten_acme"' in no_bom
        and no_bom.endswith("] " + record.canonical)
    )


def test_sd_escaping_msgid_and_severity() -> None:
    assert escape_sd_value('a"b]c\\d') == 'a\\"b\\]c\\\\d'
    assert escape_sd_value("\\]") == "\\\\\\]"
    assert msgid_of("environment.create") == "environment.create"
    assert msgid_of("a b\tc\u00e9d") == "a_b_c_d"
    assert msgid_of("x" * 40) == "x" * 32
    assert msgid_of("") == "-"
    assert [severity_of(o) for o in ("success", "denied", "failure", "error", "other")] == [5, 4, 3, 3, 4]


def test_a_long_record_is_cut_at_a_character_boundary_and_marked() -> None:
    [record] = make_records("ten_acme", 1, changes=lambda n: {"text": "€" * 2000})
    message = syslog_message(record, hostname="h", max_bytes=2048)
    assert len(message) <= 2048
    text = message.decode("utf-8")  # no broken character at the end
    full = record.canonical.encode()
    assert f'truncated="{len(full)}"]' in text
    assert full.startswith(text.split("] \ufeff", 1)[1].encode())


def test_verify_chain() -> None:
    records = [record_json(r) for r in make_records("ten_acme", 5)]
    assert verify_chain(records) is None
    assert chain_hash(records[0]["prevHash"], records[0]["canonical"]) == records[0]["hash"]
    assert sha256_hex(records[0]["prevHash"] + records[0]["canonical"]) == records[0]["hash"]
    # Piece by piece: continuing from the last record verified.
    assert verify_chain(records[3:], previous=records[2]) is None
    assert verify_chain(records[3:], previous=records[1]) == "record 3 is missing (record 4 follows record 2)"
    # At least once: a repeat of the record before is skipped; another record with its sequence is not.
    assert verify_chain([records[0], records[1], records[1], records[2]]) is None
    impostor = {**records[1], "hash": "e" * 64}
    assert verify_chain([records[0], records[1], impostor]) == "record 2: two different records have this sequence"

    tampered = [dict(r) for r in records]
    tampered[2]["canonical"] = tampered[2]["canonical"].replace("prod-3", "prod-X")
    assert verify_chain(tampered) == "record 3: hash is not sha256(prevHash + canonical)"

    rehashed = [dict(r) for r in records]
    rehashed[2]["canonical"] = tampered[2]["canonical"]
    rehashed[2]["hash"] = chain_hash(rehashed[2]["prevHash"], rehashed[2]["canonical"])
    assert verify_chain(rehashed) == "record 4: prevHash is not the hash of record 3"

    forged = [dict(r) for r in records]
    forged[0]["prevHash"] = "f" * 64
    forged[0]["hash"] = chain_hash(forged[0]["prevHash"], forged[0]["canonical"])
    assert verify_chain(forged) == "record 1: prevHash is not the genesis hash"

    assert verify_chain([records[0], records[2]]) == "record 2 is missing (record 3 follows record 1)"
    assert verify_chain(records[2:]) is None  # a window that starts mid-chain


def test_check_batch() -> None:
    records = make_records("ten_acme", 3)
    assert check_batch(records) == records
    assert check_batch([r.model_dump() for r in records]) == records
    with pytest.raises(PluginError, match="sequence order"):
        check_batch([records[0], records[0]])


def test_tls_context_refuses_a_broken_ca() -> None:
    with pytest.raises(PluginError, match="caCertificate holds no valid PEM certificate"):
        tls_context(True, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    assert tls_context(True, None) is tls_context(True, None)
