"""What both SIEM sinks share: the batch rules, the record's JSON form, the chain check,
TLS contexts, and messages that never quote a secret."""

from __future__ import annotations

import hashlib
import re
import ssl
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from shiplane_sdk import AuditRecord, ConfigError, PluginError

__all__ = [
    "END",
    "GENESIS_HASH",
    "MAX_BATCH",
    "PEM_PATTERN",
    "USER_AGENT",
    "chain_hash",
    "check_batch",
    "epoch_millis",
    "friendlier",
    "masked",
    "record_json",
    "rfc3339_millis",
    "single_line",
    "tls_context",
    "verify_chain",
]

USER_AGENT = "Shiplane-SIEM/0.1"
#: The most records ``send_audit`` takes in one call (the core sends at most 100).
MAX_BATCH = 100
#: The ``prevHash`` of a tenant's first audit event.
GENESIS_HASH = "0" * 64
# The very end of a string: Python's "$" also matches before a final newline, ECMA-262's
# does not; "$(?!\n)" means the end in both (JSON Schema patterns are ECMA-262, jsonschema uses re).
END = "$(?!\\n)"
#: One or more PEM certificates (the text between the markers is checked when loaded).
PEM_PATTERN = r"^\s*-----BEGIN CERTIFICATE-----[\s\S]+-----END CERTIFICATE-----\s*" + END
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# ---------------------------------------------------------------------------
# Text
# ---------------------------------------------------------------------------


def single_line(text: str, limit: int) -> str:
    """``text`` on one line (control characters and whitespace runs become one space), at most
    ``limit`` characters (cut with ``…``)."""
    cleaned = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return cleaned if len(cleaned) <= limit else cleaned[: max(limit - 1, 0)] + "…"


def masked(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every secret of at least 3 characters replaced by ``***``."""
    for secret in sorted((s for s in secrets if s and len(s) >= 3), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def friendlier(errors: list[ConfigError], rules: Iterable[tuple[str, Iterable[str], str]]) -> list[ConfigError]:
    """``errors`` with plain messages: each rule is ``(field regex, codes, message)``; the first
    rule whose regex matches an error's whole field and whose codes hold its code gives its
    message (never the value). Identical errors are then reported once."""
    compiled = [(re.compile(pattern), frozenset(codes), text) for pattern, codes, text in rules]
    result: list[ConfigError] = []
    seen: set[tuple[str, str]] = set()
    for error in errors:
        for pattern, codes, text in compiled:
            if error.code in codes and pattern.fullmatch(error.field):
                error = ConfigError(field=error.field, message=text, code=error.code)
                break
        if (error.field, error.message) not in seen:
            seen.add((error.field, error.message))
            result.append(error)
    return result


# ---------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------


def _utc(moment: datetime) -> datetime:
    """``moment`` in UTC (a naive datetime is taken as UTC, as the core stores them)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def rfc3339_millis(moment: datetime) -> str:
    """RFC 3339 in UTC with milliseconds, ``2026-11-30T05:37:01.120Z`` (as the core writes them)."""
    return _utc(moment).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def epoch_millis(moment: datetime) -> str:
    """Unix seconds with exactly three decimals, ``1796016421.120`` (computed exactly, no float)."""
    millis = (_utc(moment) - _EPOCH) // timedelta(milliseconds=1)
    seconds, rest = divmod(millis, 1000)
    return f"{seconds}.{rest:03d}"


def record_json(record: AuditRecord) -> dict[str, Any]:
    """The record as a JSON object with camelCase keys, in a fixed order."""
    return {
        "id": record.id,
        "tenantId": record.tenant_id,
        "sequence": record.sequence,
        "occurredAt": rfc3339_millis(record.occurred_at),
        "actorType": record.actor_type,
        "actorId": record.actor_id,
        "action": record.action,
        "resourceType": record.resource_type,
        "resourceId": record.resource_id,
        "outcome": record.outcome,
        "requestId": record.request_id,
        "changes": record.changes,
        "prevHash": record.prev_hash,
        "hash": record.hash,
        "canonical": record.canonical,
    }


def check_batch(records: Sequence[AuditRecord | Mapping[str, Any]]) -> list[AuditRecord]:
    """``records`` as :class:`AuditRecord`\\ s, checked: at most :data:`MAX_BATCH`, one tenant,
    sequence strictly increasing. Raises :class:`PluginError` otherwise (nothing is sent)."""
    if len(records) > MAX_BATCH:
        raise PluginError(f"a batch holds at most {MAX_BATCH} audit records, not {len(records)}")
    batch = [r if isinstance(r, AuditRecord) else AuditRecord.model_validate(r) for r in records]
    tenants = {r.tenant_id for r in batch}
    if len(tenants) > 1:
        raise PluginError(f"a batch holds the audit records of one tenant, not {len(tenants)}")
    for before, after in zip(batch, batch[1:], strict=False):
        if after.sequence <= before.sequence:
            raise PluginError(
                f"the audit records of a batch must be in sequence order ({after.sequence} follows {before.sequence})"
            )
    return batch


def chain_hash(prev_hash: str, canonical: str) -> str:
    """The chain hash of an audit record: ``sha256_hex(prev_hash + canonical)`` over UTF-8."""
    return hashlib.sha256((prev_hash + canonical).encode("utf-8")).hexdigest()


def verify_chain(records: Iterable[Mapping[str, Any]], previous: Mapping[str, Any] | None = None) -> str | None:
    """Check records a sink received for one tenant (dicts with ``sequence``, ``prevHash``,
    ``hash`` and ``canonical``, as both sinks send them), in sequence order; ``None`` if the
    chain holds, else what is wrong, in one sentence.

    Every record's ``hash`` must be ``sha256_hex(prevHash + canonical)``; every record's
    ``prevHash`` the ``hash`` of the record before it, and the record of sequence 1 must start
    from :data:`GENESIS_HASH`; sequences must follow each other without a gap. ``previous`` is
    the last record verified before (to check a stream piece by piece); without it the first
    record is taken as the start. A repeat of the record before it (same sequence and hash:
    delivery is at least once) is skipped.
    """
    last = previous
    for record in records:
        sequence = record.get("sequence")
        if not isinstance(sequence, int) or isinstance(sequence, bool):
            return f"a record has no integer sequence ({sequence!r})"
        if last is not None and sequence == last.get("sequence"):
            if record.get("hash") == last.get("hash"):
                continue
            return f"record {sequence}: two different records have this sequence"
        if chain_hash(str(record.get("prevHash")), str(record.get("canonical"))) != record.get("hash"):
            return f"record {sequence}: hash is not sha256(prevHash + canonical)"
        if sequence == 1 and record.get("prevHash") != GENESIS_HASH:
            return "record 1: prevHash is not the genesis hash"
        if last is not None:
            expected = int(last.get("sequence", 0)) + 1
            if sequence != expected:
                return f"record {expected} is missing (record {sequence} follows record {expected - 1})"
            if record.get("prevHash") != last.get("hash"):
                return f"record {sequence}: prevHash is not the hash of record {sequence - 1}"
        last = record
    return None


# ---------------------------------------------------------------------------
# TLS
# ---------------------------------------------------------------------------


@lru_cache(maxsize=32)
def tls_context(verify: bool = True, ca_pem: str | None = None) -> ssl.SSLContext:
    """A TLS client context: certificates and host names verified against the system's trust
    store, or against ``ca_pem`` only when given; nothing verified when ``verify`` is false.
    Contexts are cached (they are safe to share between threads and event loops). Raises
    :class:`PluginError` when ``ca_pem`` holds no usable certificate."""
    if not verify:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if ca_pem is None:
        return ssl.create_default_context()
    try:
        return ssl.create_default_context(cadata=ca_pem)
    except (ssl.SSLError, ValueError):
        raise PluginError("caCertificate holds no valid PEM certificate") from None


def ca_errors(config: Any, field: str = "caCertificate") -> list[ConfigError]:
    """A :class:`ConfigError` if ``config[field]`` is PEM text that does not load (offline check)."""
    pem = config.get(field) if isinstance(config, dict) else None
    if not isinstance(pem, str) or not re.search(PEM_PATTERN, pem):
        return []
    try:
        tls_context(True, pem)
    except PluginError:
        return [ConfigError(field=field, message="holds no valid PEM certificate", code="format")]
    return []
