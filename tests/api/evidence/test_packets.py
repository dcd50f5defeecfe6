"""Evidence packets through the API: every decision and every job outcome leaves a packet
that verifies offline (``shiplane evidence verify``) against ``GET /signing-keys``, in its
tenant only."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from shiplane.evidence.dsse import public_keys, verify_envelope

from tests.api.promotions import PROMOTIONS, environment, policy, promote, sealed_release
from tests.api.promotions.test_promotions import finished, jobs_of
from tests.conftest import Caller, CallerFactory, assert_error
from tests.servers import clean_env, run_cli

PACKETS = "/api/v1/evidence-packets"


def evidence(caller: Caller, promotion_id: str, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
    """The promotion's packets once there are ``count`` (the outcome follows the job's end)."""
    deadline = time.monotonic() + timeout
    while True:
        response = caller.get(f"{PROMOTIONS}/{promotion_id}/evidence")
        assert response.status_code == 200, response.text
        found: list[dict[str, Any]] = response.json()["data"]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def keys(caller: Caller) -> list[dict[str, Any]]:
    response = caller.get("/api/v1/signing-keys", params={"pageSize": 100})
    assert response.status_code == 200, response.text
    published: list[dict[str, Any]] = response.json()["data"]
    return published


def test_a_promotion_leaves_a_decision_and_an_outcome_that_verify(
    admin: Caller, other_admin: Caller, viewer: Caller, tmp_path: Path
) -> None:
    release = sealed_release(admin, tmp_path)
    dev = environment(admin, "dev", 1)
    promotion = promote(admin, release["id"], dev["id"], reason="ship it").json()["data"]
    assert finished(admin, promotion["id"])["state"] == "succeeded"
    [job] = jobs_of(admin, promotion["id"])
    decision, outcome = evidence(viewer, promotion["id"], 2)
    assert (decision["kind"], decision["outcome"]) == ("promotion-decision", "approved")
    assert (outcome["kind"], outcome["outcome"]) == ("deployment-outcome", "succeeded")
    assert outcome["deploymentJobId"] == job["id"] and decision["deploymentJobId"] is None
    for packet in (decision, outcome):
        assert packet["subjectDigest"] == release["manifestDigest"]
        assert packet["payloadType"] == "application/vnd.in-toto+json"
        statement = packet["statement"]
        assert statement["_type"] == "https://in-toto.io/Statement/v1"
        assert statement["subject"] == [
            {"name": f"release/{release['name']}", "digest": {"sha256": release["manifestDigest"].split(":")[1]}}
        ]
        predicate = statement["predicate"]
        assert predicate["release"]["manifestDigest"] == release["manifestDigest"]
        assert [c["digest"] for c in predicate["release"]["components"]] == [c["digest"] for c in release["components"]]
        assert predicate["environment"] == {"id": dev["id"], "name": "dev"}
    gates = decision["statement"]["predicate"]["gates"]
    assert gates == admin.get(f"{PROMOTIONS}/{promotion['id']}/decision").json()["data"]["gates"]
    assert decision["statement"]["predicate"]["promotion"]["requestedBy"] == admin.user_id
    assert decision["statement"]["predicate"]["promotion"]["reason"] == "ship it"
    job_part = outcome["statement"]["predicate"]["job"]
    assert (job_part["id"], job_part["kind"], job_part["state"]) == (job["id"], "deploy", "succeeded")
    # The job's log (the deploy step's lines up to the job's end) is hashed, line by line.
    job_log = outcome["statement"]["predicate"]["jobLog"]
    run = admin.get(f"/api/v1/workflow-runs/{job['workflowRunId']}/steps").json()["data"]
    [step] = run
    lines = [
        entry["line"]
        for entry in admin.get(
            f"/api/v1/workflow-runs/{job['workflowRunId']}/steps/{step['nodeId']}/logs", params={"limit": 1000}
        ).json()["data"]["lines"]
    ]
    n = job_log["lines"]
    windows = {hashlib.sha256("\n".join(lines[i : i + n]).encode()).hexdigest() for i in range(len(lines) - n + 1)}
    assert n >= 2 and job_log["sha256"] in windows, (job_log, lines)

    published = keys(viewer)  # (the test database holds other test servers' keys too)
    assert decision["keyId"] in {k["keyId"] for k in published}
    for packet in (decision, outcome):
        download = viewer.get(f"{PACKETS}/{packet['id']}/download")
        assert download.status_code == 200
        assert f"evidence-{packet['id']}.dsse.json" in download.headers["content-disposition"]
        verified = verify_envelope(json.loads(download.content), public_keys(published))
        assert verified.statement == packet["statement"] and verified.key_id == packet["keyId"]
        assert verified.payload_sha256 == packet["payloadSha256"]
        assert viewer.get(f"{PACKETS}/{packet['id']}").json()["data"] == packet

    listed = viewer.get(PACKETS, params={"filter": json.dumps({"promotionId": promotion["id"]})}).json()["data"]
    assert {p["id"] for p in listed} == {decision["id"], outcome["id"]}
    only = viewer.get(PACKETS, params={"filter": json.dumps({"kind": "deployment-outcome"})}).json()["data"]
    assert outcome["id"] in {p["id"] for p in only} and decision["id"] not in {p["id"] for p in only}

    # Another tenant sees none of it.
    for path in (f"{PACKETS}/{decision['id']}", f"{PACKETS}/{decision['id']}/download"):
        assert_error(other_admin.get(path), 404, "NOT_FOUND")
    assert_error(other_admin.get(f"{PROMOTIONS}/{promotion['id']}/evidence"), 404, "NOT_FOUND")
    assert other_admin.get(PACKETS).json()["data"] == []
    assert_error(admin.get(f"{PACKETS}/nope"), 404, "NOT_FOUND")
    # Packets are immutable: there is no way to change or delete one.
    for method in ("PUT", "PATCH", "DELETE"):
        answer = admin.client.request(method, f"{PACKETS}/{decision['id']}", headers=admin._h(None))
        assert answer.status_code == 405


def test_approvals_rejections_and_rollbacks_say_who_and_why(
    admin: Caller, make_caller: CallerFactory, tmp_path: Path
) -> None:
    rule = policy(admin, requiredApprovals=2, approverRoles=["approver"])
    prod = environment(admin, "prod", 1, approvalPolicyId=rule["id"])
    requester = make_caller(["release-manager", "approver"])
    first, second = make_caller(["approver"]), make_caller(["approver"])

    old = sealed_release(admin, tmp_path, "r1")
    promotion = promote(requester, old["id"], prod["id"]).json()["data"]
    url = f"{PROMOTIONS}/{promotion['id']}"
    assert_error(requester.post(f"{url}/approve", json={}), 422, "SELF_APPROVAL_FORBIDDEN")
    assert evidence(admin, promotion["id"], 0) == []  # nothing decided yet
    assert first.post(f"{url}/approve", json={"comment": "staging is green"}).status_code == 200
    assert second.post(f"{url}/approve", json={}).status_code == 200
    assert finished(admin, promotion["id"])["state"] == "succeeded"
    decision = evidence(admin, promotion["id"], 2)[0]["statement"]["predicate"]
    assert decision["outcome"] == "approved" and decision["approvalPolicy"]["id"] == rule["id"]
    assert [(a["userId"], a["decision"], a["comment"]) for a in decision["approvals"]] == [
        (first.user_id, "approve", "staging is green"),
        (second.user_id, "approve", ""),
    ]
    assert all(a["at"] for a in decision["approvals"])
    assert decision["separationOfDuties"] == {
        "requestedBy": requester.user_id,
        "deciders": [first.user_id, second.user_id],
        "selfApprovalAllowed": False,
        "requesterDecided": False,
        "distinctDeciders": True,
    }

    rejected = promote(requester, sealed_release(admin, tmp_path, "r2")["id"], prod["id"]).json()["data"]
    assert first.post(f"{PROMOTIONS}/{rejected['id']}/reject", json={"comment": "not on a Friday"}).status_code == 200
    [packet] = evidence(admin, rejected["id"], 1)
    assert packet["outcome"] == "rejected"
    assert packet["statement"]["predicate"]["approvals"][0]["comment"] == "not on a Friday"

    # A rollback of prod (back to nothing newer: r1 is current, so roll back a later one).
    third = sealed_release(admin, tmp_path, "r3")
    newer = promote(requester, third["id"], prod["id"]).json()["data"]
    for who in (first, second):
        assert who.post(f"{PROMOTIONS}/{newer['id']}/approve", json={}).status_code == 200
    assert finished(admin, newer["id"])["state"] == "succeeded"
    created = requester.post("/api/v1/rollbacks", json={"environmentId": prod["id"], "reason": "latency up"})
    assert created.status_code == 201, created.text
    rollback_id = created.json()["data"]["id"]
    deadline = time.monotonic() + 60
    while True:
        found = admin.get(PACKETS, params={"filter": json.dumps({"deploymentJobId": rollback_id})}).json()["data"]
        if found or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    [packet] = found
    statement = admin.get(f"{PACKETS}/{packet['id']}").json()["data"]["statement"]
    assert statement["subject"][0]["name"] == "release/r1"
    assert statement["predicate"]["job"]["kind"] == "rollback"
    assert statement["predicate"]["rollback"]["reason"] == "latency up"
    assert statement["predicate"]["rollback"]["skipped"] == ["gates", "approvals", "analysis"]


def test_shiplane_evidence_verify_checks_a_downloaded_packet_offline(admin: Caller, tmp_path: Path) -> None:
    release = sealed_release(admin, tmp_path)
    dev = environment(admin, "dev", 1)
    promotion = promote(admin, release["id"], dev["id"]).json()["data"]
    assert finished(admin, promotion["id"])["state"] == "succeeded"
    [decision, _outcome] = evidence(admin, promotion["id"], 2)
    packet = tmp_path / "packet.dsse.json"
    packet.write_bytes(admin.get(f"{PACKETS}/{decision['id']}/download").content)
    published = tmp_path / "keys.json"
    published.write_text(admin.get("/api/v1/signing-keys", params={"pageSize": 100}).text)  # the answer, as saved
    env = clean_env()

    ok = run_cli(["evidence", "verify", str(packet), "--keys", str(published)], env, tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.startswith("OK: ") and decision["keyId"] in ok.stdout and "(approved)" in ok.stdout

    # One changed byte in the payload: exit 1 with the reason.
    envelope = json.loads(packet.read_bytes())
    payload = bytearray(base64.b64decode(envelope["payload"]))
    payload[payload.index(b"approved")] = ord("A")
    changed = tmp_path / "changed.dsse.json"
    changed.write_text(json.dumps({**envelope, "payload": base64.b64encode(bytes(payload)).decode()}))
    bad = run_cli(["evidence", "verify", str(changed), "--keys", str(published)], env, tmp_path)
    assert bad.returncode == 1 and "INVALID" in bad.stdout and "does not match the payload" in bad.stdout

    # A PEM public key works as the key set too; an unknown key is named.
    pem = tmp_path / "key.pem"
    [own] = [k for k in json.loads(published.read_text())["data"] if k["keyId"] == decision["keyId"]]
    pem.write_text(own["publicKey"])
    assert run_cli(["evidence", "verify", str(packet), "--keys", str(pem)], env, tmp_path).returncode == 0
    stranger = tmp_path / "stranger.pem"
    stranger.write_bytes(
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    unknown = run_cli(["evidence", "verify", str(packet), "--keys", str(stranger)], env, tmp_path)
    assert unknown.returncode == 1 and "none of them among the published keys" in unknown.stdout
    missing = run_cli(["evidence", "verify", str(tmp_path / "nope.json"), "--keys", str(published)], env, tmp_path)
    assert missing.returncode == 2 and "cannot check" in missing.stderr


def test_a_packet_signed_before_a_key_rotation_still_verifies(tmp_path: Path) -> None:
    """One database, a server with key A, then (the key file replaced) a server with key B:
    both keys stay published, B is current, and A's packets verify with the published set."""
    from fastapi.testclient import TestClient
    from shiplane.app import create_app
    from shiplane.platform.jwt import mint_token
    from shiplane.platform.signing import _write_new_key

    from tests.conftest import make_database, make_settings

    key = tmp_path / "signing-key.pem"
    (tmp_path / "db").mkdir()
    databases = make_database(tmp_path / "db")
    database = next(databases)
    packets: list[dict[str, Any]] = []
    try:
        for generation in ("a", "b"):
            key.unlink(missing_ok=True)
            _write_new_key(key)  # the operator's rotation: a new key at the same path
            settings = make_settings(database, tmp_path / f"data-{generation}", signing_key_path=key)
            with TestClient(create_app(settings), raise_server_exceptions=False) as client:
                token = mint_token(settings, user_id="rotator", tenant_id="tenant-rotation", roles=["admin"])
                caller = Caller(client, token, "tenant-rotation", "rotator")
                env = environment(caller, f"env-{generation}", 1 if generation == "a" else 2)
                release = sealed_release(caller, tmp_path, f"r{generation}")
                promotion = promote(caller, release["id"], env["id"]).json()["data"]
                assert finished(caller, promotion["id"])["state"] == "succeeded"
                decision = evidence(caller, promotion["id"], 2)[0]
                download = caller.get(f"{PACKETS}/{decision['id']}/download").content
                packets.append({**decision, "envelope": json.loads(download)})
                published = keys(caller)
    finally:
        databases.close()
    first, second = packets
    assert first["keyId"] != second["keyId"]
    assert {k["keyId"]: k["current"] for k in published} == {first["keyId"]: False, second["keyId"]: True}
    for packet in packets:
        assert verify_envelope(packet["envelope"], public_keys(published)).key_id == packet["keyId"]
