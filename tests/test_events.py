"""The domain-event catalogue: code, docs and what is emitted agree."""

from __future__ import annotations

import re
from pathlib import Path

from shiplane.platform.events import CATALOGUE, EVENT_TYPES

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "events.md").read_text()


def test_every_catalogued_event_is_documented_with_its_version_and_payload() -> None:
    rows = dict(re.findall(r"^\| `([a-z_]+\.[a-z_]+)` \| (\d+) \|", DOC, re.MULTILINE))
    assert rows == {name: str(event.version) for name, event in EVENT_TYPES.items()}
    for event in EVENT_TYPES.values():
        assert event.payload in DOC, event.name


def test_event_names_are_resource_dot_past_tense() -> None:
    for name, event in EVENT_TYPES.items():
        resource, _, happened = name.partition(".")
        assert happened.endswith("ed"), name
        assert event.audit_action.split(".")[0] == resource, name


def test_every_audited_action_in_the_code_has_an_event() -> None:
    source = "\n".join(p.read_text() for p in (ROOT / "core" / "shiplane").rglob("*.py"))
    actions = set(re.findall(r'audit_action="([a-z_]+\.[a-z_]+)"', source))
    actions |= set(re.findall(r'"([a-z_]+\.(?:create|update|delete|enable|disable))"', source))
    assert actions, "found no audited actions: the pattern is out of date"
    missing = sorted(a for a in actions if a not in CATALOGUE)
    assert not missing, f"audited actions without a domain event: {missing}"
