"""shiplane_sdk.client against a real ``shiplane serve`` process (no mock of the server).

One server for the module, rate limiting on: the ``standard`` tier is too large to be
reached, the ``tiny`` tier (a token claim) refills one request a second, so a 429 and
its ``Retry-After`` are real. Connection failures and stream disconnects are made by a
small TCP relay in front of the server that drops the first connection.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from shiplane.platform.jwt import mint_token
from shiplane.platform.settings import Settings
from tests.conftest import make_database, once_on_sqlite
from tests.servers import Server, free_port, production_env, start_server

from shiplane_sdk.client import (
    AsyncShiplaneClient,
    ConflictError,
    ForbiddenError,
    InvalidRequestError,
    NotFoundError,
    RateLimitedError,
    RetryPolicy,
    ShiplaneClient,
    ShiplaneConnectionError,
    UnauthorizedError,
    models,
)

pytestmark = [pytest.mark.slow, once_on_sqlite("the client library against a real server")]

SECRET = "client-tests-secret-" + "s" * 40
ENCRYPTION_KEY = "client-tests-encryption-key-" + "k" * 20
TIERS = {"standard": {"per_minute": 600000, "burst": 100000}, "tiny": {"per_minute": 60, "burst": 2}}
SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


@dataclass
class Live:
    server: Server
    tenant: str

    @property
    def url(self) -> str:
        return self.server.url

    def token(self, roles: list[str] | None = None, user: str = "client-tests", tier: str | None = None) -> str:
        return mint_token(
            Settings(auth_hs_secret=SECRET),
            user_id=user,
            tenant_id=self.tenant,
            roles=roles or ["admin"],
            tier=tier,
            lifetime_seconds=3600,
        )

    def client(self, roles: list[str] | None = None, **kwargs: Any) -> ShiplaneClient:
        return ShiplaneClient(kwargs.pop("server", self.url), token=self.token(roles), **kwargs)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("client")
    for url in make_database(tmp):
        oauth_key = tmp / "oauth-key.pem"
        oauth_key.write_bytes(
            ec.generate_private_key(ec.SECP256R1()).private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        env = production_env(
            url,
            tmp / "data",
            SECRET,
            ENCRYPTION_KEY,
            SHIPLANE_RATE_LIMIT_TIERS=json.dumps(TIERS),
            SHIPLANE_OAUTH_SIGNING_KEY_PATH=str(oauth_key),
        )
        env["SHIPLANE_RATE_LIMIT_ENABLED"] = "true"
        server = start_server(env, tmp / "server")
        try:
            yield Live(server, f"tenant-{uuid.uuid4().hex[:8]}")
        finally:
            server.stop()


# --- a TCP relay that can drop connections -------------------------------------------


@dataclass
class Relay:
    """Forwards 127.0.0.1:<port> to the server. ``drop_first``: the first connection is
    closed as soon as the request arrives (nothing answered). ``frames_then_cut``: on the
    first connection, after the WebSocket handshake, only that many server frames are
    relayed, then both sides are closed."""

    target_port: int
    port: int = 0
    drop_first: bool = False
    frames_then_cut: int | None = None
    connections: int = 0
    request_lines: list[str] = field(default_factory=list)
    _listener: socket.socket | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    listening: threading.Event = field(default_factory=threading.Event)

    def start(self, delay: float = 0.0, *, wait: bool = True) -> Relay:
        """Listen (after ``delay`` seconds); with ``wait``, return once it listens."""
        self.port = self.port or free_port()

        def serve() -> None:
            if delay:
                time.sleep(delay)
            listener = socket.socket()
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", self.port))
            listener.listen(16)
            listener.settimeout(0.2)
            self._listener = listener
            self.listening.set()
            while not self._stop.is_set():
                try:
                    client, _ = listener.accept()
                except TimeoutError:
                    continue
                except OSError:
                    return
                self.connections += 1
                threading.Thread(target=self._handle, args=(client, self.connections), daemon=True).start()

        threading.Thread(target=serve, daemon=True).start()
        if wait and not delay:
            assert self.listening.wait(5), "the relay did not start"
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._listener is not None:
            self._listener.close()

    def _handle(self, client: socket.socket, number: int) -> None:
        with client:
            first = client.recv(65536)
            self.request_lines.append(first.split(b"\r\n", 1)[0].decode(errors="replace"))
            if self.drop_first and number == 1:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=30)
            with upstream:
                upstream.sendall(first)
                cut = self.frames_then_cut if number == 1 else None
                threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()
                self._pipe_frames(upstream, client, cut)

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass

    @staticmethod
    def _pipe_frames(source: socket.socket, sink: socket.socket, cut: int | None) -> None:
        """Relay the server's bytes; with ``cut``, only the handshake and ``cut`` whole frames."""
        if cut is None:
            Relay._pipe(source, sink)
            return
        buffer = b""
        try:
            while b"\r\n\r\n" not in buffer:
                buffer += source.recv(65536)
            head, _, buffer = buffer.partition(b"\r\n\r\n")
            sink.sendall(head + b"\r\n\r\n")
            sent = 0
            while sent < cut:
                size = Relay._frame_size(buffer)
                if size is None or len(buffer) < size:
                    buffer += source.recv(65536)
                    continue
                sink.sendall(buffer[:size])
                buffer = buffer[size:]
                sent += 1
            sink.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    @staticmethod
    def _frame_size(data: bytes) -> int | None:
        if len(data) < 2:
            return None
        length = data[1] & 0x7F
        offset = 2
        if length == 126:
            if len(data) < 4:
                return None
            length, offset = int.from_bytes(data[2:4], "big"), 4
        elif length == 127:
            if len(data) < 10:
                return None
            length, offset = int.from_bytes(data[2:10], "big"), 10
        return offset + length


# --- the tests --------------------------------------------------------------------------


def test_models_match_the_live_openapi_document(live: Live) -> None:
    """The committed models are what the generator makes of the running server's document."""
    sys.path.insert(0, str(SCRIPTS))
    try:
        import generate_client_models as generator
    finally:
        sys.path.remove(str(SCRIPTS))
    try:
        installed = generator.installed_generator_version()
    except Exception:  # noqa: BLE001 - PackageNotFoundError
        pytest.fail("datamodel-code-generator is not installed: the test dependencies must include it")
    assert installed == generator.GENERATOR_VERSION, (
        f"datamodel-code-generator {installed} installed, {generator.GENERATOR_VERSION} pinned"
    )
    document = httpx.get(f"{live.url}/api/openapi.json", timeout=30).json()
    expected = generator.generate(document)
    committed = generator.TARGET.read_text()
    assert committed == expected, (
        "sdk/shiplane_sdk/client/models.py is stale: run sdk/scripts/generate_client_models.py"
    )
    # Every request body of the document has its model.
    schemas = set(document["components"]["schemas"])
    assert {"EnvironmentCreate", "PromotionCreate", "ReleaseFromLatest"} <= schemas
    assert all(hasattr(models, name) for name in schemas)


def test_resources_round_trip_with_models_versions_and_typed_errors(live: Live) -> None:
    with live.client() as client:
        created = client.environments.create(models.EnvironmentCreate(name="rt-dev", display_name="Dev", order=1))
        # Answers are the response models the server's document names, read by attribute.
        assert isinstance(created, models.EnvironmentOut)
        assert created.display_name == "Dev" and created.version == 1 and created.gates == []
        assert client.environments.get(created.id) == created
        body = {"name": "rt-dev", "displayName": "Development", "order": 1}
        replaced = client.environments.replace(created.id, body, if_match=1)
        assert replaced.version == 2
        listed = list(client.environments.list())
        assert all(isinstance(e, models.EnvironmentOut) for e in listed) and created.id in {e.id for e in listed}
        with pytest.raises(ConflictError) as conflict:
            client.environments.replace(created.id, body | {"displayName": "x"}, if_match=1)
        assert conflict.value.code == "VERSION_CONFLICT" and conflict.value.status == 409
        assert conflict.value.details["currentVersion"] == 2

        with pytest.raises(NotFoundError) as missing:
            client.environments.get("no-such-id")
        error = missing.value
        assert error.code == "NOT_FOUND" and error.status == 404 and "no-such-id" in error.message
        assert error.request_id and error.headers["x-request-id"] == error.request_id

        with pytest.raises(InvalidRequestError) as invalid:
            client.environments.create({"name": "Not A Slug", "order": "3"})
        assert invalid.value.code == "VALIDATION_ERROR"
        assert {e["field"] for e in invalid.value.validation_errors} >= {"name", "order"}

        assert client.environments.delete(created.id) is None
        with pytest.raises(NotFoundError):
            client.environments.get(created.id)

    with live.client(["viewer"]) as viewer, pytest.raises(ForbiddenError) as forbidden:
        viewer.environments.create({"name": "nope"})
    assert forbidden.value.details["permission"] == "environments:write"
    with ShiplaneClient(live.url, token="not-a-token") as anonymous, pytest.raises(UnauthorizedError) as refused:
        anonymous.environments.get("x")
    assert refused.value.code == "UNAUTHORIZED" and refused.value.request_id


def test_list_iterators_follow_cursors_and_pages(live: Live) -> None:
    seen: list[httpx.Request] = []
    http = httpx.Client(
        base_url=live.url, event_hooks={"request": [seen.append]}, headers={"Authorization": f"Bearer {live.token()}"}
    )
    with ShiplaneClient(live.url, token=live.token(), http=http) as client:
        names = [f"page-{i:02d}" for i in range(7)]
        for index, name in enumerate(names):
            client.environments.create({"name": name, "order": 100 + index})
        seen.clear()
        listed = [
            e.name
            for e in client.environments.list(sort="name", filter={"name": {"$startsWith": "page-"}}, page_size=3)
        ]
        assert listed == names
        # Three pages: the first by page, the next two by the cursor of the one before.
        assert len(seen) == 3
        assert "cursor" not in seen[0].url.params and all("cursor" in r.url.params for r in seen[1:])
        first = client.environments.page(page_size=3, sort="name", filter={"name": {"$startsWith": "page-"}})
        assert [e.name for e in first.items] == names[:3] and first.has_next and first.next_cursor
        assert first.pagination["totalItems"] == 7

        # The plugin list is built in memory: pages only, no cursor.
        seen.clear()
        plugins = list(client.plugins.list())
        seen.clear()
        one_by_one = list(client.transport.many("/api/v1/plugins", page_size=1))
        assert len(plugins) >= 3 and [p.id for p in one_by_one] == [p.id for p in plugins]
        assert [r.url.params.get("page") for r in seen[1:]] == [str(n) for n in range(2, len(plugins) + 1)]


def test_posts_carry_an_idempotency_key_and_a_replay_returns_the_same_resource(live: Live) -> None:
    seen: list[httpx.Request] = []
    http = httpx.Client(
        base_url=live.url, event_hooks={"request": [seen.append]}, headers={"Authorization": f"Bearer {live.token()}"}
    )
    with ShiplaneClient(live.url, token=live.token(), http=http) as client:
        client.environments.create({"name": "idem-auto", "order": 300})
        key = seen[-1].headers["Idempotency-Key"]
        assert uuid.UUID(key)
        first = client.request(
            "POST", "environments", body={"name": "idem-own", "order": 301}, idempotency_key="ci-run-42"
        )
        again = client.request(
            "POST", "environments", body={"name": "idem-own", "order": 301}, idempotency_key="ci-run-42"
        )
        assert again.data["id"] == first.data["id"] and again.headers.get("idempotent-replayed") == "true"
        client.environments.replace(first.data["id"], {"name": "idem-own", "order": 301})
        assert "Idempotency-Key" not in seen[-1].headers  # PUT is idempotent by nature


def test_a_429_is_retried_after_retry_after(live: Live) -> None:
    token = live.token(user="tiny-caller", tier="tiny")
    statuses: list[int] = []
    http = httpx.Client(
        base_url=live.url,
        event_hooks={"response": [lambda r: statuses.append(r.status_code)]},
        headers={"Authorization": f"Bearer {token}"},
    )
    with ShiplaneClient(live.url, token=token, http=http) as client:
        started = time.monotonic()
        for _ in range(4):
            client.environments.page(page_size=1)
        elapsed = time.monotonic() - started
        assert 429 in statuses and statuses.count(200) == 4, statuses
        assert elapsed >= 0.9  # it waited the Retry-After (whole seconds, at least 1)

    # Without retries the 429 is raised, with the server's code and Retry-After.
    with ShiplaneClient(live.url, token=token, retry=RetryPolicy(max_attempts=1)) as impatient:
        with pytest.raises(RateLimitedError) as limited:
            for _ in range(5):
                impatient.environments.page(page_size=1)
    assert limited.value.code == "RATE_LIMITED" and limited.value.retry_after is not None
    assert limited.value.retry_after >= 1 and limited.value.request_id
    # A Retry-After above the bound is not waited for.
    time.sleep(2.1)
    with ShiplaneClient(live.url, token=token, retry=RetryPolicy(max_retry_after=0.5)) as bounded:
        started = time.monotonic()
        with pytest.raises(RateLimitedError):
            for _ in range(5):
                bounded.environments.page(page_size=1)
        assert time.monotonic() - started < 0.9


def test_connection_errors_are_retried_for_idempotent_calls_only(live: Live) -> None:
    # The first connection is closed without an answer: a GET is tried again.
    relay = Relay(live.server.port, drop_first=True).start()
    try:
        with live.client(server=f"http://127.0.0.1:{relay.port}") as client:
            assert client.environments.page(page_size=1).pagination["page"] == 1
        assert relay.connections == 2
    finally:
        relay.stop()

    # A POST without an Idempotency-Key that may have reached the server is not repeated.
    relay = Relay(live.server.port, drop_first=True).start()
    try:
        with live.client(server=f"http://127.0.0.1:{relay.port}") as client:
            with pytest.raises(ShiplaneConnectionError):
                client.request("POST", "environments", body={"name": "no-key", "order": 400}, idempotency_key="")
            assert relay.connections == 1
            # With its key it is, and the server acts once.
            created = client.environments.create({"name": "with-key", "order": 401})
            assert created.name == "with-key"
    finally:
        relay.stop()

    # Nothing listens yet: the connection is refused, and succeeds once the port opens.
    port = free_port()
    relay = Relay(live.server.port, port=port).start(delay=0.4)
    try:
        with live.client(server=f"http://127.0.0.1:{port}", retry=RetryPolicy(max_attempts=8, backoff=0.1)) as client:
            assert client.environments.page(page_size=1).items is not None
        assert relay.connections == 1
    finally:
        relay.stop()


def _finished_run(client: ShiplaneClient) -> dict[str, Any]:
    """A run of four wait steps in a row, finished: its events are stored, the stream replays them."""
    names = ["one", "two", "three", "four"]
    nodes: list[dict[str, Any]] = [
        {"id": name, "type": "wait", "config": {"seconds": 0}, "dependsOn": names[:index][-1:]}
        for index, name in enumerate(names)
    ]
    template = client.workflow_templates.create({"name": f"waits-{uuid.uuid4().hex[:6]}", "nodes": nodes})
    run = client.runs.create({"templateId": template.id})
    deadline = time.monotonic() + 60
    while (run := client.runs.get(run.id)).state not in ("succeeded", "failed"):
        assert time.monotonic() < deadline, run
        time.sleep(0.1)
    return run.model_dump(by_alias=True)


def test_a_stream_resumes_from_since_after_a_disconnect(live: Live) -> None:
    with live.client() as client:
        run = _finished_run(client)
        whole = list(client.runs.stream(run["id"]))
        assert whole[-1] == {"type": "end", "state": "succeeded"}
        seqs = [m["seq"] for m in whole[:-1]]
        assert len(seqs) >= 6 and seqs == sorted(set(seqs))

    relay = Relay(live.server.port, frames_then_cut=3).start()
    try:
        with live.client(server=f"http://127.0.0.1:{relay.port}") as client:
            resumed = list(client.runs.stream(run["id"]))
        assert resumed == whole  # every event once, in order, and the end
        assert relay.connections == 2
        # The second connection asked for what follows the third event.
        assert f"since={seqs[2]}" in relay.request_lines[1], relay.request_lines
    finally:
        relay.stop()

    # A stream that cannot be opened raises the server's refusal.
    with live.client(["viewer"]) as viewer, pytest.raises(NotFoundError):
        list(viewer.runs.stream("no-such-run"))


def test_the_async_client(live: Live) -> None:
    async def main() -> None:
        async with AsyncShiplaneClient(live.url, token=live.token()) as client:
            env = await client.environments.create({"name": "async-env", "order": 500})
            assert isinstance(env, models.EnvironmentOut)
            assert (await client.environments.get(env.id)).name == "async-env"
            names = [e.name async for e in client.environments.list(page_size=2)]
            assert "async-env" in names and len(names) == len(set(names))
            try:
                await client.releases.get("missing")
            except NotFoundError as exc:
                assert exc.request_id
            else:
                raise AssertionError("no error")
            with live.client() as sync_client:
                run = await asyncio.to_thread(_finished_run, sync_client)
            events = [m async for m in client.runs.stream(run["id"], since=2)]
            assert events[0]["seq"] == 3 and events[-1]["type"] == "end"

    asyncio.run(main())


def test_a_service_account_authenticates_with_its_client_credentials(live: Live) -> None:
    with live.client() as admin:
        created = admin.service_accounts.create({"name": "ci-pipeline", "roles": ["release-manager"]})
    client_id, secret = created.client_id, created.client_secret
    seen: list[httpx.Request] = []
    with ShiplaneClient(live.url, client_id=client_id, client_secret=secret) as machine:
        machine.transport.http.event_hooks["request"].append(seen.append)
        first = machine.environments.page(page_size=1)
        machine.environments.page(page_size=1)
        assert first.pagination["page"] == 1
        # One token for both calls; the secret went to /oauth/token only.
        assert [r.url.path for r in seen] == ["/oauth/token", "/api/v1/environments", "/api/v1/environments"]
        assert all(r.headers["Authorization"].startswith("Bearer ") for r in seen[1:])
        with pytest.raises(ForbiddenError):
            machine.environments.create({"name": "not-allowed"})
    with ShiplaneClient(live.url, client_id=client_id, client_secret="wrong") as wrong:
        with pytest.raises(UnauthorizedError) as refused:
            wrong.environments.page(page_size=1)
        assert refused.value.code == "INVALID_CLIENT"
