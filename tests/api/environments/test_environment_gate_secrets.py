"""Secrets in environment gate configs: sealed at rest, never shown, kept by gate id."""

from __future__ import annotations

import json
import uuid

import pytest
from shiplane.platform.secrets import SecretBox
from shiplane.platform.settings import Settings

from tests.conftest import Caller, assert_error, run_sql

BASE = "/api/v1/environments"


def ticket_gate(token: str, url: str = "https://tickets.example") -> dict:
    return {"type": "change-ticket", "config": {"ticketSystemUrl": url, "ticketSystemToken": token}}


@pytest.fixture
def acme_admin(admin: Caller) -> Caller:
    assert admin.post("/api/v1/plugins/acme/enable").status_code == 200
    return admin


def stored_tokens(database_url: str, env_id: str, tenant_id: str) -> str:
    rows = run_sql(
        database_url, "SELECT gates FROM environments WHERE id = :i AND tenant_id = :t", {"i": env_id, "t": tenant_id}
    )
    return str(rows[0][0])


def test_gate_secrets_are_sealed_masked_and_absent_everywhere(acme_admin: Caller, database_url: str) -> None:
    secret = f"tok-{uuid.uuid4().hex}"
    created = acme_admin.post(BASE, json={"name": "prod", "gates": [ticket_gate(secret)]})
    assert created.status_code == 201, created.text
    env = created.json()["data"]
    assert env["gates"][0]["config"] == {"ticketSystemUrl": "https://tickets.example", "ticketSystemToken": "***"}
    for response in (created, acme_admin.get(f"{BASE}/{env['id']}"), acme_admin.get(BASE)):
        assert secret not in response.text
    assert secret not in stored_tokens(database_url, env["id"], acme_admin.tenant_id)
    assert "$encrypted" in stored_tokens(database_url, env["id"], acme_admin.tenant_id)
    for table, column in (("audit_events", "changes"), ("outbox_events", "data")):
        rows = run_sql(database_url, f"SELECT {column} FROM {table} WHERE tenant_id = :t", {"t": acme_admin.tenant_id})
        assert rows and all(secret not in str(r[0]) for r in rows)
    assert secret not in acme_admin.get("/api/v1/audit-events").text
    # a validation error about the gate never quotes the secret
    bad = acme_admin.post(BASE, json={"name": "x", "gates": [ticket_gate(secret, url="ftp://nope") | {"name": ""}]})
    assert bad.status_code == 400 and secret not in bad.text


def decrypted_tokens(database_url: str, env_id: str, tenant_id: str, settings: Settings) -> dict[str, str]:
    """Gate id -> the token as stored, decrypted with the server's key."""
    raw = run_sql(database_url, "SELECT gates FROM environments WHERE id = :i", {"i": env_id})[0][0]
    gates = json.loads(raw) if isinstance(raw, str) else raw
    box = SecretBox(settings.encryption_key or "")
    return {g["id"]: box.decrypt(g["config"]["ticketSystemToken"]) for g in gates}


def test_secrets_follow_their_gate_when_gates_are_removed_or_reordered(
    acme_admin: Caller, database_url: str, settings: Settings
) -> None:
    env = acme_admin.post(
        BASE,
        json={
            "name": "prod",
            "gates": [ticket_gate("TOKEN-OF-A", "https://a"), ticket_gate("TOKEN-OF-B", "https://b")],
        },
    ).json()["data"]
    a, b = env["gates"]
    # drop A by sending B back as read: B keeps B's token, not A's
    response = acme_admin.put(f"{BASE}/{env['id']}", json={"name": "prod", "gates": [b]})
    assert response.status_code == 200, response.text
    assert decrypted_tokens(database_url, env["id"], acme_admin.tenant_id, settings) == {b["id"]: "TOKEN-OF-B"}
    services_view = acme_admin.get(f"{BASE}/{env['id']}").json()["data"]["gates"]
    assert [g["id"] for g in services_view] == [b["id"]]
    # a new gate put before it does not take B's secret either
    new_first = ticket_gate("TOKEN-OF-C", "https://c")
    response = acme_admin.put(f"{BASE}/{env['id']}", json={"name": "prod", "gates": [new_first, services_view[0]]})
    assert response.status_code == 200, response.text
    gates = response.json()["data"]["gates"]
    assert gates[1]["id"] == b["id"] and gates[1]["config"]["ticketSystemUrl"] == "https://b"
    tokens = decrypted_tokens(database_url, env["id"], acme_admin.tenant_id, settings)
    assert tokens == {gates[0]["id"]: "TOKEN-OF-C", b["id"]: "TOKEN-OF-B"}
    assert_error(
        acme_admin.put(f"{BASE}/{env['id']}", json={"name": "prod", "gates": [{**b, "id": a["id"]}]}),
        400,
        "VALIDATION_ERROR",
    )


def test_a_masked_secret_with_nothing_stored_is_refused(acme_admin: Caller) -> None:
    error = assert_error(
        acme_admin.post(BASE, json={"name": "prod", "gates": [ticket_gate("***")]}), 400, "VALIDATION_ERROR"
    )
    assert error["validationErrors"][0] == {
        "field": "gates.0.config.ticketSystemToken",
        "message": "send the secret itself; *** only keeps a stored one",
        "code": "secret_required",
    }
    env = acme_admin.post(BASE, json={"name": "prod", "gates": [ticket_gate("REAL-TOKEN-1")]}).json()["data"]
    # the same id but another type is a new gate: its *** has nothing to keep
    changed = {"id": env["gates"][0]["id"], "type": "policy", "config": {"rules": {}, "name": "***"}}
    assert acme_admin.put(f"{BASE}/{env['id']}", json={"name": "prod", "gates": [changed]}).status_code == 200


def test_a_kept_secret_stays_with_the_url_it_was_entered_for(
    acme_admin: Caller, database_url: str, settings: Settings
) -> None:
    env = acme_admin.post(BASE, json={"name": "prod", "gates": [ticket_gate("TOKEN-FOR-A", "https://a")]}).json()[
        "data"
    ]
    gate = env["gates"][0]
    # Same URL, "***": the secret is kept.
    same = acme_admin.put(f"{BASE}/{env['id']}", json={"name": "prod", "description": "x", "gates": [gate]})
    assert same.status_code == 200, same.text
    # Another URL with "***": refused, naming the secret; nothing changes.
    moved = {**gate, "config": {**gate["config"], "ticketSystemUrl": "https://attacker.example"}}
    error = assert_error(
        acme_admin.put(f"{BASE}/{env['id']}", json={"name": "prod", "gates": [moved]}), 400, "VALIDATION_ERROR"
    )
    assert error["validationErrors"][0]["field"] == "gates.0.config.ticketSystemToken"
    assert error["validationErrors"][0]["code"] == "secret_required"
    assert "ticketSystemUrl" in error["message"]
    assert acme_admin.get(f"{BASE}/{env['id']}").json()["data"]["gates"][0]["config"]["ticketSystemUrl"] == "https://a"
    assert decrypted_tokens(database_url, env["id"], acme_admin.tenant_id, settings) == {gate["id"]: "TOKEN-FOR-A"}
    # Another URL with the secret entered again: accepted.
    reentered = {**moved, "config": {**moved["config"], "ticketSystemToken": "TOKEN-FOR-B"}}
    ok = acme_admin.put(f"{BASE}/{env['id']}", json={"name": "prod", "gates": [reentered]})
    assert ok.status_code == 200, ok.text
    assert decrypted_tokens(database_url, env["id"], acme_admin.tenant_id, settings) == {gate["id"]: "TOKEN-FOR-B"}
