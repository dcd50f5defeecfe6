"""A step type's secret config fields (writeOnly) are sealed in templates, never shown,
and reach the step in clear: the built-in http step calls a local server that insists
on the bearer token."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.api.workflows import TEMPLATES, start, wait_for
from tests.conftest import Caller, assert_error, run_sql

TOKEN = "Bearer tok-5f1e9c-secret-value"


@pytest.fixture(scope="module")
def guarded_url() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            self.send_response(200 if self.headers.get("Authorization") == TOKEN else 401)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"ok": true}')

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/health"
    finally:
        server.shutdown()
        server.server_close()


def http_node(url: str, token: str) -> dict[str, Any]:
    return {"id": "smoke", "type": "http", "config": {"url": url, "headers": {"Authorization": token}}}


def test_secrets_are_sealed_shown_masked_and_used_in_clear(admin: Caller, guarded_url: str, database_url: str) -> None:
    created = admin.post(TEMPLATES, json={"name": "smoke", "nodes": [http_node(guarded_url, TOKEN)]})
    assert created.status_code == 201, created.text
    flow = created.json()["data"]
    assert flow["nodes"][0]["config"]["headers"]["Authorization"] == "***"
    stored = run_sql(
        database_url, "SELECT nodes FROM workflow_template_versions WHERE template_id = :t", {"t": flow["id"]}
    )
    assert "tok-5f1e9c" not in str(stored)
    run = wait_for(admin, start(admin, flow["id"])["id"])
    assert run["state"] == "succeeded", run
    # *** keeps the stored secret for the same node, URL unchanged...
    kept = admin.put(f"{TEMPLATES}/{flow['id']}", json={"name": "smoke", "nodes": [http_node(guarded_url, "***")]})
    assert kept.status_code == 200, kept.text
    assert wait_for(admin, start(admin, flow["id"])["id"])["state"] == "succeeded"
    # ...but not for another destination.
    moved = {"name": "smoke", "nodes": [http_node("http://127.0.0.1:9/elsewhere", "***")]}
    error = assert_error(admin.put(f"{TEMPLATES}/{flow['id']}", json=moved), 400, "VALIDATION_ERROR")
    assert error["validationErrors"][0]["code"] == "secret_required"
    for text in (
        admin.get(f"{TEMPLATES}/{flow['id']}").text,
        admin.get(f"{TEMPLATES}/{flow['id']}", params={"templateVersion": 1}).text,
        admin.get("/api/v1/audit-events", params={"pageSize": 100}).text,
        admin.get(f"/api/v1/workflow-runs/{run['id']}/steps/smoke/logs").text,
        admin.get(f"/api/v1/workflow-runs/{run['id']}").text,
    ):
        assert "tok-5f1e9c" not in text
