"""The web console in a real headless Chromium against a real ``shiplane serve``
(development mode: the printed token, the in-process local agent deploying to ``local``
targets in temporary directories).

The tests run in order and share one server, one browser and the state they build
(module scope): sign in, environments, a release from latest, promotions through dev to
prod (a freeze window, two approvals, the requester's own refused), the deployment
watched live, drift, a rollback, evidence, a plugin; then a viewer and another tenant.
Every request any page made is checked to go to the server's own host and port.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from shiplane.evidence.dsse import public_keys, verify_envelope
from shiplane.platform.jwt import mint_token
from shiplane.platform.settings import Settings

from tests.api.releases import Repo
from tests.browser import ONCE_ON_SQLITE, artifacts_dir, chromium
from tests.conftest import make_database
from tests.servers import Server, clean_env, start_server

pytestmark = [pytest.mark.slow, ONCE_ON_SQLITE]

TIMEOUT = 30_000  # ms, for what waits on the server's background work
WAIT = 60_000  # ms, for what waits on the promotion sweep or a deployment
expect.set_options(timeout=TIMEOUT)


class Console:
    """What the tests share: the server, its tokens, the browser, what was made."""

    def __init__(self, server: Server, secret: str, tmp: Path, browser: Browser) -> None:
        self.server = server
        self.secret = secret
        self.tmp = tmp
        self.browser = browser
        match = re.search(r"^export SHIPLANE_TOKEN=(\S+)$", server.output(), re.MULTILINE)
        assert match, server.output()[-2000:]
        self.dev_token = match.group(1)
        self.requests: list[str] = []
        self.contexts: list[BrowserContext] = []
        self.made: dict[str, Any] = {}

    @property
    def origin(self) -> str:
        return self.server.url

    def token(self, user: str, roles: list[str], tenant: str = "demo") -> str:
        settings = Settings(auth_hs_secret=self.secret)
        return mint_token(settings, user_id=user, tenant_id=tenant, roles=roles, lifetime_seconds=3600)

    def api(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.dev_token}"}
        response = httpx.request(method, f"{self.origin}/api/v1{path}", headers=headers, timeout=60, **kwargs)
        assert response.status_code == status, response.text
        return response.json()["data"] if response.content else None

    def page(self) -> Page:
        """A new tab in a fresh context (its own sessionStorage), every request recorded."""
        context = self.browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
        context.set_default_timeout(TIMEOUT)
        self.contexts.append(context)
        page = context.new_page()
        page.on("request", lambda request: self.requests.append(request.url))
        page.on("websocket", lambda socket: self.requests.append(socket.url))
        return page

    def sign_in(self, page: Page, token: str) -> None:
        page.goto(f"{self.origin}/")
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        page.get_by_label("Token").fill(token)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Pipeline")).to_be_visible()

    def sign_out(self, page: Page) -> None:
        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()

    def go(self, page: Page, route: str) -> None:
        """Open a console page (reloaded when it is already the one shown)."""
        target = f"{self.origin}/#{route}"
        if page.url == target:
            page.reload()
        else:
            page.goto(target)

    def shot(self, page: Page, name: str) -> None:
        page.screenshot(path=str(artifacts_dir("console") / f"{name}.png"), full_page=True)


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    tmp = tmp_path_factory.mktemp("console")
    for url in make_database(tmp):
        env = clean_env(
            SHIPLANE_MODE="development",
            SHIPLANE_DATABASE_URL=url,
            SHIPLANE_DATA_DIR=str(tmp / "data"),
            SHIPLANE_RATE_LIMIT_ENABLED="false",
            SHIPLANE_LOG_LEVEL="WARNING",
            SHIPLANE_PROMOTION_SWEEP_SECONDS="0.5",
            SHIPLANE_PLUGIN_HEALTH_PROBE_SECONDS="0",
        )
        server = start_server(env, tmp / "server")
        try:
            secret = (tmp / "data" / "dev-jwt-secret").read_text().strip()
            with chromium() as browser:
                shared = Console(server, secret, tmp, browser)  # type: ignore[arg-type]
                try:
                    yield shared
                finally:
                    for context in shared.contexts:
                        context.close()
        finally:
            server.stop()


@pytest.fixture(scope="module")
def admin(console: Console) -> Page:
    page = console.page()
    console.sign_in(page, console.dev_token)
    return page


def test_the_console_is_served_with_a_strict_policy_and_the_api_is_unchanged(console: Console) -> None:
    response = httpx.get(f"{console.origin}/", timeout=10)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy
    assert f"connect-src 'self' ws://127.0.0.1:{console.server.port}" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    # A Host header that is not a plain host[:port] adds nothing to the policy.
    forged = httpx.get(f"{console.origin}/", headers={"Host": "a.example; script-src *"}, timeout=10)
    assert "script-src *" not in forged.headers["content-security-policy"]
    assert "connect-src 'self';" in forged.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-cache"
    assert "<script>" not in response.text and 'type="module" src="/console/app.js"' in response.text
    for asset in ("app.js", "api.js", "style.css"):
        assert httpx.get(f"{console.origin}/console/{asset}", timeout=10).status_code == 200
    paths = httpx.get(f"{console.origin}/api/openapi.json", timeout=10).json()["paths"]
    assert "/" not in paths and not any(p.startswith("/console") for p in paths)


def test_sign_in_shows_the_tenant_and_roles_and_a_bad_token_is_refused(console: Console, admin: Page) -> None:
    expect(admin.locator("#who-text")).to_contain_text("tenant demo")
    expect(admin.locator("#who-text")).to_contain_text("roles admin")
    stranger = console.page()
    stranger.goto(f"{console.origin}/")
    stranger.get_by_label("Token").fill("not-a-token")
    stranger.get_by_role("button", name="Sign in").click()
    expect(stranger.get_by_role("alert")).to_contain_text("not a JWT")
    forged = console.token("mallory", ["admin"]) + "x"
    stranger.get_by_label("Token").fill(forged)
    stranger.get_by_role("button", name="Sign in").click()
    expect(stranger.get_by_role("alert")).to_contain_text("UNAUTHORIZED")
    expect(stranger.get_by_role("alert")).to_contain_text("request id")
    console.shot(stranger, "sign-in")


def test_environments_are_created_and_shown_in_order(console: Console, admin: Page) -> None:
    console.made["policy"] = console.api(
        "POST", "/approval-policies", 201, json={"name": "prod-two", "requiredApprovals": 2}
    )
    for name, order, production in (("dev", "1", False), ("prod", "2", True)):
        console.go(admin, "/pipeline")
        admin.get_by_text("New environment…").click()
        form = admin.locator("#new-environment")
        form.get_by_label("Name", exact=True).fill(name)
        form.get_by_label("Display name").fill(name.capitalize())
        form.get_by_label("Order", exact=True).fill(order)
        if production:
            form.get_by_label("Production", exact=True).check()
            form.get_by_label("pipeline-order").check()
            form.get_by_label("freeze-window").check()
            form.get_by_label("Approval policy").select_option(label="prod-two (2 approvals)")
        form.get_by_role("button", name="Create environment").click()
        expect(admin.locator(f'article.env[data-env="{name}"]')).to_be_visible()
    expect(admin.locator("article.env h2")).to_have_text([re.compile("^Dev"), re.compile("^Prod")])
    environments = {e["name"]: e for e in console.api("GET", "/environments")}
    assert environments["prod"]["approvalPolicyId"] == console.made["policy"]["id"]
    assert [g["type"] for g in environments["prod"]["gates"]] == ["pipeline-order", "freeze-window"]
    console.made["env"] = environments
    for env_name, pause in (("dev", 1), ("prod", 8)):
        config = {
            "directory": str(console.tmp / f"{env_name}-1"),
            # prod's deployment takes long enough to be watched while it runs
            "deployCommand": ["sh", "-c", f"echo deploying {{components.api.version}}; sleep {pause}; echo done"],
        }
        console.api(
            "POST",
            "/targets",
            201,
            json={
                "name": f"{env_name}-1",
                "environmentId": environments[env_name]["id"],
                "type": "local",
                "config": config,
            },
        )


def test_a_release_is_created_from_latest_and_shows_its_digests(console: Console, admin: Page) -> None:
    repo = Repo(console.tmp / "repo")
    commits = {}
    repo.commit()
    commits["v1.0.0"] = repo.tag("v1.0.0")
    integration = console.api(
        "POST", "/integrations", 201, json={"name": "repo", "typeId": "git", "config": {"url": str(repo.path)}}
    )
    component = console.api(
        "POST", "/components", 201, json={"name": "api", "integrationId": integration["id"], "reference": "."}
    )
    console.made["component"] = component
    releases = {}
    for tag in ("v1.0.0", "v1.1.0"):
        if tag == "v1.1.0":
            repo.commit()
            commits[tag] = repo.tag(tag)
        console.api("POST", f"/components/{component['id']}/sync-versions")
        console.go(admin, "/releases")
        form = admin.locator("#from-latest")
        form.get_by_label("api").check()
        form.get_by_label("Release name (optional)").fill(f"shop-{tag}")
        form.get_by_role("button", name="Create from latest").click()
        expect(admin.get_by_role("heading", name=f"Release shop-{tag}")).to_be_visible()
        expect(admin.locator("td", has_text=tag)).to_be_visible()
        expect(admin.locator("code.digest")).to_have_text(f"git:{commits[tag]}")
        releases[tag] = admin.url.rsplit("/", 1)[1]
    console.made["releases"] = releases
    console.shot(admin, "release")
    # Compare the two side by side.
    console.go(admin, "/releases")
    admin.get_by_label("compare shop-v1.0.0").check()
    admin.get_by_label("compare shop-v1.1.0").check()
    admin.get_by_role("button", name="Compare selected").click()
    expect(admin.get_by_role("heading", name="Compare releases")).to_be_visible()
    expect(admin.locator("main")).to_contain_text("version digest")
    # Filters are the API's.
    console.go(admin, "/releases?name=v1.1")
    expect(admin.locator("tbody tr")).to_have_count(1)
    console.shot(admin, "releases")


def promote_with_preview(console: Console, page: Page, release: str, env_label: str) -> None:
    page.get_by_label("Environment").select_option(label=env_label)
    page.get_by_role("button", name="Preview gates").click()
    expect(page.locator("#preview")).to_contain_text("Outcome now")
    page.get_by_role("button", name="Request promotion").click()


def test_promote_through_dev_with_the_gate_preview_first(console: Console, admin: Page) -> None:
    releases = console.made["releases"]
    for tag in ("v1.0.0", "v1.1.0"):
        console.go(admin, f"/releases/{releases[tag]}")
        admin.get_by_role("link", name="Promote…").click()
        expect(admin.get_by_role("heading", name="Promote a release")).to_be_visible()
        promote_with_preview(console, admin, releases[tag], "Dev")
        expect(admin.get_by_role("heading", name=re.compile("^Promotion"))).to_be_visible()
        expect(admin.locator("#promotion-state")).to_have_text("succeeded", timeout=WAIT)
    dev = console.api("GET", f"/environments/{console.made['env']['dev']['id']}")
    assert dev["currentReleaseId"] == releases["v1.1.0"]


def test_prod_through_a_freeze_window_and_two_approvals_with_the_requester_refused(
    console: Console, admin: Page
) -> None:
    releases = console.made["releases"]
    console.go(admin, "/pipeline")
    prod = admin.locator('article.env[data-env="prod"]')
    prod.get_by_text("Freeze window…").click()
    now = datetime.now(UTC)
    prod.get_by_label("Reason").fill("launch day")
    prod.get_by_label("Starts at (ISO 8601)").fill((now - timedelta(minutes=1)).isoformat())
    prod.get_by_label("Ends at (ISO 8601)").fill((now + timedelta(seconds=12)).isoformat())
    prod.get_by_role("button", name="Add freeze window").click()
    prod = admin.locator('article.env[data-env="prod"]')
    expect(prod.locator(".frozen")).to_contain_text("launch day")
    console.shot(admin, "pipeline")
    admin.locator('article.env[data-env="dev"]').get_by_role("link", name="Promote to Prod").click()
    expect(admin.get_by_label("Release")).to_have_value(releases["v1.1.0"])
    admin.get_by_role("button", name="Preview gates").click()
    expect(admin.locator("#preview")).to_contain_text("freeze-window")
    console.shot(admin, "promote-preview")
    admin.get_by_role("button", name="Request promotion").click()
    alert = admin.locator("#messages .error")
    expect(alert).to_contain_text("PROMOTION_BLOCKED")
    expect(alert).to_contain_text("request id")
    expect(alert).to_contain_text("freeze-window")
    alert.get_by_role("link", name="Open the promotion").click()
    promotion_id = admin.url.rsplit("/", 1)[1]
    console.made["prod_promotion"] = promotion_id
    # The sweep moves it on by itself when the window ends; the page follows the stream.
    expect(admin.locator("#promotion-state")).to_have_text("awaiting_approval", timeout=WAIT)
    # The requester's own approval: the API refuses it, and says why.
    admin.get_by_label("Comment").fill("looks good to me")
    admin.get_by_role("button", name="Approve").click()
    refusal = admin.locator("#messages .error")
    expect(refusal).to_contain_text("SELF_APPROVAL_FORBIDDEN")
    expect(refusal).to_contain_text("request id")
    console.shot(admin, "promotion-refused")
    # Two approvers, each from their inbox.
    approver = console.page()
    for index in (1, 2):
        console.sign_in(approver, console.token(f"approver-{index}", ["approver"]))
        console.go(approver, "/inbox")
        expect(approver.get_by_role("heading", name="Pending approvals")).to_be_visible()
        approver.get_by_role("link", name="shop-v1.1.0 → Prod").click()
        expect(approver.locator("#promotion-state")).to_have_text("awaiting_approval")
        approver.get_by_label("Comment").fill(f"checked by approver {index}")
        if index == 1:
            console.shot(approver, "promotion-decision")
        approver.get_by_role("button", name="Approve").click()
        expect(approver.locator("main")).to_contain_text(f"checked by approver {index}")
        console.sign_out(approver)
    expect(admin.locator("#promotion-state")).to_have_text(re.compile("deploying|succeeded"), timeout=WAIT)


def test_the_deployment_is_watched_live_to_its_end(console: Console, admin: Page) -> None:
    promotion_id = console.made["prod_promotion"]
    frames: list[tuple[float, str]] = []

    def watch(socket: Any) -> None:
        if "/deployment-jobs/" in socket.url:
            opened = time.monotonic()
            socket.on("framereceived", lambda payload: frames.append((time.monotonic() - opened, str(payload))))

    admin.on("websocket", watch)
    try:
        console.go(admin, f"/promotions/{promotion_id}")
        admin.get_by_role("link", name=re.compile("^deploy ")).click()
        expect(admin.get_by_role("heading", name=re.compile("Deployment job"))).to_be_visible()
        # Log lines arrive only over the WebSocket stream; the end message sets the state.
        expect(admin.locator("#log")).to_contain_text("prod-1: deploying v1.1.0", timeout=WAIT)
        expect(admin.locator("#stream-status")).to_have_text("finished: succeeded", timeout=WAIT)
    finally:
        admin.remove_listener("websocket", watch)
    # Live, not only replayed: the last lines came a while after the stream opened.
    done = [at for at, payload in frames if '"line": "done"' in payload]
    assert done and done[0] > 1.0, frames
    expect(admin.locator("#job-state")).to_have_text("succeeded")
    expect(admin.locator("#tasks")).to_contain_text("prod-1")
    console.shot(admin, "deployment-job")
    # Its workflow run: the steps with their states, over the run's own stream.
    admin.get_by_role("link", name=re.compile("^[0-9a-f]{8}-")).last.click()
    expect(admin.get_by_role("heading", name=re.compile("^Workflow run"))).to_be_visible()
    expect(admin.locator("#stream-status")).to_have_text("finished: succeeded")
    expect(admin.locator("#steps")).to_contain_text("deploy")
    expect(admin.locator("#steps")).to_contain_text("succeeded")
    console.shot(admin, "workflow-run")
    console.go(admin, f"/promotions/{promotion_id}")
    expect(admin.locator("#promotion-state")).to_have_text("succeeded", timeout=WAIT)
    expect(admin.locator("main")).to_contain_text("deployment-outcome")


def test_drift_is_shown_after_a_hand_edit_and_a_check(console: Console, admin: Page) -> None:
    (console.tmp / "prod-1" / "api.version").write_text("v0.0.1-hotfix sha256:handmade\n")
    console.go(admin, "/inventory")
    admin.get_by_role("button", name="check prod-1 now").click()
    cell = admin.locator('.drift-cell[data-target="prod-1"]')
    expect(cell).to_contain_text("drifted")
    expect(cell).to_contain_text("expected v1.1.0, found v0.0.1-hotfix")
    expect(admin.locator("main")).to_contain_text("local")  # the agent
    console.shot(admin, "inventory")
    console.go(admin, "/pipeline")
    expect(admin.locator('article.env[data-env="prod"] .drift')).to_contain_text("prod-1")


def test_a_rollback_with_a_reason_brings_the_earlier_release_back(console: Console, admin: Page) -> None:
    dev_id = console.made["env"]["dev"]["id"]
    releases = console.made["releases"]
    [job] = console.api(
        "GET",
        "/deployment-jobs",
        params={"filter": json.dumps({"environmentId": dev_id, "releaseId": releases["v1.1.0"]})},
    )
    console.go(admin, f"/jobs/{job['id']}")
    expect(admin.locator("#stream-status")).to_have_text("finished: succeeded")
    admin.get_by_label("Rollback reason").fill("errors up")
    admin.get_by_role("button", name="Roll back").click()
    expect(admin.get_by_role("heading", name="Deployment job (rollback)")).to_be_visible()
    expect(admin.locator("main")).to_contain_text("errors up")
    rollback_id = admin.url.rsplit("/", 1)[1]
    try:
        expect(admin.locator("#stream-status")).to_have_text("finished: succeeded", timeout=WAIT)
    except AssertionError as exc:
        shown = console.api("GET", f"/deployment-jobs/{rollback_id}")
        tasks = console.api("GET", f"/deployment-jobs/{rollback_id}/tasks")
        raise AssertionError(f"{exc}\njob: {shown}\ntasks: {tasks}\n{console.server.output()[-3000:]}") from None
    assert console.api("GET", f"/environments/{dev_id}")["currentReleaseId"] == releases["v1.0.0"]


def test_evidence_is_verified_in_the_browser_and_downloaded(console: Console, admin: Page, tmp_path: Path) -> None:
    console.go(admin, f"/evidence?kind=promotion-decision&promotionId={console.made['prod_promotion']}")
    rows = admin.locator("tbody tr")
    expect(rows.first).to_be_visible()
    rows.first.get_by_role("button", name="Verify").click()
    expect(rows.first.locator(".verification")).to_contain_text("verified")
    console.shot(admin, "evidence")
    with admin.expect_download() as download:
        rows.first.get_by_role("button", name="Download").click()
    saved = tmp_path / "packet.json"
    download.value.save_as(saved)
    envelope = json.loads(saved.read_text())
    verified = verify_envelope(envelope, public_keys(console.api("GET", "/signing-keys")))
    assert verified.statement["predicateType"]


def test_an_audit_report_is_requested_and_the_trail_filtered(console: Console, admin: Page) -> None:
    console.go(admin, "/audit?action=promotion.approve")
    expect(admin.locator("main")).to_contain_text("approver-1")
    expect(admin.locator("main")).not_to_contain_text("environment.create")
    admin.get_by_role("button", name="Request report").click()
    expect(admin.locator("main")).to_contain_text(re.compile("pending|ready"))
    console.shot(admin, "audit")


def test_an_admin_enables_a_plugin(console: Console, admin: Page) -> None:
    console.go(admin, "/plugins")
    state = admin.locator('.plugin-state[data-plugin="prometheus"]')
    expect(state).to_have_text("disabled")
    admin.get_by_role("button", name="Enable prometheus").click()
    expect(admin.locator('.plugin-state[data-plugin="prometheus"]')).to_have_text("enabled")
    plugins = {p["id"]: p for p in console.api("GET", "/plugins")}
    assert plugins["prometheus"]["state"] == "enabled"
    # An instance of it, its secret field write-only: sent once, shown masked.
    secret = f"token-{uuid.uuid4().hex}"
    form = admin.locator("#instance-form")
    form.get_by_label("Capability").select_option(label="prometheus: integration_type prometheus")
    form.get_by_label("Name", exact=True).fill("metrics")
    form.get_by_label("Config (JSON)").fill('{"url": "http://127.0.0.1:9090"}')
    form.get_by_label("Secret field name").fill("bearerToken")
    form.get_by_label("Secret value").fill(secret)
    form.get_by_role("button", name="Create instance").click()
    row = admin.locator("tr", has_text="metrics")
    expect(row).to_contain_text('"bearerToken": "***"')
    expect(admin.locator("#instance-form").get_by_label("Secret value")).to_have_value("")
    assert secret not in admin.content()
    console.shot(admin, "plugins")


READ_ONLY_BUTTONS = {"Sign out", "Filter", "Compare selected", "Verify", "Download", "Dismiss"}


def test_a_viewer_sees_no_action_they_cannot_take(console: Console) -> None:
    viewer = console.page()
    console.sign_in(viewer, console.token("vera", ["viewer"]))
    expect(viewer.locator("#who-text")).to_contain_text("roles viewer")
    releases = console.made["releases"]
    [job] = console.api(
        "GET", "/deployment-jobs", params={"filter": json.dumps({"promotionId": console.made["prod_promotion"]})}
    )
    pages = [
        ("/pipeline", "Pipeline"),
        (f"/releases/{releases['v1.1.0']}", re.compile("^Release shop-v1.1.0")),
        ("/releases", "Releases"),
        (f"/promotions/{console.made['prod_promotion']}", re.compile("^Promotion")),
        (f"/jobs/{job['id']}", re.compile("Deployment job")),
        ("/inventory", "Inventory"),
        ("/evidence", "Evidence"),
        ("/audit", "Audit"),
        ("/plugins", "Plugins"),
    ]
    for route, heading in pages:
        console.go(viewer, route)
        expect(viewer.get_by_role("heading", name=heading, exact=isinstance(heading, str))).to_be_visible()
        expect(viewer.locator("main p.loading")).to_have_count(0)
        names = [b.inner_text().strip() for b in viewer.locator("main button, main a.button").all()]
        actions = [n for n in names if n not in READ_ONLY_BUTTONS and not n.startswith("Download ")]
        assert not actions, (route, names)
        assert viewer.locator("main form#new-environment, main form#from-latest, main form#rollback").count() == 0
    console.shot(viewer, "viewer-plugins")


def test_another_tenants_ids_show_not_found(console: Console) -> None:
    other = console.page()
    console.sign_in(other, console.token("olga", ["admin"], tenant=f"other-{uuid.uuid4().hex[:8]}"))
    for route in (
        f"/promotions/{console.made['prod_promotion']}",
        f"/releases/{console.made['releases']['v1.1.0']}",
    ):
        console.go(other, route)
        expect(other.get_by_role("heading", name="Not found")).to_be_visible()
        expect(other.locator("main .error")).to_contain_text("NOT_FOUND")
        expect(other.locator("main .error")).to_contain_text("request id")
    console.shot(other, "not-found")


def test_a_narrow_screen_stacks_the_pipeline(console: Console, admin: Page) -> None:
    admin.set_viewport_size({"width": 390, "height": 844})
    try:
        console.go(admin, "/pipeline")
        columns = admin.locator("article.env")
        expect(columns).to_have_count(2)
        first, second = columns.nth(0).bounding_box(), columns.nth(1).bounding_box()
        assert first and second and second["y"] > first["y"] and second["x"] == first["x"]
        console.shot(admin, "pipeline-narrow")
    finally:
        admin.set_viewport_size({"width": 1280, "height": 900})


def test_keyboard_reaches_the_navigation_with_a_visible_focus(console: Console, admin: Page) -> None:
    console.go(admin, "/pipeline")
    expect(admin.get_by_role("heading", name="Pipeline")).to_be_visible()
    admin.locator("body").press("Tab")
    expect(admin.locator(":focus")).to_have_text("Skip to content")
    admin.keyboard.press("Tab")
    admin.keyboard.press("Tab")
    admin.keyboard.press("Tab")
    expect(admin.locator(":focus")).to_have_text("Releases")
    admin.keyboard.press("Enter")
    expect(admin.get_by_role("heading", name="Releases")).to_be_visible()


def test_every_request_went_to_the_server_itself(console: Console) -> None:
    assert len(console.requests) > 50
    here = f"127.0.0.1:{console.server.port}"
    elsewhere = [url for url in console.requests if urlsplit(url).netloc != here]
    assert not elsewhere, elsewhere
    assert {urlsplit(url).scheme for url in console.requests} <= {"http", "ws"}
    assert any(url.startswith(f"ws://{here}/api/v1/deployment-jobs/") for url in console.requests)
