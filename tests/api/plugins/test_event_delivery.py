"""Domain events reach plugins' on_event hooks through the transactional outbox."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from shiplane.platform.events import OutboxEvent
from shiplane_test_plugins import events as recorder

from tests.api.plugins import PLUGINS, app_client, caller_for
from tests.conftest import Caller, run_sql


def received(tenant_id: str) -> list[Any]:
    return [e for e in recorder.RECEIVED if e.tenant_id == tenant_id]


def wait_for(tenant_id: str, count: int, seconds: float = 15.0, type: str | None = None) -> list[Any]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        events = received(tenant_id)
        if len([e for e in events if type in (None, e.type)]) >= count:
            return events
        time.sleep(0.05)
    return received(tenant_id)


def enable(caller: Caller, *plugin_ids: str) -> None:
    for plugin_id in plugin_ids:
        assert caller.post(f"{PLUGINS}/{plugin_id}/enable").status_code == 200


def test_each_change_reaches_an_enabled_plugin_in_order(admin: Caller) -> None:
    enable(admin, "test-events")
    env = admin.post("/api/v1/environments", json={"name": "dev"}).json()["data"]
    admin.put(f"/api/v1/environments/{env['id']}", json={"name": "dev", "order": 4})
    admin.delete(f"/api/v1/environments/{env['id']}")
    events = wait_for(admin.tenant_id, 4)
    types = [e.type for e in events]
    # the enable itself is a change too; then the environment's life
    assert types == ["plugin.enabled", "environment.created", "environment.updated", "environment.deleted"]
    create = events[1]
    assert create.resource_type == "environment" and create.resource_id == env["id"]
    assert create.data["after"]["name"] == "dev"
    assert events[2].data["before"]["order"] == 0 and events[2].data["after"]["order"] == 4
    assert len({e.id for e in events}) == 4


def test_a_tenant_that_did_not_enable_the_plugin_sends_it_nothing(admin: Caller, other_admin: Caller) -> None:
    enable(admin, "test-events")
    other_admin.post("/api/v1/environments", json={"name": "quiet"})
    admin.post("/api/v1/environments", json={"name": "loud"})
    assert [e.type for e in wait_for(admin.tenant_id, 2)][-1] == "environment.created"
    assert received(other_admin.tenant_id) == []


def test_refused_and_failed_writes_emit_nothing(admin: Caller, make_caller) -> None:  # type: ignore[no-untyped-def]
    enable(admin, "test-events")
    viewer = make_caller(["viewer"])
    viewer.post("/api/v1/environments", json={"name": "nope"})  # 403, audited as denied
    admin.post("/api/v1/environments", json={"name": "BAD NAME"})  # 400
    admin.post("/api/v1/environments", json={"name": "marker"})
    events = wait_for(admin.tenant_id, 2)
    assert [e.type for e in events] == ["plugin.enabled", "environment.created"]
    assert events[-1].data["after"]["name"] == "marker"


def test_a_failing_plugin_does_not_stop_delivery_to_others(database_url: str, tmp_path: Path) -> None:
    with app_client(database_url, tmp_path, event_delivery_enabled=True) as client:
        caller = caller_for(client)
        enable(caller, "test-raising", "test-events")
        caller.post("/api/v1/environments", json={"name": "dev"})
        caller.post("/api/v1/environments", json={"name": "qa"})
        events = wait_for(caller.tenant_id, 2, type="environment.created")
        assert [e.type for e in events][-2:] == ["environment.created", "environment.created"]
        breaker = client.app.state.shiplane.plugins.guard.breaker("test-raising", caller.tenant_id)  # type: ignore[attr-defined]
        assert breaker.total_failures >= 2
        assert breaker.last_error == "on_event: RuntimeError"


def test_every_change_has_its_outbox_row_in_the_same_transaction(admin: Caller, database_url: str) -> None:
    admin.post("/api/v1/environments", json={"name": "dev"})
    admin.post("/api/v1/environments", json={"name": "dev"})  # 409: no change, no event
    audit = run_sql(
        database_url,
        "SELECT resource_id, action FROM audit_events WHERE tenant_id = :t AND outcome = 'success' ORDER BY sequence",
        {"t": admin.tenant_id},
    )
    outbox = run_sql(
        database_url,
        "SELECT resource_id, type FROM outbox_events WHERE tenant_id = :t ORDER BY seq",
        {"t": admin.tenant_id},
    )
    # The outbox carries the domain event of each audited change (created, not create).
    from shiplane.platform.events import event_for_action

    expected = [(resource_id, event_for_action(action).name) for resource_id, action in audit]
    assert [tuple(r) for r in outbox] == expected and len(outbox) == 1


def test_an_expired_lease_is_delivered_again(admin: Caller, database_url: str) -> None:
    """A process that claimed events and died: once its lease expires another delivers them."""
    enable(admin, "test-events")
    wait_for(admin.tenant_id, 1)
    past = datetime.now(UTC) - timedelta(minutes=5)
    sqlite = database_url.startswith("sqlite")
    run_sql(
        database_url,
        "INSERT INTO outbox_events (event_id, tenant_id, type, resource_type, resource_id, occurred_at, data, "
        "attempts, lease_owner, lease_until) VALUES (:id, :t, 'environment.create', 'environment', 'env-x', "
        ":at, :data, 1, 'a-dead-process', :lease)",
        {
            "id": "11111111-2222-3333-4444-" + admin.tenant_id[-12:].rjust(12, "0"),
            "t": admin.tenant_id,
            "at": past.replace(tzinfo=None) if sqlite else past,
            "data": "{}",
            "lease": past.replace(tzinfo=None) if sqlite else past,
        },
    )
    admin.post("/api/v1/environments", json={"name": "wake-up"})  # any commit wakes the loop
    events = wait_for(admin.tenant_id, 3)
    assert "env-x" in [e.resource_id for e in events]
    rows = run_sql(
        database_url,
        "SELECT attempts, dispatched_at FROM outbox_events WHERE resource_id = 'env-x' AND tenant_id = :t",
        {"t": admin.tenant_id},
    )
    assert rows[0][0] == 2 and rows[0][1] is not None


def test_delivered_events_past_the_retention_are_pruned_and_undelivered_ones_never(
    admin: Caller, database_url: str, client: TestClient
) -> None:

    old = datetime(2020, 1, 1, tzinfo=UTC)
    services = client.app.state.shiplane  # type: ignore[attr-defined]

    async def seed_and_prune() -> int:
        async with services.db.session(None, write=True) as session:
            for name, dispatched in (("old-delivered", old), ("old-undelivered", None)):
                session.add(
                    OutboxEvent(
                        event_id=f"{name}-{admin.tenant_id}"[:36],
                        tenant_id=admin.tenant_id,
                        type="environment.created",
                        resource_type="environment",
                        resource_id=name,
                        occurred_at=old,
                        data={},
                        attempts=1,
                        dispatched_at=dispatched,
                    )
                )
        return int(await services.events.prune_once())

    assert admin.post("/api/v1/environments", json={"name": "recent"}).status_code == 201
    assert client.portal.call(seed_and_prune) >= 1  # type: ignore[attr-defined]
    query = "SELECT resource_id FROM outbox_events WHERE tenant_id = :t"
    left = {r[0] for r in run_sql(database_url, query, {"t": admin.tenant_id})}
    assert "old-delivered" not in left
    assert "old-undelivered" in left and len(left) == 2  # and the recent environment's event
