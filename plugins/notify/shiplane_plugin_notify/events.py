"""What the notification types share: the ``events`` filter and the event a message carries.

The ``events`` rule (also in docs/plugins/notify.md, which the core follows; the core
does not import plugins, this module is the reference implementation):

- a config without ``events`` has ``["*"]``;
- ``*`` matches every event type;
- ``<prefix>.*`` matches a type that starts with ``<prefix>.`` (``promotion.*`` matches
  ``promotion.approved``, not ``promotion`` nor ``promotions.approved``);
- any other pattern matches the type equal to it (case-sensitive);
- an event matches a config when at least one of its patterns matches.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shiplane_sdk import ConfigError, NotificationMessage

__all__ = [
    "DEFAULT_EVENTS",
    "EVENT_PATTERN",
    "MAX_EVENT_PATTERNS",
    "Envelope",
    "envelope_of",
    "event_matches",
    "events_property",
    "friendlier",
    "timeout_property",
]

#: The ``events`` of a config that has none.
DEFAULT_EVENTS: tuple[str, ...] = ("*",)
#: How many patterns a config may list.
MAX_EVENT_PATTERNS = 50
#: One pattern: ``*``, an exact type, or a prefix followed by ``.*``. A type is
#: dot-separated words of lowercase letters, digits and ``_`` (``freeze_window.created``).
EVENT_PATTERN = r"^(?:\*|[a-z0-9_]+(?:\.[a-z0-9_]+)*(?:\.\*)?)$"


def events_property() -> dict[str, Any]:
    """The JSON Schema of the ``events`` config property (a fresh copy)."""
    return {
        "type": "array",
        "title": "Events",
        "description": (
            "Which event types to deliver: an exact type (promotion.approved), a prefix "
            'followed by .* (promotion.*), or * for all. Default ["*"].'
        ),
        "items": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": EVENT_PATTERN},
        "minItems": 1,
        "maxItems": MAX_EVENT_PATTERNS,
        "uniqueItems": True,
        "default": list(DEFAULT_EVENTS),
    }


def timeout_property(*, default: int = 10, maximum: int = 30) -> dict[str, Any]:
    """The JSON Schema of the ``timeoutSeconds`` config property."""
    return {
        "type": "number",
        "title": "Timeout (seconds)",
        "description": f"Give up on one attempt after this long (default {default}).",
        "minimum": 1,
        "maximum": maximum,
        "default": default,
    }


def event_matches(patterns: Iterable[str] | None, event_type: str) -> bool:
    """Whether ``event_type`` matches one of ``patterns`` (``None``: the default ``["*"]``).

    ``*`` matches every type; ``<prefix>.*`` a type starting with ``<prefix>.``; any
    other pattern the type equal to it. An empty list matches nothing.
    """
    for pattern in DEFAULT_EVENTS if patterns is None else patterns:
        if pattern == "*":
            return True
        if pattern.endswith(".*"):
            if event_type.startswith(pattern[:-1]):
                return True
        elif pattern == event_type:
            return True
    return False


@dataclass(frozen=True)
class Envelope:
    """The event a :class:`NotificationMessage` is about, and its delivery.

    Read from ``message.data["event"]`` and ``message.data["delivery"]`` as the core
    fills them; a message without them (sent by hand, or by the contract tests) gets a
    fresh id and the type ``shiplane.notification``.
    """

    id: str
    type: str
    tenant_id: str | None
    occurred_at: str
    resource_type: str | None
    resource_id: str | None
    data: dict[str, Any] = field(default_factory=dict)
    delivery_id: str = ""
    attempt: int = 1


def envelope_of(message: NotificationMessage, *, default_type: str = "shiplane.notification") -> Envelope:
    """The :class:`Envelope` of ``message`` (tolerant of missing or odd fields)."""
    raw_event = message.data.get("event")
    event: dict[str, Any] = raw_event if isinstance(raw_event, dict) else {}
    raw_delivery = message.data.get("delivery")
    delivery: dict[str, Any] = raw_delivery if isinstance(raw_delivery, dict) else {}
    event_id = _text(event.get("id")) or str(uuid.uuid4())
    occurred_at = event.get("occurredAt")
    if isinstance(occurred_at, datetime):
        occurred_at = occurred_at.isoformat()
    attempt = delivery.get("attempt")
    data = event.get("data")
    return Envelope(
        id=event_id,
        type=_text(event.get("type")) or default_type,
        tenant_id=_text(event.get("tenantId")),
        occurred_at=_text(occurred_at) or datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        resource_type=_text(event.get("resourceType")),
        resource_id=_text(event.get("resourceId")),
        data=dict(data) if isinstance(data, dict) else {},
        delivery_id=_text(delivery.get("id")) or str(uuid.uuid4()),
        attempt=attempt if isinstance(attempt, int) and not isinstance(attempt, bool) and attempt > 0 else 1,
    )


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value)
    return text or None


#: Plain messages for the ``events`` errors (see :func:`friendlier`).
EVENTS_MESSAGES: list[tuple[str, tuple[str, ...], str]] = [
    (
        r"events\.\d+",
        ("pattern", "minLength", "maxLength"),
        "not an event pattern: use a type (promotion.approved), a prefix followed by .* (promotion.*), or *",
    ),
    (r"events", ("minItems",), "list at least one pattern (disable the integration to stop deliveries)"),
]


def single_line(text: str, limit: int) -> str:
    """``text`` on one line (control characters and runs of whitespace become one space),
    at most ``limit`` characters (cut with ``…``)."""
    cleaned = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return cleaned if len(cleaned) <= limit else cleaned[: max(limit - 1, 0)] + "…"


def header_value(text: str, limit: int = 200) -> str:
    """``text`` as a safe header value: printable ASCII only, bounded."""
    return "".join(c if 0x20 <= ord(c) < 0x7F else "?" for c in single_line(text, limit))


def masked(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every secret of at least 3 characters replaced by ``***``."""
    for secret in sorted((s for s in secrets if s and len(s) >= 3), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def friendlier(errors: list[ConfigError], rules: Iterable[tuple[str, Iterable[str], str]]) -> list[ConfigError]:
    """``errors`` with plain messages: each rule is ``(field regex, codes, message)``; the
    first rule whose regex matches an error's whole field and whose codes hold its code
    gives its message (never the value). Identical errors are then reported once."""
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
