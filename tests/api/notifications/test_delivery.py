"""Domain events to notification integrations: fan-out, durable retries, signatures.

A real HTTP receiver on a loopback port checks every delivery's signature and
timestamp with the plugin's published ``verify``. It starts *after* the event, so
the first attempts fail (connection refused) and the queue retries until it lands.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from shiplane.app import create_app
from shiplane_plugin_notify.webhook import verify

from tests.conftest import Caller, make_settings, run_sql

SECRET = "whsec-0123456789abcdef-not-shown"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Receiver:
    def __init__(self, port: int) -> None:
        self.port = port
        self.deliveries: list[dict[str, Any]] = []
        self.refused = 0
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if not verify(SECRET, self.headers.items(), body):
                    receiver.refused += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                receiver.deliveries.append({"headers": dict(self.headers.items()), "body": json.loads(body)})
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def eventually(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


@pytest.fixture(scope="module")
def fast_client(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """A server whose failed deliveries are retried after 0.2 s (doubling)."""
    settings = make_settings(database_url, tmp_path_factory.mktemp("notify"), notification_retry_seconds=0.2)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def admin_fast(admin: Caller, fast_client: TestClient) -> Caller:
    return Caller(fast_client, admin.token, admin.tenant_id, admin.user_id)


def test_a_receiver_that_is_down_gets_the_event_once_it_is_up(
    admin_fast: Caller, database_url: str, tmp_path: Path
) -> None:
    admin = admin_fast
    receiver = Receiver(_free_port())
    config = {"url": f"http://127.0.0.1:{receiver.port}/hook", "secret": SECRET, "events": ["environment.*"]}
    created = admin.post("/api/v1/integrations", json={"name": "hook", "typeId": "webhook", "config": config})
    assert created.status_code == 201, created.text
    integration_id = created.json()["data"]["id"]

    # The request that causes the event answers while the receiver is down.
    env = admin.post("/api/v1/environments", json={"name": "dev", "displayName": "Dev", "order": 1})
    assert env.status_code == 201, env.text
    env_id = env.json()["data"]["id"]

    def attempts() -> list[Any]:
        return run_sql(
            database_url,
            "SELECT state, attempts, error FROM work_items WHERE kind = 'notify' AND tenant_id = :t",
            {"t": admin.tenant_id},
        )

    # It failed at least once (refused), and waits for its retry.
    eventually(lambda: any(row[1] >= 1 and row[2] for row in attempts()))
    assert receiver.deliveries == []
    receiver.start()
    try:
        eventually(lambda: len(receiver.deliveries) >= 1)
        eventually(lambda: [row[0] for row in attempts()] == ["done"])
        time.sleep(0.5)
        [delivery] = receiver.deliveries  # once: the integration.created event did not match the filter
        body = delivery["body"]
        assert body["type"] == "environment.created" and body["resourceId"] == env_id
        assert body["tenantId"] == admin.tenant_id
        assert delivery["headers"]["X-Shiplane-Event"] == "environment.created"
        assert receiver.refused == 0
        assert attempts()[0][1] >= 2  # delivered by a retry
        # The secret is in no response, audit entry or event.
        for text in (
            admin.get(f"/api/v1/integrations/{integration_id}").text,
            admin.get("/api/v1/audit-events").text,
            json.dumps(
                run_sql(database_url, "SELECT data FROM outbox_events WHERE tenant_id = :t", {"t": admin.tenant_id}),
                default=str,
            ),
            json.dumps(body),
        ):
            assert SECRET not in text
    finally:
        receiver.stop()


def test_a_deleted_integration_is_not_retried_for_ever(admin_fast: Caller, database_url: str) -> None:
    admin = admin_fast
    port = _free_port()  # nothing listens
    config = {"url": f"http://127.0.0.1:{port}/hook", "secret": SECRET}
    integration = admin.post("/api/v1/integrations", json={"name": "gone", "typeId": "webhook", "config": config})
    assert integration.status_code == 201, integration.text
    admin.post("/api/v1/environments", json={"name": "qa", "displayName": "QA", "order": 1})

    def states() -> list[str]:
        rows = run_sql(
            database_url,
            "SELECT state FROM work_items WHERE kind = 'notify' AND tenant_id = :t",
            {"t": admin.tenant_id},
        )
        return [row[0] for row in rows]

    eventually(lambda: len(states()) >= 2)  # integration.created and environment.created both match "*"
    assert admin.delete(f"/api/v1/integrations/{integration.json()['data']['id']}").status_code == 204
    eventually(lambda: set(states()) == {"done"})
