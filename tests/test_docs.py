"""The documentation keeps up with the code it describes.

Like Datasette's test_docs.py: the error catalogue, the settings and the
benchmark figures live in code and in docs/, and these tests fail when the two
drift apart.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from shiplane.platform.errors import CATALOGUE
from shiplane.platform.settings import Settings

DOCS = Path(__file__).resolve().parent.parent / "docs"
# The pages these tests own; their relative links must resolve.
CHECKED_PAGES = ["errors.md", "configuration.md", "operations.md", "api-conventions.md", "performance.md"]


def _read(name: str) -> str:
    path = DOCS / name
    assert path.is_file(), f"docs/{name} is missing"
    return path.read_text(encoding="utf-8")


def _documented_codes() -> dict[str, int]:
    """``| `CODE` | 409 | ...`` rows of the catalogue table in docs/errors.md."""
    rows = re.findall(r"^\|\s*`([A-Z][A-Z0-9_]+)`\s*\|\s*(\d{3})\s*\|", _read("errors.md"), flags=re.MULTILINE)
    return {code: int(status) for code, status in rows}


@pytest.mark.parametrize("code", sorted(CATALOGUE))
def test_every_error_code_is_documented_with_its_status(code: str) -> None:
    documented = _documented_codes()
    assert code in documented, f"{code} is in CATALOGUE but has no row in the table of docs/errors.md"
    assert documented[code] == CATALOGUE[code].status, (
        f"docs/errors.md gives {code} status {documented[code]}, the catalogue says {CATALOGUE[code].status}"
    )


def test_errors_doc_lists_no_code_the_catalogue_lacks() -> None:
    stale = sorted(set(_documented_codes()) - set(CATALOGUE))
    assert not stale, f"docs/errors.md documents codes that are not in CATALOGUE: {stale}"


def _env_var(field_name: str) -> str:
    return f"{Settings.model_config.get('env_prefix', '')}{field_name}".upper()


@pytest.mark.parametrize("field_name", sorted(Settings.model_fields))
def test_every_setting_is_documented_as_its_environment_variable(field_name: str) -> None:
    text = _read("configuration.md")
    variable = _env_var(field_name)
    assert re.search(rf"^\|\s*`{variable}`\s*\|", text, flags=re.MULTILINE), (
        f"Settings.{field_name} has no row `{variable}` in the settings table of docs/configuration.md"
    )


def test_configuration_doc_lists_no_setting_that_does_not_exist() -> None:
    text = _read("configuration.md")
    known = {_env_var(name) for name in Settings.model_fields}
    rows = set(re.findall(r"^\|\s*`(SHIPLANE_[A-Z0-9_]+)`\s*\|", text, flags=re.MULTILINE))
    assert not rows - known, f"docs/configuration.md has rows for unknown settings: {sorted(rows - known)}"


def test_performance_doc_reports_a_measured_ratio() -> None:
    text = _read("performance.md")
    ratios = re.findall(r"ratio[^\n]*?(\d+(?:\.\d+)?)\s*x", text, flags=re.IGNORECASE)
    assert ratios, "docs/performance.md has no 'ratio ... N.NNx' figure from bench/api_overhead.py"
    assert "bench/api_overhead.py" in text, "docs/performance.md does not say which command produced its figures"


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


@pytest.mark.parametrize("page", CHECKED_PAGES)
def test_relative_links_resolve(page: str) -> None:
    text = _read(page)
    # Links inside fenced code blocks are examples, not links.
    prose = re.sub(r"```.*?```", "", text, flags=re.DOTALL)
    for target in re.findall(r"\]\(([^)\s]+)\)", prose):
        if re.match(r"^[a-z]+:", target):
            continue  # absolute URL
        file_part, _, anchor = target.partition("#")
        linked = (DOCS / page).parent / file_part if file_part else DOCS / page
        assert linked.exists(), f"docs/{page} links to {target}, which does not exist"
        if anchor and linked.suffix == ".md":
            headings = re.findall(r"^#{1,6}\s+(.+)$", linked.read_text(encoding="utf-8"), flags=re.MULTILINE)
            slugs = {_slug(h) for h in headings}
            assert anchor in slugs, f"docs/{page} links to {target}, but {linked.name} has no such heading"
