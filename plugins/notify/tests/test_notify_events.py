"""The ``events`` filter: the rule the core applies, and the schema that admits the patterns."""

from __future__ import annotations

import pytest
from shiplane_plugin_notify import DEFAULT_EVENTS, event_matches
from shiplane_plugin_notify.smtp import Smtp
from shiplane_plugin_notify.webhook import Webhook


@pytest.mark.parametrize(
    ("patterns", "event_type", "expected"),
    [
        (None, "promotion.approved", True),
        (["*"], "freeze_window.created", True),
        (["promotion.approved"], "promotion.approved", True),
        (["promotion.approved"], "promotion.rejected", False),
        (["promotion.*"], "promotion.approved", True),
        (["promotion.*"], "promotion", False),
        (["promotion.*"], "promotions.approved", False),
        (["promotion.*"], "promotion.step.done", True),
        (["freeze_window.*"], "freeze_window.deleted", True),
        (["deployment.failed", "promotion.*"], "deployment.failed", True),
        (["deployment.failed", "promotion.*"], "deployment.started", False),
        (["Promotion.approved"], "promotion.approved", False),
        ([], "promotion.approved", False),
    ],
)
def test_event_matches(patterns: list[str] | None, event_type: str, expected: bool) -> None:
    assert event_matches(patterns, event_type) is expected


def test_the_default_is_everything() -> None:
    assert DEFAULT_EVENTS == ("*",)
    for capability in (Webhook(), Smtp()):
        assert capability.config_schema["properties"]["events"]["default"] == ["*"]
        assert capability.config_schema["properties"]["events"]["maxItems"] == 50


@pytest.mark.parametrize("pattern", ["*", "promotion.*", "promotion.approved", "freeze_window.created", "a.b.c.*"])
def test_the_schema_admits_every_documented_form(pattern: str) -> None:
    config = {"url": "https://h.example", "secret": "s" * 16, "events": [pattern]}
    assert Webhook().validate_config(config) == []
