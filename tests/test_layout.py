"""The layering the architecture page promises: platform/ below every module, the
composition root above them all."""

from __future__ import annotations

import re
from pathlib import Path

CORE = Path(__file__).resolve().parent.parent / "core" / "shiplane"
MODULES = ("environments", "plugins", "audit", "integrations", "progressive", "workflows")


def imports_of(path: Path) -> set[str]:
    return set(re.findall(r"^\s*(?:from|import) (shiplane\w*(?:\.\w+)*)", path.read_text(), re.MULTILINE))


def test_platform_imports_no_module_and_not_the_root() -> None:
    for path in (CORE / "platform").rglob("*.py"):
        for name in imports_of(path):
            parts = name.split(".")
            assert len(parts) < 2 or parts[1] not in (*MODULES, "services", "app"), f"{path.name} imports {name}"


def test_plugin_code_imports_the_sdk_never_the_server() -> None:
    root = CORE.parent.parent
    for folder in ("plugins", "examples"):
        for path in (root / folder).rglob("*.py"):
            if "build" in path.parts or "tests" in path.parts:
                continue
            assert not any(n.split(".")[0] == "shiplane" for n in imports_of(path)), path
