"""ETags and optimistic concurrency: a resource's ETag is its version."""

from __future__ import annotations

from fastapi import Request

from shiplane.platform.errors import ApiError, validation_error


def etag(version: int) -> str:
    return f'"{version}"'


def expected_version(request: Request, body_version: int | None) -> int | None:
    """The version the caller expects, from If-Match or the body; None if it expects none."""
    header = request.headers.get("if-match")
    from_header: int | None = None
    if header is not None and header.strip() != "*":
        tag = header.strip()
        if tag.startswith("W/"):
            tag = tag[2:]
        tag = tag.strip('"')
        try:
            from_header = int(tag)
        except ValueError:
            raise validation_error("If-Match", 'must be an ETag returned by the API, e.g. "3"') from None
    if from_header is not None and body_version is not None and from_header != body_version:
        raise validation_error("version", "differs from If-Match")
    return from_header if from_header is not None else body_version


def check_version(resource: str, current: int, expected: int | None) -> None:
    if expected is not None and expected != current:
        raise ApiError(
            "VERSION_CONFLICT",
            f"{resource} is at version {current}, not {expected}",
            {"currentVersion": current, "expectedVersion": expected},
        )
