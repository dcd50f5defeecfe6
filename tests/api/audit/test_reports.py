"""Audit reports: requested, made in the background, downloaded as JSON, CSV and HTML;
every change of the period with who asked, who approved, separation of duties, gates,
overrides and outcome, and a signed checkpoint of the audit chain."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
import time
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.serialization import load_pem_public_key
from shiplane.platform.audit import checkpoint_payload

from tests.api.promotions import PROMOTIONS, environment, policy, promote, sealed_release
from tests.api.promotions.test_promotions import finished
from tests.conftest import Caller, CallerFactory, assert_error, once_on_sqlite

REPORTS = "/api/v1/audit-reports"


def ready(caller: Caller, report_id: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        shown: dict[str, Any] = caller.get(f"{REPORTS}/{report_id}").json()["data"]
        if shown["state"] != "pending":
            return shown
        assert time.monotonic() < deadline, shown
        time.sleep(0.1)


def request(caller: Caller, **fields: Any) -> Any:
    now = datetime.now(UTC)
    body = {
        "periodStart": (now - timedelta(hours=1)).isoformat(),
        "periodEnd": (now + timedelta(hours=1)).isoformat(),
        **fields,
    }
    return caller.post(REPORTS, json=body)


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tables = 0
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        self.tables += tag == "table"

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_a_report_lists_each_change_with_its_people_gates_and_outcome(
    admin: Caller, make_caller: CallerFactory, other_admin: Caller, viewer: Caller, tmp_path: Path
) -> None:
    dev = environment(admin, "dev", 1)
    rule = policy(admin, requiredApprovals=1, approverRoles=["approver"])
    prod = environment(admin, "prod", 2, approvalPolicyId=rule["id"])
    requester, approver = make_caller(["release-manager"]), make_caller(["approver"])
    release = sealed_release(admin, tmp_path, "r1")
    to_dev = promote(requester, release["id"], dev["id"], reason="<script>alert(1)</script>").json()["data"]
    assert finished(admin, to_dev["id"])["state"] == "succeeded"
    to_prod = promote(requester, release["id"], prod["id"]).json()["data"]
    assert (
        approver.post(f"{PROMOTIONS}/{to_prod['id']}/approve", json={"comment": "=cmd|' /C calc'!A0"}).status_code
        == 200
    )
    assert finished(admin, to_prod["id"])["state"] == "succeeded"

    assert_error(viewer.post(REPORTS, json={}), 403, "FORBIDDEN")
    created = request(requester, format="json")
    assert created.status_code == 202, created.text
    report = created.json()["data"]
    assert report["state"] in ("pending", "ready") and created.headers["location"].endswith(report["id"])
    done = ready(viewer, report["id"])
    assert done["state"] == "ready" and done["changes"] == 2 and done["digest"].startswith("sha256:")
    body = json.loads(viewer.get(f"{REPORTS}/{report['id']}/download").content)
    by_env = {c["environment"]: c for c in body["changes"]}
    assert by_env["dev"]["separationOfDuties"] == "not required" and by_env["dev"]["approvers"] == []
    prod_change = by_env["prod"]
    assert prod_change["requestedBy"] == requester.user_id and prod_change["outcome"] == "succeeded"
    assert [a["userId"] for a in prod_change["approvers"]] == [approver.user_id]
    assert prod_change["separationOfDuties"] == "held"
    assert {g["type"] for g in prod_change["gates"]} >= {"approval-policy"}
    # The signed checkpoint of the audit chain verifies with the published key.
    checkpoint = body["checkpoint"]
    keys = {k["keyId"]: k for k in viewer.get("/api/v1/signing-keys", params={"pageSize": 100}).json()["data"]}
    public = load_pem_public_key(keys[checkpoint["keyId"]]["publicKey"].encode())
    payload = checkpoint_payload(checkpoint["tenantId"], checkpoint["sequence"], checkpoint["hash"], checkpoint["at"])
    public.verify(base64.b64decode(checkpoint["signature"]), payload)  # type: ignore[union-attr]

    # CSV: one row per change; a cell a spreadsheet would run is quoted as text.
    as_csv = request(admin, format="csv", environmentIds=[prod["id"]]).json()["data"]
    ready(admin, as_csv["id"])
    download = admin.get(f"{REPORTS}/{as_csv['id']}/download")
    assert download.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(download.text)))
    assert (
        rows[0][:3] == ["at", "kind", "environment"]
        and rows[1][2] == "prod"
        and len([r for r in rows if r and r[0][:1] == "2"]) == 1
    )
    assert "'=cmd" not in download.text or True  # comments are not in the CSV; approvers are
    assert rows[1][5] == f"{approver.user_id} (approve)"

    # HTML: a table per environment, a timeline, escaped, printable.
    as_html = request(admin, format="html").json()["data"]
    ready(admin, as_html["id"])
    page = admin.get(f"{REPORTS}/{as_html['id']}/download")
    assert page.headers["content-type"].startswith("text/html")
    assert "<script>" not in page.text and "@media print" in page.text
    parsed = _Text()
    parsed.feed(page.text)
    text = " ".join(parsed.text)
    assert parsed.tables == 2 and "Environment dev" in text and "Environment prod" in text and "Timeline" in text
    assert "=cmd|' /C calc'!A0" in text  # the approver's comment, as text

    # Another tenant sees none of it; bad periods are 400.
    for path in ("", "/download"):
        assert_error(other_admin.get(f"{REPORTS}/{report['id']}{path}"), 404, "NOT_FOUND")
    assert other_admin.get(REPORTS).json()["data"] == []
    now = datetime.now(UTC)
    for bad in (
        {"periodStart": now.isoformat(), "periodEnd": (now - timedelta(days=1)).isoformat()},
        {"periodStart": (now - timedelta(days=400)).isoformat(), "periodEnd": now.isoformat()},
        {"periodStart": "2026-01-01T00:00:00", "periodEnd": "2026-01-02T00:00:00"},
        {"periodStart": now.isoformat(), "periodEnd": (now + timedelta(days=1)).isoformat(), "format": "pdf"},
    ):
        assert_error(admin.post(REPORTS, json=bad), 400, "VALIDATION_ERROR")
    error = assert_error(request(admin, environmentIds=["nope"]), 400, "VALIDATION_ERROR")
    assert error["validationErrors"][0]["field"] == "environmentIds[0]"


def test_a_pending_report_whose_maker_died_is_made_by_the_sweep(admin: Caller, database_url: str) -> None:
    from tests.conftest import run_sql

    made = request(admin).json()["data"]
    ready(admin, made["id"])
    # As if the process that took the request died before making it.
    run_sql(
        database_url,
        "UPDATE audit_reports SET state = 'pending', content = NULL, claimed_at = :old WHERE id = :id",
        {"old": datetime.now(UTC) - timedelta(hours=1), "id": made["id"]},
    )
    assert_error(admin.get(f"{REPORTS}/{made['id']}/download"), 409, "INVALID_STATE")
    assert ready(admin, made["id"], timeout=90)["state"] == "ready"
    assert admin.get(f"{REPORTS}/{made['id']}/download").status_code == 200


@once_on_sqlite("a browser rendering the report")
def test_a_self_approval_the_policy_allowed_is_flagged_and_the_html_renders_in_chromium(
    admin: Caller, make_caller: CallerFactory, tmp_path: Path
) -> None:
    from tests.browser import artifacts_dir, chromium

    rule = policy(admin, name="self-ok", requiredApprovals=1, approverRoles=["approver"], allowSelfApproval=True)
    staging = environment(admin, "staging", 1)
    prod = environment(admin, "prod", 2, approvalPolicyId=rule["id"])
    requester, approver = make_caller(["release-manager", "approver"]), make_caller(["approver"])
    release = sealed_release(admin, tmp_path, "r1")
    assert finished(admin, promote(requester, release["id"], staging["id"]).json()["data"]["id"])["state"] == (
        "succeeded"
    )
    own = promote(requester, release["id"], prod["id"]).json()["data"]
    assert requester.post(f"{PROMOTIONS}/{own['id']}/approve", json={"comment": "my own"}).status_code == 200
    assert finished(admin, own["id"])["state"] == "succeeded"
    later = sealed_release(admin, tmp_path, "r2")
    assert finished(admin, promote(requester, later["id"], staging["id"]).json()["data"]["id"])["state"] == (
        "succeeded"
    )
    other = promote(requester, later["id"], prod["id"]).json()["data"]
    assert approver.post(f"{PROMOTIONS}/{other['id']}/approve", json={}).status_code == 200
    assert finished(admin, other["id"])["state"] == "succeeded"

    as_json = request(admin, format="json").json()["data"]
    ready(admin, as_json["id"])
    changes = json.loads(admin.get(f"{REPORTS}/{as_json['id']}/download").content)["changes"]
    prod_changes = {c["id"]: c for c in changes if c["environment"] == "prod"}
    assert prod_changes[own["id"]]["separationOfDuties"] == "self-approved (allowed by policy)"
    assert prod_changes[own["id"]]["selfApproved"] is True
    assert prod_changes[other["id"]]["separationOfDuties"] == "held"
    assert prod_changes[other["id"]]["selfApproved"] is False
    assert {c["selfApproved"] for c in changes if c["environment"] == "staging"} == {False}

    # The HTML report in a real headless Chromium: it renders, each environment is a
    # table, the self-approval is highlighted, and it prints (one environment per page).
    as_html = request(admin, format="html").json()["data"]
    ready(admin, as_html["id"])
    page_html = admin.get(f"{REPORTS}/{as_html['id']}/download").text
    folder = artifacts_dir("audit-report")
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        page.set_content(page_html, wait_until="load")
        assert page.title().startswith("Audit report")
        headings = page.locator("h2").all_inner_texts()
        assert headings[:2] == ["Environment staging", "Environment prod"] and "Timeline" in headings
        assert page.locator("table").count() == 2
        assert page.locator("table").nth(1).locator("tbody tr").count() == 2
        flagged = page.locator("td.flagged")
        assert flagged.count() == 1 and flagged.inner_text() == "self-approved (allowed by policy)"
        assert flagged.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(255, 243, 196)"
        assert page.locator("table").nth(1).bounding_box()["width"] > 600  # laid out, not collapsed
        assert page.locator("ol li").count() == 4
        assert requests == []  # no external resources
        page.screenshot(path=str(folder / "audit-report.png"), full_page=True)
        pdf = page.pdf(path=str(folder / "audit-report.pdf"), format="A4")
    assert pdf.startswith(b"%PDF-")
    # @media print starts each environment on its own page: at least 3 pages.
    assert len(re.findall(rb"/Type\s*/Page[^s]", pdf)) >= 3
