"""When a freeze window is active: one-off spans and RFC 5545 recurrences in a time zone.

A recurring window is an RRULE (``FREQ=WEEKLY;BYDAY=FR;BYHOUR=16;BYMINUTE=0``), a
duration (``P2DT16H``) and an IANA time zone (``Europe/Berlin``). Occurrences are
wall-clock times in that zone (``python-dateutil``'s rrule over naive local times,
``zoneinfo`` to place them), and the duration is wall-clock too: "Friday 16:00 for
64 hours" ends Monday 08:00 local time even when the clocks change over the weekend.
A start in a skipped hour (spring forward) keeps the offset before the change (02:30
becomes 03:30); a start in a repeated hour (fall back) is the first of the two.
Windows include their start and exclude their end.

Evaluating a tenant's rule is bounded: ``FREQ`` is ``DAILY`` or coarser, ``COUNT``
at most 1,000, the text at most 300 characters, and a rule is checked when saved in a
separate process with a hard time limit (``python -m shiplane.environments.recurrence``):
a rule that has no occurrence within 10 years of its start (``BYMONTH=2;BYMONTHDAY=30``,
which dateutil would search until the year 9999) is refused. Reads look no further
than 10 years ahead and restart daily and weekly rules near the present.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.relativedelta import relativedelta
from dateutil.rrule import DAILY, MONTHLY, WEEKLY, YEARLY, rrule, rrulestr

MAX_RULE_CHARS = 300
MAX_COUNT = 1000
HORIZON = timedelta(days=3653)
ALLOWED_FREQUENCIES = {"DAILY", "WEEKLY", "MONTHLY", "YEARLY"}
_PERIOD = {DAILY: timedelta(days=1), WEEKLY: timedelta(weeks=1)}


class RecurrenceError(ValueError):
    """A recurrence the server refuses; ``field`` names the request field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Window:
    """A freeze window's timing: one-off (``rule`` None) or recurring."""

    starts_at: datetime  # aware; a recurring window's series start
    ends_at: datetime | None = None  # one-off
    rule: str | None = None
    duration: timedelta | None = None
    zone: str | None = None


def zone_of(name: str) -> ZoneInfo:
    if not name or len(name) > 64 or name.startswith(("/", ".")) or ".." in name:
        raise RecurrenceError("timeZone", f"{name!r} is not an IANA time zone name")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise RecurrenceError("timeZone", f"{name!r} is not an IANA time zone name") from None


def parse_rule(text: str, anchor: datetime) -> rrule:
    """The rule for naive local ``anchor``; RecurrenceError (field ``rrule``) if refused."""
    body = text.strip()
    if body.upper().startswith("RRULE:"):
        body = body[6:]
    if not body or len(body) > MAX_RULE_CHARS or any(c in body for c in "\r\n:"):
        raise RecurrenceError("rrule", f"an RRULE value (without DTSTART), at most {MAX_RULE_CHARS} characters")
    parts = dict(part.partition("=")[::2] for part in body.upper().split(";"))
    if parts.get("FREQ") not in ALLOWED_FREQUENCIES:
        raise RecurrenceError("rrule", f"FREQ must be one of {sorted(ALLOWED_FREQUENCIES)}")
    if "COUNT" in parts and (not parts["COUNT"].isdigit() or int(parts["COUNT"]) > MAX_COUNT):
        raise RecurrenceError("rrule", f"COUNT must be at most {MAX_COUNT}")
    if "UNTIL" in parts and parts["UNTIL"].endswith("Z"):
        raise RecurrenceError("rrule", "UNTIL is a local time in timeZone, written without Z")
    try:
        rule = rrulestr(body, dtstart=anchor)
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
        raise RecurrenceError("rrule", f"not a valid RRULE: {exc}") from None
    if not isinstance(rule, rrule):
        raise RecurrenceError("rrule", "one RRULE, without RDATE or EXRULE")
    return rule


def _local(moment: datetime, zone: ZoneInfo) -> datetime:
    return moment.astimezone(zone).replace(tzinfo=None)


def _placed(local: datetime, zone: ZoneInfo) -> datetime:
    return local.replace(tzinfo=zone).astimezone(UTC)


def occurrences(window: Window, after: datetime) -> Iterator[tuple[datetime, datetime]]:
    """(start, end) in UTC, in start order, of every occurrence that may still be active
    at ``after`` or starts within the horizon after it."""
    if window.rule is None:
        assert window.ends_at is not None
        yield window.starts_at.astimezone(UTC), window.ends_at.astimezone(UTC)
        return
    assert window.duration is not None and window.zone is not None
    zone = zone_of(window.zone)
    anchor = _local(window.starts_at, zone)
    rule = parse_rule(window.rule, anchor)
    search_from = _local(after, zone) - window.duration - timedelta(days=2)
    anchor = _reanchored(rule, anchor, search_from)
    rule = parse_rule(window.rule, anchor)
    limit = _local(after, zone) + HORIZON
    for local_start in rule.xafter(max(search_from, anchor), inc=True):
        if local_start > limit:
            return
        start, end = _placed(local_start, zone), _placed(local_start + window.duration, zone)
        if end <= start:
            # A start in the hour skipped in spring, moved past the change: keep the duration.
            end = start + window.duration
        yield start, end


def _reanchored(rule: rrule, anchor: datetime, search_from: datetime) -> datetime:
    """A series start a whole number of periods later, near ``search_from``, with the same
    weekday, day of month and time, so that evaluating ``now`` does not walk every period
    since the window was created. Rules with COUNT keep their start (they count from it)."""
    if rule._count is not None or search_from <= anchor:  # noqa: SLF001 - dateutil keeps them there
        return anchor
    frequency, interval = rule._freq, rule._interval  # noqa: SLF001
    period = _PERIOD.get(frequency)
    if period is not None:
        step = period * interval
        return anchor + step * ((search_from - anchor) // step)
    if frequency == MONTHLY and anchor.day <= 28:
        months = (search_from.year - anchor.year) * 12 + search_from.month - anchor.month - 1
        return anchor + relativedelta(months=max(0, months // interval * interval))
    if frequency == YEARLY and (anchor.month, anchor.day) != (2, 29):
        years = search_from.year - anchor.year - 1
        return anchor + relativedelta(years=max(0, years // interval * interval))
    return anchor


def state(window: Window, now: datetime) -> dict[str, Any]:
    """``active`` (start inclusive, end exclusive), ``nextStart`` (the next start after
    now) and ``nextEnd`` (when the active window ends, or else the end of the next one)."""
    active_until: datetime | None = None
    next_window: tuple[datetime, datetime] | None = None
    for start, end in occurrences(window, now):
        if start <= now < end:
            active_until = max(end, active_until or end)
        elif start > now:
            next_window = (start, end)
            break
    return {
        "active": active_until is not None,
        "nextStart": next_window[0] if next_window else None,
        "nextEnd": active_until or (next_window[1] if next_window else None),
    }


MAX_OCCURRENCES_PER_MONTH = 31 * 24


def check(window: Window, now: datetime | None = None) -> str | None:
    """Why the recurrence is refused, or None: no occurrence within the horizon, more than
    one an hour on average, or a state that takes too long to work out (the caller's
    time limit)."""
    try:
        series = occurrences(window, window.starts_at)
        first = next(series, None)
        if first is None:
            return "the rule has no occurrence within 10 years of its start"
        month_end = first[0] + timedelta(days=31)
        count = 1
        for start, _end in series:
            if start >= month_end:
                break
            count += 1
            if count > MAX_OCCURRENCES_PER_MONTH:
                return "the rule starts a window more than once an hour: a freeze window recurs at most hourly"
        state(window, now or datetime.now(UTC))
    except RecurrenceError as exc:
        return str(exc)
    return None


def main() -> None:
    """``python -m shiplane.environments.recurrence``: check the window on stdin (JSON)."""
    request = json.loads(sys.stdin.read())
    window = Window(
        starts_at=datetime.fromisoformat(request["startsAt"]),
        rule=request["rrule"],
        duration=timedelta(seconds=request["durationSeconds"]),
        zone=request["timeZone"],
    )
    print(json.dumps({"problem": check(window)}))


if __name__ == "__main__":
    main()
