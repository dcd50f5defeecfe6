"""The audit hash chain end to end: written by the API, checked by ``shiplane audit verify``.

Each test has its own database (tampering breaks the chain for everyone using it),
its own app and two tenants, and runs the real CLI as a subprocess.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from shiplane.app import create_app
from shiplane.platform.audit import AuditEvent, canonical_event
from shiplane.platform.database import UTCDateTime
from shiplane.platform.jwt import mint_token
from shiplane.platform.settings import Settings

from tests.conftest import Caller, assert_error, make_database, make_settings, run_sql
from tests.servers import clean_env, run_cli

BASE = "/api/v1/environments"


def as_json(value: Any) -> Any:
    """A JSON column read with raw SQL: text on SQLite and asyncpg, decoded elsewhere."""
    return json.loads(value) if isinstance(value, str) else value


@dataclass
class World:
    url: str
    settings: Settings
    client: TestClient
    workdir: Path

    def caller(self, tenant_id: str, roles: list[str], user_id: str | None = None) -> Caller:
        uid = user_id or f"user-{uuid.uuid4().hex[:8]}"
        token = mint_token(self.settings, user_id=uid, tenant_id=tenant_id, roles=roles)
        return Caller(self.client, token, tenant_id, uid)

    def verify(self, *extra: str) -> tuple[int, str]:
        env = clean_env(SHIPLANE_DATABASE_URL=self.url, SHIPLANE_DATA_DIR=str(self.workdir / "cli-data"))
        result = run_cli(["audit", "verify", *extra], env, self.workdir)
        assert "Traceback" not in result.stderr, result.stderr
        return result.returncode, result.stdout + result.stderr

    def sql(self, statement: str, **params: Any) -> list[Any]:
        return run_sql(self.url, statement, params)

    @property
    def is_postgres(self) -> bool:
        return self.url.startswith("postgresql")

    def events(self, tenant_id: str) -> list[Any]:
        return self.sql(
            "SELECT sequence, id, action, outcome, actor_id, changes FROM audit_events "
            "WHERE tenant_id = :t ORDER BY sequence",
            t=tenant_id,
        )


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    for url in make_database(tmp_path):
        settings = make_settings(url, tmp_path / "data")
        with TestClient(create_app(settings), raise_server_exceptions=False) as client:
            yield World(url, settings, client, tmp_path)


@dataclass
class Populated:
    a: Caller
    b: Caller
    a_viewer: Caller
    a_events: int
    b_events: int


def create(caller: Caller, name: str) -> dict:
    response = caller.post(BASE, json={"name": name})
    assert response.status_code == 201, response.text
    return response.json()["data"]


@pytest.fixture
def populated(world: World) -> Populated:
    """Tenant A: 3 creates, an update, a delete and a denied create; tenant B: 2 creates."""
    a = world.caller("tenant-a", ["admin"])
    b = world.caller("tenant-b", ["admin"])
    a_viewer = world.caller("tenant-a", ["viewer"])
    dev = create(a, "dev")
    create(a, "qa")
    staging = create(a, "staging")
    response = a.put(f"{BASE}/{dev['id']}", json={"name": "dev", "description": "edited"}, headers={"If-Match": '"1"'})
    assert response.status_code == 200, response.text
    assert a.delete(f"{BASE}/{staging['id']}").status_code == 204
    assert_error(a_viewer.post(BASE, json={"name": "sneaky"}), 403, "FORBIDDEN")
    create(b, "dev")
    create(b, "prod")
    return Populated(a, b, a_viewer, a_events=6, b_events=2)


def test_intact_chains_verify_ok(world: World, populated: Populated) -> None:
    code, output = world.verify()
    assert code == 0, output
    assert "OK" in output
    assert f"2 tenant chain(s), {populated.a_events + populated.b_events} event(s)" in output
    events = world.events("tenant-a")
    assert [e.sequence for e in events] == list(range(1, populated.a_events + 1))
    assert [e.action for e in events] == [
        "environment.create",
        "environment.create",
        "environment.create",
        "environment.update",
        "environment.delete",
        "environment.create",
    ]
    # Each link points at the hash before it, starting from the genesis hash.
    links = world.sql(
        "SELECT prev_hash, hash FROM audit_events WHERE tenant_id = 'tenant-a' ORDER BY sequence",
    )
    assert links[0].prev_hash == "0" * 64
    assert all(links[i].prev_hash == links[i - 1].hash for i in range(1, len(links)))
    head = world.sql("SELECT sequence, hash FROM audit_chain_heads WHERE tenant_id = 'tenant-a'")
    assert (head[0].sequence, head[0].hash) == (populated.a_events, links[-1].hash)


def test_an_edited_action_is_detected_and_named(world: World, populated: Populated) -> None:
    target = world.events("tenant-a")[1]
    world.sql(
        "UPDATE audit_events SET action = 'environment.delete' WHERE tenant_id = 'tenant-a' AND sequence = 2",
    )
    code, output = world.verify()
    assert code == 1, output
    assert output.startswith("BROKEN: ") and "OK:" not in output
    assert "tenant tenant-a" in output
    assert "sequence 2" in output
    assert target.id in output
    assert "edited" in output


def test_edited_changes_are_detected(world: World, populated: Populated) -> None:
    target = world.events("tenant-a")[3]  # the update, with before and after
    assert target.action == "environment.update"
    value = ":c" if not world.is_postgres else "CAST(:c AS JSON)"
    world.sql(
        f"UPDATE audit_events SET changes = {value} WHERE tenant_id = 'tenant-a' AND sequence = 4",
        c='{"after": {"description": "nothing to see"}}',
    )
    code, output = world.verify()
    assert code == 1, output
    assert "tenant tenant-a" in output and "sequence 4" in output and target.id in output


def test_an_edited_outcome_of_a_denied_attempt_is_detected(world: World, populated: Populated) -> None:
    denied = [e for e in world.events("tenant-a") if e.outcome == "denied"]
    assert len(denied) == 1
    world.sql("UPDATE audit_events SET outcome = 'success' WHERE id = :id", id=denied[0].id)
    code, output = world.verify()
    assert code == 1 and f"sequence {denied[0].sequence}" in output and denied[0].id in output, output


def test_a_deleted_middle_event_is_reported_as_missing(world: World, populated: Populated) -> None:
    world.sql("DELETE FROM audit_events WHERE tenant_id = 'tenant-a' AND sequence = 3")
    code, output = world.verify()
    assert code == 1, output
    assert "tenant tenant-a" in output
    assert "sequence 3" in output
    assert "missing" in output


def test_a_deleted_newest_event_is_caught_by_the_chain_head(world: World, populated: Populated) -> None:
    newest = populated.a_events
    world.sql("DELETE FROM audit_events WHERE tenant_id = 'tenant-a' AND sequence = :s", s=newest)
    code, output = world.verify()
    assert code == 1, output
    assert "tenant tenant-a" in output
    assert "chain head" in output
    assert f"head is at sequence {newest}" in output and f"ends at {newest - 1}" in output


def test_a_deleted_chain_head_row_with_a_truncated_tail_is_detected(world: World, populated: Populated) -> None:
    world.sql("DELETE FROM audit_events WHERE tenant_id = 'tenant-a' AND sequence = :s", s=populated.a_events)
    world.sql("DELETE FROM audit_chain_heads WHERE tenant_id = 'tenant-a'")
    code, output = world.verify()
    assert code == 1, output
    assert "tenant tenant-a" in output and "chain head" in output and "missing" in output


def test_an_unreadable_database_is_exit_2_not_a_broken_chain(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    env = clean_env(SHIPLANE_DATABASE_URL=f"sqlite+aiosqlite:///{empty}", SHIPLANE_DATA_DIR=str(tmp_path / "d"))
    result = run_cli(["audit", "verify"], env, tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "cannot read the audit trail" in result.stderr
    assert "Traceback" not in result.stderr and "BROKEN" not in result.stdout


def test_unicode_and_nested_changes_hash_the_same_after_storage(world: World) -> None:
    a = world.caller("tenant-u", ["admin"])
    body = {
        "name": "prod-eu",
        "displayName": "Produktion Zürich ✓ 🚀",
        "description": 'quotes " and \\ backslash, tabs\tand newlines\n, ümlauts, 中文',
        "isProduction": True,
        "gates": [
            {
                "type": "policy",
                "name": "no-criticals",
                "config": {
                    "name": "Größe ✓",
                    "rules": {
                        "maximum": 0,
                        "multipleOf": 0.1,
                        "x-big": 2**53,
                        "x-z": None,
                        "x-nested": {"b": [1, 2.5, True, None, {"k": "ü"}], "a": {}},
                    },
                },
            },
            {"type": "freeze-window", "config": {"allowOverride": False}},
        ],
    }
    created = a.post(BASE, json=body)
    assert created.status_code == 201, created.text
    env = created.json()["data"]
    replaced = a.put(f"{BASE}/{env['id']}", json={**body, "description": "é" * 500}, headers={"If-Match": '"1"'})
    assert replaced.status_code == 200, replaced.text
    stored = as_json(world.events("tenant-u")[1].changes)
    assert stored["before"]["displayName"] == "Produktion Zürich ✓ 🚀"
    assert stored["after"]["gates"][0]["config"]["rules"]["x-big"] == 2**53
    code, output = world.verify("--tenant", "tenant-u")
    assert code == 0, output
    assert "2 event(s)" in output


def test_a_consistently_rewritten_event_is_still_caught_by_the_next_link(world: World, populated: Populated) -> None:
    # Recomputing the edited row's own hash is not enough: the next event's prev_hash
    # still names the original.
    target = world.events("tenant-a")[1]
    row = world.sql(
        "SELECT id, tenant_id, sequence, occurred_at, actor_type, actor_id, action, resource_type, resource_id, "
        "request_id, outcome, changes, prev_hash FROM audit_events WHERE id = :id",
        id=target.id,
    )[0]
    occurred = row.occurred_at
    if isinstance(occurred, str):  # SQLite hands raw SQL the stored text
        occurred = datetime.fromisoformat(occurred)
    occurred = UTCDateTime().process_result_value(occurred, None)
    forged = AuditEvent(
        id=row.id,
        tenant_id=row.tenant_id,
        sequence=row.sequence,
        occurred_at=occurred,
        actor_type=row.actor_type,
        actor_id="someone-else",
        action=row.action,
        resource_type=row.resource_type,
        resource_id=row.resource_id,
        request_id=row.request_id,
        outcome=row.outcome,
        changes=as_json(row.changes),
        prev_hash=row.prev_hash,
    )
    new_hash = hashlib.sha256((row.prev_hash + canonical_event(forged)).encode()).hexdigest()
    world.sql(
        "UPDATE audit_events SET actor_id = 'someone-else', hash = :h WHERE id = :id",
        h=new_hash,
        id=target.id,
    )
    code, output = world.verify()
    assert code == 1, output
    assert "tenant tenant-a" in output and "sequence 3" in output and "prev_hash" in output


def test_tampering_in_one_tenant_leaves_another_tenants_verification_ok(world: World, populated: Populated) -> None:
    world.sql("UPDATE audit_events SET action = 'environment.delete' WHERE tenant_id = 'tenant-b' AND sequence = 1")
    code, output = world.verify("--tenant", "tenant-a")
    assert code == 0, output
    assert f"OK: 1 tenant chain(s), {populated.a_events} event(s)" in output

    code, output = world.verify("--tenant", "tenant-b")
    assert code == 1 and "tenant tenant-b" in output and "sequence 1" in output, output
    code, output = world.verify()
    assert code == 1 and "tenant tenant-b" in output, output


def test_denied_attempts_are_in_the_chain(world: World, populated: Populated) -> None:
    a_viewer = populated.a_viewer
    target = populated.a.get(BASE).json()["data"][0]
    assert_error(a_viewer.put(f"{BASE}/{target['id']}", json={"name": "x"}), 403, "FORBIDDEN")
    assert_error(a_viewer.delete(f"{BASE}/{target['id']}"), 403, "FORBIDDEN")
    # A request without a valid token has no tenant and is not in any chain.
    assert_error(world.client.post(BASE, json={"name": "anon"}), 401, "UNAUTHORIZED")
    # Reads are not audited.
    assert a_viewer.get(BASE).status_code == 200

    events = world.events("tenant-a")
    assert len(events) == populated.a_events + 2
    denied = [e for e in events if e.outcome == "denied"]
    assert [(e.action, e.actor_id) for e in denied] == [
        ("environment.create", a_viewer.user_id),
        ("environment.update", a_viewer.user_id),
        ("environment.delete", a_viewer.user_id),
    ]
    for event in denied:
        assert as_json(event.changes)["details"]["missingPermission"] == "environments:write"
    assert world.sql("SELECT count(*) AS n FROM audit_events WHERE tenant_id NOT IN ('tenant-a', 'tenant-b')")[0].n == 0

    # The denied events are chained like any other: verification passes, and editing one breaks it.
    code, output = world.verify()
    assert code == 0, output
    world.sql("UPDATE audit_events SET actor_id = 'nobody' WHERE id = :id", id=denied[-1].id)
    code, output = world.verify()
    assert code == 1 and denied[-1].id in output, output


def test_the_audit_api_shows_the_chain(world: World, populated: Populated) -> None:
    response = populated.a.get("/api/v1/audit-events", params={"sort": "sequence", "pageSize": 100})
    assert response.status_code == 200, response.text
    events = response.json()["data"]
    assert [e["sequence"] for e in events] == list(range(1, populated.a_events + 1))
    assert {e["tenantId"] for e in events} == {"tenant-a"}
    assert all(events[i]["prevHash"] == events[i - 1]["hash"] for i in range(1, len(events)))


def test_a_change_is_never_committed_without_its_audit_event(world: World, populated: Populated) -> None:
    a = populated.a
    head = world.sql("SELECT sequence, hash FROM audit_chain_heads WHERE tenant_id = 'tenant-a'")[0]
    planted = str(uuid.uuid4())
    # Occupy the next sequence, so the audit insert of the next change trips the
    # unique (tenant_id, sequence) key after the environment row was already flushed.
    world.sql(
        "INSERT INTO audit_events (id, tenant_id, sequence, occurred_at, actor_type, actor_id, action, "
        "resource_type, resource_id, request_id, outcome, changes, prev_hash, hash) VALUES "
        "(:id, 'tenant-a', :seq, CURRENT_TIMESTAMP, 'system', 'planted', 'planted', 'test', NULL, NULL, "
        "'success', :changes, :prev, :hash)",
        id=planted,
        seq=head.sequence + 1,
        changes="{}",
        prev=head.hash,
        hash="f" * 64,
    )
    before = world.sql("SELECT count(*) AS n FROM environments WHERE tenant_id = 'tenant-a'")[0].n

    response = a.post(BASE, json={"name": "orphan"})
    error = assert_error(response, 500, "INTERNAL_ERROR")
    assert error["details"]["requestId"] == response.headers["x-request-id"]
    assert "Traceback" not in response.text and "IntegrityError" not in response.text

    # Neither the environment nor a second audit row nor a moved head survived.
    assert world.sql("SELECT count(*) AS n FROM environments WHERE tenant_id = 'tenant-a'")[0].n == before
    assert world.sql("SELECT id FROM environments WHERE name = 'orphan'") == []
    assert [r.id for r in world.sql("SELECT id FROM audit_events WHERE sequence = :s", s=head.sequence + 1)] == [
        planted
    ]
    after_head = world.sql("SELECT sequence, hash FROM audit_chain_heads WHERE tenant_id = 'tenant-a'")[0]
    assert (after_head.sequence, after_head.hash) == (head.sequence, head.hash)
    assert all(e["name"] != "orphan" for e in a.get(BASE).json()["data"])

    # An update fails the same way and leaves the environment as it was.
    target = a.get(BASE).json()["data"][0]
    response = a.put(f"{BASE}/{target['id']}", json={"name": target["name"], "description": "lost"})
    assert_error(response, 500, "INTERNAL_ERROR")
    again = a.get(f"{BASE}/{target['id']}").json()["data"]
    assert again["version"] == target["version"] and again["description"] == target["description"]

    # The other tenant's chain is unaffected and keeps working.
    create(populated.b, "staging")

    # Remove the planted row: the chain is intact again (nothing from the failed
    # writes slipped in) and the same create now succeeds with its audit event.
    world.sql("DELETE FROM audit_events WHERE id = :id", id=planted)
    code, output = world.verify()
    assert code == 0, output
    created = create(a, "orphan")
    last = world.events("tenant-a")[-1]
    assert last.sequence == head.sequence + 1 and last.action == "environment.create"
    code, output = world.verify()
    assert code == 0, output
    assert created["name"] == "orphan"


# -- signed checkpoints: a copy kept outside the database proves nothing was truncated --------


def cli(world: World, *args: str) -> tuple[int, str, str]:
    env = clean_env(SHIPLANE_DATABASE_URL=world.url, SHIPLANE_DATA_DIR=str(world.workdir / "cli-data"))
    result = run_cli(list(args), env, world.workdir)
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, result.stdout, result.stderr


def test_checkpoints_are_signed_heads_per_tenant(world: World, populated: Populated, tmp_path: Path) -> None:
    out = tmp_path / "checkpoints.jsonl"
    code, _, err = cli(world, "audit", "checkpoint", "--output", str(out))
    assert code == 0 and "signed 2 checkpoint(s)" in err
    entries = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(e["tenantId"], e["sequence"]) for e in entries] == [("tenant-a", 6), ("tenant-b", 2)]
    assert all(e["signature"] and len(e["keyId"]) == 16 for e in entries)
    code, output, _ = cli(world, "audit", "verify", "--checkpoint", str(out))
    assert code == 0, output


def test_a_truncated_chain_passes_alone_but_not_against_a_checkpoint(
    world: World, populated: Populated, tmp_path: Path
) -> None:
    out = tmp_path / "checkpoints.jsonl"
    assert cli(world, "audit", "checkpoint", "--output", str(out))[0] == 0
    # Delete tenant A's whole trail, head included: nothing inside the database is left to
    # contradict it, so verification alone cannot notice.
    world.sql("DELETE FROM audit_events WHERE tenant_id = 'tenant-a'")
    world.sql("DELETE FROM audit_chain_heads WHERE tenant_id = 'tenant-a'")
    code, output, _ = cli(world, "audit", "verify")
    assert code == 0, output
    code, output, _ = cli(world, "audit", "verify", "--checkpoint", str(out))
    assert code == 1
    assert "tenant-a" in output and "sequence 6" in output and "truncated" in output


def test_rewriting_the_tail_with_valid_hashes_is_caught(world: World, populated: Populated, tmp_path: Path) -> None:
    out = tmp_path / "checkpoints.jsonl"
    assert cli(world, "audit", "checkpoint", "--tenant", "tenant-b", "--output", str(out))[0] == 0
    # Replace the newest event's hash as a forger would after recomputing the chain.
    world.sql("UPDATE audit_events SET hash = :h WHERE tenant_id = 'tenant-b' AND sequence = 2", h="f" * 64)
    world.sql("UPDATE audit_chain_heads SET hash = :h WHERE tenant_id = 'tenant-b'", h="f" * 64)
    code, output, _ = cli(world, "audit", "verify", "--tenant", "tenant-b", "--checkpoint", str(out))
    assert code == 1 and "tenant-b" in output


def test_a_forged_checkpoint_file_is_refused(world: World, populated: Populated, tmp_path: Path) -> None:
    out = tmp_path / "checkpoints.jsonl"
    assert cli(world, "audit", "checkpoint", "--output", str(out))[0] == 0
    entries = [json.loads(line) for line in out.read_text().splitlines()]
    entries[0]["sequence"] = 1  # claim an earlier head, to hide what came after
    out.write_text("".join(json.dumps(e) + "\n" for e in entries))
    code, _, err = cli(world, "audit", "verify", "--checkpoint", str(out))
    assert code == 2 and "signature does not verify" in err
