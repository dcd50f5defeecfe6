"""Freeze windows: one-off and RRULE windows in a time zone, across daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from shiplane.environments.recurrence import Window, state
from shiplane.plugins.gates import CoreGateContext, evaluate_gate
from shiplane.plugins.service import PluginService

from tests.api.plugins import with_service
from tests.conftest import Caller, assert_error

BASE = "/api/v1/environments"
# Every Friday 16:00 to Monday 08:00, Berlin time (64 hours on the wall clock).
WEEKEND = "FREQ=WEEKLY;BYDAY=FR;BYHOUR=16;BYMINUTE=0;BYSECOND=0"


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def weekend(starts_at: datetime = utc(2027, 1, 1)) -> Window:
    return Window(starts_at=starts_at, rule=WEEKEND, duration=timedelta(hours=64), zone="Europe/Berlin")


# -- timing, across daylight-saving changes ---------------------------------------------------------


def test_a_weekend_freeze_over_the_spring_change_ends_at_eight_local_time() -> None:
    # Clocks go forward on Sunday 2027-03-28: Friday 16:00 is 15:00 UTC (CET), Monday
    # 08:00 is 06:00 UTC (CEST): 63 hours, not 64.
    assert state(weekend(), utc(2027, 3, 26, 14, 59, 59)) == {
        "active": False,
        "nextStart": utc(2027, 3, 26, 15),
        "nextEnd": utc(2027, 3, 29, 6),
    }
    assert state(weekend(), utc(2027, 3, 26, 15))["active"] is True  # the start is inside
    assert state(weekend(), utc(2027, 3, 29, 5, 59, 59))["active"] is True
    after = state(weekend(), utc(2027, 3, 29, 6))  # the end is outside
    assert after == {"active": False, "nextStart": utc(2027, 4, 2, 14), "nextEnd": utc(2027, 4, 5, 6)}


def test_a_weekend_freeze_over_the_autumn_change_ends_at_eight_local_time() -> None:
    # Clocks go back on Sunday 2027-10-31: Friday 16:00 is 14:00 UTC (CEST), Monday
    # 08:00 is 07:00 UTC (CET): 65 hours.
    during = state(weekend(), utc(2027, 10, 29, 14))
    assert during == {"active": True, "nextStart": utc(2027, 11, 5, 15), "nextEnd": utc(2027, 11, 1, 7)}
    assert state(weekend(), utc(2027, 11, 1, 6, 59, 59))["active"] is True
    assert state(weekend(), utc(2027, 11, 1, 7))["active"] is False


def test_a_daily_rule_keeps_its_local_time_through_both_changes() -> None:
    nightly = Window(
        starts_at=utc(2026, 1, 1),
        rule="FREQ=DAILY;BYHOUR=22;BYMINUTE=0",
        duration=timedelta(hours=2),
        zone="America/New_York",
    )
    # 22:00 New York is 03:00 UTC in winter (EST) and 02:00 UTC in summer (EDT).
    assert state(nightly, utc(2027, 3, 13, 12))["nextStart"] == utc(2027, 3, 14, 3)  # before the change
    assert state(nightly, utc(2027, 3, 14, 12))["nextStart"] == utc(2027, 3, 15, 2)  # after it
    assert state(nightly, utc(2027, 11, 7, 12))["nextStart"] == utc(2027, 11, 8, 3)  # back to EST


def test_a_start_in_the_skipped_hour_keeps_the_offset_before_the_change() -> None:
    at_two_thirty = Window(
        starts_at=utc(2027, 3, 1),
        rule="FREQ=DAILY;BYHOUR=2;BYMINUTE=30",
        duration=timedelta(minutes=30),
        zone="Europe/Berlin",
    )
    # 02:30 does not exist on 2027-03-28 in Berlin: it is taken at +01:00, 01:30 UTC.
    assert state(at_two_thirty, utc(2027, 3, 27, 12))["nextStart"] == utc(2027, 3, 28, 1, 30)


def test_one_off_windows_include_their_start_and_exclude_their_end() -> None:
    window = Window(starts_at=utc(2027, 5, 1, 8), ends_at=utc(2027, 5, 1, 9))
    assert state(window, utc(2027, 5, 1, 7, 59))["active"] is False
    assert state(window, utc(2027, 5, 1, 8))["active"] is True
    assert state(window, utc(2027, 5, 1, 9)) == {"active": False, "nextStart": None, "nextEnd": None}


def test_a_rule_that_has_ended_has_no_next_window() -> None:
    window = Window(starts_at=utc(2027, 1, 1), rule=WEEKEND + ";COUNT=2", duration=timedelta(hours=64), zone="UTC")
    assert state(window, utc(2027, 3, 1)) == {"active": False, "nextStart": None, "nextEnd": None}


# -- the API -------------------------------------------------------------------------------------------


def environment(caller: Caller, name: str = "production") -> str:
    response = caller.post(BASE, json={"name": name})
    assert response.status_code == 201, response.text
    return str(response.json()["data"]["id"])


def windows_of(caller: Caller, env_id: str) -> list[dict[str, Any]]:
    response = caller.get(f"{BASE}/{env_id}/freeze-windows")
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


def test_a_recurring_window_is_stored_and_shows_its_next_occurrence(admin: Caller) -> None:
    env_id = environment(admin)
    body = {
        "rrule": WEEKEND,
        "duration": "P2DT16H",
        "timeZone": "Europe/Berlin",
        "startsAt": "2027-01-01T00:00:00Z",
        "reason": "no weekend deploys",
        "overrideRoles": ["release-manager"],
    }
    response = admin.post(f"{BASE}/{env_id}/freeze-windows", json=body)
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    assert response.headers["location"] == f"{BASE}/{env_id}/freeze-windows/{data['id']}"
    assert data["kind"] == "recurring" and data["duration"] == "P2DT16H" and data["timeZone"] == "Europe/Berlin"
    assert data["overrideRoles"] == ["release-manager"] and data["createdBy"] == admin.user_id
    next_start = datetime.fromisoformat(data["nextStart"])
    assert next_start.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Berlin")).strftime("%a %H:%M") == "Fri 16:00"
    assert windows_of(admin, env_id) == [data]
    events = admin.get("/api/v1/audit-events", params={"filter": '{"action": "freeze_window.create"}'}).json()["data"]
    assert [e["resourceId"] for e in events] == [data["id"]]


def test_a_one_off_window_around_now_is_active(admin: Caller) -> None:
    env_id = environment(admin)
    now = datetime.now(UTC)
    body = {"startsAt": (now - timedelta(hours=1)).isoformat(), "endsAt": (now + timedelta(hours=1)).isoformat()}
    data = admin.post(f"{BASE}/{env_id}/freeze-windows", json=body).json()["data"]
    assert data["kind"] == "once" and data["active"] is True and data["nextStart"] is None
    assert data["nextEnd"] == data["endsAt"]


def test_the_freeze_window_gate_blocks_while_a_window_is_active(admin: Caller, client: Any) -> None:
    env_id = environment(admin)
    now = datetime.now(UTC)
    body = {"startsAt": (now - timedelta(hours=1)).isoformat(), "endsAt": (now + timedelta(hours=1)).isoformat()}
    window = admin.post(f"{BASE}/{env_id}/freeze-windows", json={**body, "reason": "black friday"}).json()["data"]

    async def work(service: PluginService) -> Any:
        ctx = CoreGateContext(
            tenant_id=admin.tenant_id,
            release={"id": "r1", "state": "active"},
            environment={"id": env_id, "freezeWindows": [window]},
            promotion=None,
            now=now,
        )
        return await evaluate_gate(service, "freeze-window", ctx, {})

    result, _ = with_service(client, admin, work)
    assert result.status == "fail" and "black friday" in result.message


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"rrule": "FREQ=WEEKLY;BYDAY=XX", "duration": "PT1H", "timeZone": "UTC"}, "rrule"),
        ({"rrule": "FREQ=MINUTELY", "duration": "PT1H", "timeZone": "UTC"}, "rrule"),
        ({"rrule": "FREQ=DAILY;COUNT=5000", "duration": "PT1H", "timeZone": "UTC"}, "rrule"),
        ({"rrule": "FREQ=DAILY;UNTIL=20280101T000000Z", "duration": "PT1H", "timeZone": "UTC"}, "rrule"),
        ({"rrule": "FREQ=DAILY\nRDATE:20270101", "duration": "PT1H", "timeZone": "UTC"}, "rrule"),
        ({"rrule": "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30", "duration": "PT1H", "timeZone": "UTC"}, "rrule"),
        ({"rrule": "FREQ=DAILY", "duration": "PT1H", "timeZone": "Mars/Olympus_Mons"}, "timeZone"),
        ({"rrule": "FREQ=DAILY", "duration": "PT1H", "timeZone": "../../etc/passwd"}, "timeZone"),
        ({"rrule": "FREQ=DAILY", "duration": "P40D", "timeZone": "UTC"}, "duration"),
        ({"rrule": "FREQ=DAILY", "duration": "PT0S", "timeZone": "UTC"}, "duration"),
        ({"rrule": "FREQ=DAILY", "duration": "soon", "timeZone": "UTC"}, "duration"),
        ({"rrule": "FREQ=DAILY", "timeZone": "UTC"}, "duration"),
        ({"rrule": "FREQ=DAILY", "duration": "PT1H"}, "timeZone"),
        ({"startsAt": "2027-01-01T00:00:00Z"}, "endsAt"),
        ({"startsAt": "2027-01-02T00:00:00Z", "endsAt": "2027-01-01T00:00:00Z"}, "endsAt"),
        ({"startsAt": "2027-01-01T00:00:00", "endsAt": "2027-01-02T00:00:00Z"}, "startsAt"),
        ({"startsAt": "2027-01-01T00:00:00Z", "endsAt": "2027-01-02T00:00:00Z", "timeZone": "UTC"}, "timeZone"),
        (
            {"startsAt": "2027-01-01T00:00:00Z", "endsAt": "2027-01-02T00:00:00Z", "overrideRoles": ["pope"]},
            "overrideRoles.0",
        ),
    ],
)
def test_a_bad_window_is_a_400_naming_the_field(admin: Caller, body: dict[str, Any], field: str) -> None:
    env_id = environment(admin)
    error = assert_error(admin.post(f"{BASE}/{env_id}/freeze-windows", json=body), 400, "VALIDATION_ERROR")
    assert [e["field"] for e in error["validationErrors"]] == [field], error
    assert windows_of(admin, env_id) == []


def test_delete_removes_the_window_and_is_audited(admin: Caller) -> None:
    env_id = environment(admin)
    body = {"startsAt": "2027-01-01T00:00:00Z", "endsAt": "2027-01-02T00:00:00Z"}
    window_id = admin.post(f"{BASE}/{env_id}/freeze-windows", json=body).json()["data"]["id"]
    assert admin.delete(f"{BASE}/{env_id}/freeze-windows/{window_id}").status_code == 204
    assert windows_of(admin, env_id) == []
    assert_error(admin.delete(f"{BASE}/{env_id}/freeze-windows/{window_id}"), 404, "NOT_FOUND")
    actions = [e["action"] for e in admin.get("/api/v1/audit-events").json()["data"]]
    assert "freeze_window.delete" in actions


def test_deleting_the_environment_deletes_its_windows(admin: Caller) -> None:
    env_id = environment(admin)
    body = {"startsAt": "2027-01-01T00:00:00Z", "endsAt": "2027-01-02T00:00:00Z"}
    assert admin.post(f"{BASE}/{env_id}/freeze-windows", json=body).status_code == 201
    assert admin.delete(f"{BASE}/{env_id}").status_code == 204
    assert_error(admin.get(f"{BASE}/{env_id}/freeze-windows"), 404, "NOT_FOUND")


def test_another_tenants_environment_and_window_are_404(admin: Caller, other_admin: Caller) -> None:
    env_id = environment(admin)
    body = {"startsAt": "2027-01-01T00:00:00Z", "endsAt": "2027-01-02T00:00:00Z"}
    window_id = admin.post(f"{BASE}/{env_id}/freeze-windows", json=body).json()["data"]["id"]
    assert_error(other_admin.get(f"{BASE}/{env_id}/freeze-windows"), 404, "NOT_FOUND")
    assert_error(other_admin.post(f"{BASE}/{env_id}/freeze-windows", json=body), 404, "NOT_FOUND")
    assert_error(other_admin.delete(f"{BASE}/{env_id}/freeze-windows/{window_id}"), 404, "NOT_FOUND")
    own = environment(other_admin)
    assert_error(other_admin.delete(f"{BASE}/{own}/freeze-windows/{window_id}"), 404, "NOT_FOUND")
    assert [w["id"] for w in windows_of(admin, env_id)] == [window_id]


def test_viewers_list_but_cannot_change_windows(admin: Caller, make_caller: Any) -> None:
    env_id = environment(admin)
    viewer = make_caller(["viewer"])
    assert windows_of(viewer, env_id) == []
    body = {"startsAt": "2027-01-01T00:00:00Z", "endsAt": "2027-01-02T00:00:00Z"}
    assert_error(viewer.post(f"{BASE}/{env_id}/freeze-windows", json=body), 403, "FORBIDDEN")


def test_a_window_starting_in_the_skipped_hour_keeps_its_length() -> None:
    at_two_thirty = Window(
        starts_at=utc(2027, 3, 1),
        rule="FREQ=DAILY;BYHOUR=2;BYMINUTE=30",
        duration=timedelta(hours=1),
        zone="Europe/Berlin",
    )
    # 02:30 does not exist on 2027-03-28; the hour after it does: the window is not empty.
    assert state(at_two_thirty, utc(2027, 3, 28, 2)) == {
        "active": True,
        "nextStart": utc(2027, 3, 29, 0, 30),
        "nextEnd": utc(2027, 3, 28, 2, 30),
    }


def test_old_monthly_and_yearly_rules_are_evaluated_from_near_the_present() -> None:
    monthly = Window(
        starts_at=utc(1990, 1, 1),
        rule="FREQ=MONTHLY;BYMONTHDAY=15;BYHOUR=9;BYMINUTE=0",
        duration=timedelta(hours=2),
        zone="UTC",
    )
    assert state(monthly, utc(2027, 6, 20))["nextStart"] == utc(2027, 7, 15, 9)
    yearly = Window(starts_at=utc(1950, 12, 24, 18), rule="FREQ=YEARLY", duration=timedelta(days=3), zone="UTC")
    assert state(yearly, utc(2027, 12, 25)) == {
        "active": True,
        "nextStart": utc(2028, 12, 24, 18),
        "nextEnd": utc(2027, 12, 27, 18),
    }


def test_a_rule_recurring_more_than_hourly_is_refused(admin: Caller) -> None:
    env_id = environment(admin)
    every_minute = "FREQ=YEARLY;BYHOUR=" + ",".join(map(str, range(24))) + ";BYMINUTE=" + ",".join(map(str, range(60)))
    body = {"rrule": every_minute, "duration": "PT1M", "timeZone": "UTC", "startsAt": "1900-01-01T00:00:00Z"}
    error = assert_error(admin.post(f"{BASE}/{env_id}/freeze-windows", json=body), 400, "VALIDATION_ERROR")
    assert error["validationErrors"][0]["field"] == "rrule" and "hourly" in error["message"]
