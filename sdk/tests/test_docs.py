"""The plugin docs are kept honest: every hook has a section with its exact signature."""

import inspect
import re
from pathlib import Path

import pytest

from shiplane_sdk import HOOK_NAMES, hookspecs
from shiplane_sdk.capabilities import Gate, IntegrationType, RolloutStrategy, StepType, TargetType, TrafficRouter

DOCS = Path(__file__).resolve().parents[2] / "docs" / "plugins"


def render_signature(name: str, owner: object = hookspecs) -> str:
    """``def name(arg: Type) -> Return``, as the docs show it.

    Annotations are the source text (the SDK uses ``from __future__ import
    annotations``), so ``Awaitable[HealthReport]`` reads as written. ``self``
    has no annotation and is shown bare.
    """

    def text(annotation: object) -> str:
        return annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)

    signature = inspect.signature(getattr(owner, name))
    parameters = ", ".join(
        p.name if p.annotation is inspect.Parameter.empty else f"{p.name}: {text(p.annotation)}"
        for p in signature.parameters.values()
    )
    return f"def {name}({parameters}) -> {text(signature.return_annotation)}"


def _sections(markdown: str) -> dict[str, str]:
    parts = re.split(r"^## +(.+?) *$", markdown, flags=re.MULTILINE)
    return {title: body for title, body in zip(parts[1::2], parts[2::2], strict=True)}


@pytest.fixture(scope="module")
def hook_sections() -> dict[str, str]:
    return _sections((DOCS / "hooks.md").read_text(encoding="utf-8"))


def test_render_signature():
    assert render_signature("register_gates") == "def register_gates() -> list[Gate]"
    assert render_signature("on_event") == "def on_event(event: Event) -> None | Awaitable[None]"
    assert render_signature("plan", owner=RolloutStrategy) == (
        "def plan(self, targets: list[TargetRef], config: dict[str, Any]) -> list[Batch] | Awaitable[list[Batch]]"
    )


@pytest.mark.parametrize("name", HOOK_NAMES)
def test_every_hook_is_documented_with_its_signature(hook_sections, name):
    assert name in hook_sections, f"docs/plugins/hooks.md has no '## {name}' section"
    signature = render_signature(name)
    assert signature in hook_sections[name], f"the '## {name}' section lacks `{signature}`"


def test_no_section_documents_a_hook_that_does_not_exist(hook_sections):
    hook_like = {title for title in hook_sections if re.fullmatch(r"[a-z_]+", title)}
    assert hook_like <= set(HOOK_NAMES), hook_like - set(HOOK_NAMES)


CONTRACT_METHODS = {
    IntegrationType: ["test", "discover", "list_versions", "health", "notify"],
    StepType: ["run"],
    Gate: ["evaluate"],
    RolloutStrategy: ["plan", "steps"],
    TargetType: ["deploy", "health_check", "read_sticker", "write_sticker", "inspect"],
    TrafficRouter: ["get_weights", "set_weights"],
}


@pytest.mark.parametrize("base", list(CONTRACT_METHODS), ids=lambda base: base.__name__)
def test_every_capability_method_is_documented(base):
    sections = _sections((DOCS / "capabilities.md").read_text(encoding="utf-8"))
    assert base.__name__ in sections, f"docs/plugins/capabilities.md has no '## {base.__name__}' section"
    for method in CONTRACT_METHODS[base]:
        signature = render_signature(method, owner=base)
        assert signature in sections[base.__name__], f"the '## {base.__name__}' section lacks `{signature}`"


def test_authoring_guide_covers_the_entry_point_and_enablement():
    text = (DOCS / "authoring.md").read_text(encoding="utf-8")
    assert '[project.entry-points."shiplane.plugins"]' in text
    assert "POST /api/v1/plugins/acme/enable" in text
    assert "sdk_requires" in text
