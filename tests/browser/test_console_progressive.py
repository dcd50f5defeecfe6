"""The console's progressive-delivery page in a real headless Chromium against a real
``shiplane serve``: a canary through the test plugins' file-backed traffic router,
analysed by an HTTP probe of a small local service. Started, measured (the chart fills
in by itself), advanced and promoted from the page."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import expect

from tests.api.releases import Repo
from tests.browser import ONCE_ON_SQLITE, artifacts_dir, chromium
from tests.conftest import make_database
from tests.servers import Server, clean_env, start_server

pytestmark = [pytest.mark.slow, ONCE_ON_SQLITE]

TIMEOUT = 30_000


class Healthy(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def probed() -> Iterator[str]:
    service = ThreadingHTTPServer(("127.0.0.1", 0), Healthy)
    threading.Thread(target=service.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{service.server_address[1]}/healthz"
    finally:
        service.shutdown()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("console-ab")
    for url in make_database(tmp):
        env = clean_env(
            SHIPLANE_MODE="development",
            SHIPLANE_DATABASE_URL=url,
            SHIPLANE_DATA_DIR=str(tmp / "data"),
            SHIPLANE_RATE_LIMIT_ENABLED="false",
            SHIPLANE_LOG_LEVEL="WARNING",
            SHIPLANE_AB_SWEEP_SECONDS="0.2",
            SHIPLANE_PLUGIN_HEALTH_PROBE_SECONDS="0",
            # the test plugins (their file-backed traffic router), as the root conftest installed them
            PYTHONPATH=os.environ["SHIPLANE_TEST_PLUGIN_SITE"],
        )
        running = start_server(env, tmp / "server")
        try:
            yield running
        finally:
            running.stop()


def test_a_canary_is_started_measured_advanced_and_promoted_from_the_page(
    server: Server, probed: str, tmp_path: Path
) -> None:
    token = next(line for line in server.output().splitlines() if line.startswith("export SHIPLANE_TOKEN="))
    token = token.split("=", 1)[1]

    def api(method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        response = httpx.request(
            method, f"{server.url}/api/v1{path}", headers={"Authorization": f"Bearer {token}"}, timeout=60, **kwargs
        )
        assert response.status_code == status, response.text
        return response.json()["data"] if response.content else None

    api("POST", "/plugins/test-events/enable")
    env = api("POST", "/environments", 201, json={"name": "prod", "order": 1})
    repo = Repo(tmp_path / "repo")
    integration = api(
        "POST", "/integrations", 201, json={"name": "repo", "typeId": "git", "config": {"url": str(repo.path)}}
    )
    component = api(
        "POST", "/components", 201, json={"name": "web", "integrationId": integration["id"], "reference": "."}
    )
    releases = []
    for tag in ("v1.0.0", "v2.0.0"):
        repo.commit()
        repo.tag(tag)
        api("POST", f"/components/{component['id']}/sync-versions")
        releases.append(
            api("POST", "/releases/from-latest", 201, json={"componentIds": [component["id"]], "name": f"web-{tag}"})
        )
    router = api(
        "POST",
        "/plugin-instances",
        201,
        json={
            "name": "edge",
            "pluginId": "test-events",
            "capabilityKind": "traffic_router",
            "capabilityId": "test-file-router",
            "config": {"stateFile": str(tmp_path / "weights.json")},
        },
    )
    ab = api(
        "POST",
        "/ab-releases",
        201,
        json={
            "name": "web-canary",
            "environmentId": env["id"],
            "controlReleaseId": releases[0]["id"],
            "candidateReleaseId": releases[1]["id"],
            "strategy": "canary",
            "strategyConfig": {
                "steps": [{"weight": 10, "manual": True}, {"weight": 50, "manual": True}, {"weight": 100}]
            },
            "routerInstanceId": router["id"],
            "analysis": {"intervalSeconds": 1, "probes": [{"name": "healthz", "url": probed}]},
        },
    )

    requests: list[str] = []
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
        context.set_default_timeout(TIMEOUT)
        try:
            page = context.new_page()
            page.on("request", lambda request: requests.append(request.url))
            page.goto(f"{server.url}/")
            page.get_by_label("Token").fill(token)
            page.get_by_role("button", name="Sign in").click()
            expect(page.get_by_role("heading", name="Pipeline")).to_be_visible(timeout=TIMEOUT)
            page.get_by_role("link", name="Progressive").click()
            page.get_by_role("link", name="web-canary").click()
            expect(page.locator("#ab-state")).to_have_text("draft", timeout=TIMEOUT)
            page.get_by_role("button", name="Start").click()
            expect(page.locator("#ab-state")).to_have_text("running", timeout=TIMEOUT)
            expect(page.locator("#ab-weights")).to_have_text("control 90% · candidate 10%", timeout=TIMEOUT)
            # The driver probes every second; the page redraws the chart by itself.
            chart = page.locator("svg.chart")
            expect(chart.locator("circle.v-pass").nth(2)).to_be_attached(timeout=TIMEOUT)
            expect(page.locator("main")).to_contain_text("healthz")
            page.screenshot(path=str(artifacts_dir("console") / "progressive.png"), full_page=True)
            page.get_by_role("button", name="Advance").click()
            expect(page.locator("#ab-weights")).to_have_text("control 50% · candidate 50%", timeout=TIMEOUT)
            page.get_by_role("button", name="Promote").click()
            expect(page.locator("#ab-state")).to_have_text("promoted", timeout=TIMEOUT)
        finally:
            context.close()
    assert api("GET", f"/ab-releases/{ab['id']}")["state"] == "promoted"
    assert api("GET", f"/environments/{env['id']}")["currentReleaseId"] == releases[1]["id"]
    here = f"127.0.0.1:{server.port}"
    assert requests and all(urlsplit(url).netloc == here for url in requests), requests
