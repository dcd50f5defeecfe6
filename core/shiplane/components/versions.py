"""What a component's versions are: which tags its pattern admits, and their order.

The order is *newest first by semver, then time*: versions whose tag is a semantic
version (an optional leading ``v``) come first, highest precedence first (SemVer 2.0
§11: build metadata ignored, a pre-release below its release); equal precedence,
and tags that are not semantic versions, go by the time the registry or SCM gave,
newest first, then by tag. Each version stores that order as one ``precedence``
string (ties, such as untimed tags that are not semantic versions, go by tag), so a
page of ``GET /components/{id}/versions`` reads one index range.

A version pattern is a regular expression the whole tag must match, run by RE2
(linear time, ``shiplane_sdk.patterns``), or a semver range in npm syntax
(``^1.2``, ``~1.4.0``, ``>=1.0.0 <2.0.0``, ``1.x || 2.x``); a range admits only
tags that are semantic versions and, as npm does, pre-releases only when the range
names a pre-release of the same major.minor.patch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import semantic_version
from shiplane_sdk import VersionInfo
from shiplane_sdk.patterns import PatternError, compile_pattern

MAX_VERSIONS = 10_000
MAX_TAG_LENGTH = 255
MAX_DIGEST_LENGTH = 200
MAX_METADATA_BYTES = 8 * 1024
MAX_RANGE_LENGTH = 200

# Precedence key: printable ASCII, compared byte by byte. Identifier characters are
# [0-9A-Za-z-]; '!' ends a pre-release, '#' separates its identifiers (both sort below
# every identifier character), and '~' marks a release (above any pre-release).
_END, _SEPARATOR, _RELEASE = "!", "#", "~"
_NUMBER_WIDTH = 20


class VersionPatternError(ValueError):
    pass


def check_pattern(pattern: str | None, kind: str) -> None:
    """Raise :class:`VersionPatternError` (the message says why) for a pattern that cannot run."""
    if pattern is None:
        return
    if kind == "regex":
        try:
            compile_pattern(pattern)
        except PatternError as exc:
            raise VersionPatternError(str(exc)) from None
    else:
        _spec(pattern)


def _spec(expression: str) -> semantic_version.NpmSpec:
    if len(expression) > MAX_RANGE_LENGTH:
        raise VersionPatternError(f"a semver range may have at most {MAX_RANGE_LENGTH} characters")
    try:
        return semantic_version.NpmSpec(expression)
    except ValueError as exc:
        raise VersionPatternError(f"not a semver range: {exc}") from None


def parse_semver(tag: str) -> semantic_version.Version | None:
    text = tag[1:] if tag[:1] in ("v", "V") else tag
    try:
        return semantic_version.Version(text)
    except ValueError:
        return None


def admits(pattern: str | None, kind: str) -> Any:
    """A predicate on tags for the pattern (None admits every tag)."""
    if pattern is None:
        return lambda tag: True
    if kind == "regex":
        compiled = compile_pattern(pattern)
        return lambda tag: compiled.fullmatch(tag) is not None
    spec = _spec(pattern)

    def in_range(tag: str) -> bool:
        version = parse_semver(tag)
        return version is not None and spec.match(version)

    return in_range


def precedence(tag: str, published_at: datetime | None) -> str:
    """The stored sort key: larger is newer (see the module docstring)."""
    when = published_at.strftime("%Y%m%d%H%M%S%f") if published_at is not None else ""
    version = parse_semver(tag)
    if version is None:
        # Untimed tags that are not semantic versions tie on time: the tag decides.
        return ("0" + when + _END + tag)[:200]
    numbers = "".join(
        str(n).zfill(_NUMBER_WIDTH)[-_NUMBER_WIDTH:] for n in (version.major, version.minor, version.patch)
    )
    if not version.prerelease:
        return f"1{numbers}{_RELEASE}{when}{_END}{tag}"[:200]
    parts = []
    for identifier in version.prerelease:
        if identifier.isdigit() and len(identifier) <= _NUMBER_WIDTH:
            parts.append("0" + identifier.zfill(_NUMBER_WIDTH))
        else:
            parts.append("1" + identifier)
    key = f"1{numbers}-{_SEPARATOR.join(parts)}{_END}{when}{_END}{tag}"
    return key[:200]


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


@dataclass(frozen=True)
class Found:
    tag: str
    digest: str | None
    published_at: datetime | None
    metadata: dict[str, Any]
    precedence: str


@dataclass(frozen=True)
class Selection:
    versions: list[Found]  # newest first, at most MAX_VERSIONS
    listed: int  # what the integration returned
    skipped: int  # not admitted by the pattern, malformed or beyond the limit


def select_versions(listed: list[Any], pattern: str | None, kind: str) -> Selection:
    """The versions to store from what ``list_versions`` returned: admitted, bounded, ordered.

    CPU-bound but linear (RE2, bounded counts and lengths): callers run it in a thread.
    """
    admit = admits(pattern, kind)
    by_tag: dict[str, Found] = {}
    skipped = 0
    for item in listed:
        if not isinstance(item, VersionInfo) or not item.tag or len(item.tag) > MAX_TAG_LENGTH:
            skipped += 1
            continue
        if item.tag in by_tag or not admit(item.tag):
            skipped += 1
            continue
        digest = item.digest if item.digest and len(item.digest) <= MAX_DIGEST_LENGTH else None
        encoded = json.dumps(item.metadata, default=str)
        metadata = json.loads(encoded) if len(encoded) <= MAX_METADATA_BYTES else {"truncated": True}
        published = _utc(item.created_at)
        by_tag[item.tag] = Found(item.tag, digest, published, metadata, precedence(item.tag, published))
    ordered = sorted(by_tag.values(), key=lambda f: (f.precedence, f.tag), reverse=True)
    kept = ordered[:MAX_VERSIONS]
    return Selection(kept, len(listed), skipped + len(ordered) - len(kept))
