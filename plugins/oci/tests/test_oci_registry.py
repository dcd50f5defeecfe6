"""The ``oci-registry`` integration type against Debian's docker-registry (Distribution 2.8)
on loopback ports: anonymous, htpasswd basic auth over TLS, and bearer tokens from a local
token server (tests/oci_registry.py). A small in-process fake covers what Distribution
never does (tag pages, a missing digest header, a refused HEAD, error statuses, a link to
another host)."""

from __future__ import annotations

import asyncio
import base64
import inspect
import json
import os
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import shiplane_plugin_oci.plugin
from shiplane_plugin_oci import client, integration
from shiplane_plugin_oci.integration import OciRegistry
from shiplane_sdk import ConnectionTestResult, PluginError, VersionInfo
from shiplane_sdk.testing import IntegrationTypeContract, PluginContract

from tests.oci_registry import (
    OCI_INDEX,
    OCI_MANIFEST,
    Registry,
    issue,
    make_ca,
    sha256_digest,
    start_registry,
    unavailable_reason,
)
from tests.servers import free_port

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
PASSWORD = "s3cret-Pa55word-do-not-show"
TOKEN_PASSWORD = "t0ken-Pa55word-do-not-show"
WRONG = "wr0ng-Pa55word-do-not-show"


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def require_registry() -> None:
    reason = unavailable_reason()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"the oci tests need a registry in CI: {reason}")
        pytest.skip(reason)


@dataclass
class Pushed:
    registry: Registry
    digests: dict[str, str] = field(default_factory=dict)  # "repo:tag" -> manifest digest

    def config(self, **extra: Any) -> dict[str, Any]:
        return self.registry.config(**extra)


@pytest.fixture(scope="module")
def anonymous(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pushed]:
    require_registry()
    registry = start_registry(tmp_path_factory.mktemp("registry-anonymous"))
    try:
        pushed = Pushed(registry)
        pushed.digests["team/api:1.0.0"] = registry.push_image("team/api", "1.0.0")
        pushed.digests["team/api:1.1.0"] = registry.push_image("team/api", "1.1.0", media_type="docker")
        pushed.digests["team/api:latest"] = registry.push_image("team/api", "latest", content="team/api:1.1.0")
        pushed.digests["team/multi:v1"] = registry.push_index("team/multi", "v1")
        for n in range(5):
            pushed.digests[f"other/r{n}:1"] = registry.push_image(f"other/r{n}", "1")
        yield pushed
    finally:
        registry.stop()


@pytest.fixture(scope="module")
def basic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pushed]:
    require_registry()
    registry = start_registry(
        tmp_path_factory.mktemp("registry-basic"), auth="htpasswd", users={"alice": PASSWORD}, tls=True
    )
    try:
        pushed = Pushed(registry)
        pushed.digests["private/app:2.0"] = registry.push_image("private/app", "2.0")
        yield pushed
    finally:
        registry.stop()


@pytest.fixture(scope="module")
def token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pushed]:
    require_registry()
    registry = start_registry(tmp_path_factory.mktemp("registry-token"), auth="token", users={"bob": TOKEN_PASSWORD})
    try:
        pushed = Pushed(registry)
        pushed.digests["secure/svc:3.0"] = registry.push_image("secure/svc", "3.0")
        pushed.digests["secure/svc:3.1"] = registry.push_image("secure/svc", "3.1")
        pushed.digests["secure/multi:m"] = registry.push_index("secure/multi", "m")
        yield pushed
    finally:
        registry.stop()


def by_tag(versions: list[VersionInfo]) -> dict[str, VersionInfo]:
    assert all(isinstance(v, VersionInfo) for v in versions)
    return {v.tag: v for v in versions}


def assert_no_secret(*texts: Any) -> None:
    for text in texts:
        dumped = text if isinstance(text, str) else json.dumps(text, default=str)
        for secret in (PASSWORD, TOKEN_PASSWORD, WRONG, "eyJ"):  # "eyJ": any JWT
            assert secret not in dumped, f"a secret leaked into {dumped!r}"


# ---------------------------------------------------------------------------
# Contracts
# ---------------------------------------------------------------------------


@pytest.fixture
def contract_registry(anonymous: Pushed) -> Iterator[Pushed]:
    TestOciRegistryContract.pushed = anonymous
    yield anonymous


@pytest.mark.usefixtures("contract_registry")
class TestOciRegistryContract(IntegrationTypeContract):
    pushed: Pushed | None = None
    valid_configs = [
        {"url": "https://registry-1.docker.io"},
        {"url": "http://127.0.0.1:5000/", "timeoutSeconds": 3, "pageSize": 50, "maxTags": 200},
        {"url": "https://ghcr.io", "username": "ci", "password": "p", "insecureSkipVerify": False},
        {"url": "https://[::1]:5443", "caCertificate": "-----BEGIN CERTIFICATE-----\n..."},
    ]
    invalid_configs = [
        {},
        {"url": "ftp://registry.example"},
        {"url": "https://user:pw@registry.example"},
        {"url": "https://registry.example/v2/team"},
        {"url": "https://registry.example", "password": "p"},
        {"url": "https://registry.example", "username": "u"},
        {"url": "https://registry.example", "timeoutSeconds": 0},
        {"url": "https://registry.example", "pageSize": 1001},
        {"url": "https://registry.example", "verifyTls": False},
    ]
    discover_query = {"prefix": "team/"}
    sample_reference = "team/api"

    def make_capability(self) -> OciRegistry:
        return OciRegistry()

    def operation_config(self) -> dict[str, Any]:
        assert self.pushed is not None
        return self.pushed.config(pageSize=2)


class TestOciPlugin(PluginContract):
    plugin_name = "oci"

    def make_plugin(self) -> object:
        return shiplane_plugin_oci.plugin


def test_the_password_is_a_secret_and_trust_settings_decide_where_it_goes() -> None:
    oci = OciRegistry()
    assert oci.secret_fields() == ["password"]
    assert {"url", "insecureSkipVerify", "caCertificate"} <= set(oci.destination_fields())
    assert oci.describe()["operations"] == ["test", "discover", "list_versions", "health"]
    assert oci.describe()["category"] == "registry"
    for operation in ("test", "discover", "list_versions", "health"):
        assert inspect.iscoroutinefunction(getattr(oci, operation)), operation


def test_a_ca_certificate_is_trusted_besides_the_usual_ones() -> None:
    ca = make_ca("Shiplane extra CA")
    trusted = client.ssl_context(ca.cert_pem).get_ca_certs()
    assert "Shiplane extra CA" in repr(trusted) and len(trusted) > 1


def test_the_token_cache_keeps_a_token_until_ten_seconds_before_it_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(client.time, "monotonic", lambda: now[0])
    cache = client.TokenCache()
    cache.put("a", "token-a", 11)
    cache.put("b", "token-b", 10)  # expires too soon to keep
    assert cache.get("a") == "token-a" and cache.get("b") is None
    now[0] += 0.999
    assert cache.get("a") == "token-a"
    now[0] += 0.002
    assert cache.get("a") is None


# ---------------------------------------------------------------------------
# Anonymous registry
# ---------------------------------------------------------------------------


def test_connection_test_and_health(anonymous: Pushed) -> None:
    result = run(OciRegistry().test(anonymous.config()))
    assert isinstance(result, ConnectionTestResult)
    assert result.ok, result.message
    assert result.details == {
        "url": anonymous.registry.url,
        "apiVersion": "registry/2.0",
        "auth": "anonymous",
        "status": 200,
    }
    report = run(OciRegistry().health(anonymous.config()))
    assert report.status == "ok" and report.details["apiVersion"] == "registry/2.0"


def test_discover_follows_catalog_pages(anonymous: Pushed) -> None:
    # Two per page: eight repositories only come back if every Link: rel="next" was followed.
    items = run(OciRegistry().discover(anonymous.config(pageSize=2), {}))
    names = [item.name for item in items]
    assert sorted(names) == ["other/r0", "other/r1", "other/r2", "other/r3", "other/r4", "team/api", "team/multi"]
    assert all(item.kind == "repository" and item.reference == item.name for item in items)
    assert names == sorted(names)  # Distribution's order, kept
    prefixed = run(OciRegistry().discover(anonymous.config(pageSize=3), {"prefix": "team/"}))
    assert [item.reference for item in prefixed] == ["team/api", "team/multi"]
    assert run(OciRegistry().discover(anonymous.config(), {"prefix": "nothing/"})) == []


def test_discover_reads_at_most_max_repositories(anonymous: Pushed, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(integration, "MAX_REPOSITORIES", 3)  # 10,000 in production
    items = run(OciRegistry().discover(anonymous.config(pageSize=2), {}))
    assert [item.name for item in items] == ["other/r0", "other/r1", "other/r2"]
    assert run(OciRegistry().discover(anonymous.config(pageSize=2), {"prefix": "team/"})) == []


def test_discover_refuses_unknown_query_keys(anonymous: Pushed) -> None:
    with pytest.raises(PluginError, match=r"unknown query key\(s\) search; supported: prefix") as caught:
        run(OciRegistry().discover(anonymous.config(), {"search": "x"}))
    assert caught.value.details == {"reason": "invalid_query"}
    with pytest.raises(PluginError, match="prefix must be a string"):
        run(OciRegistry().discover(anonymous.config(), {"prefix": 3}))


def test_list_versions_returns_the_pushed_digests(anonymous: Pushed) -> None:
    versions = by_tag(run(OciRegistry().list_versions(anonymous.config(), "team/api")))
    assert set(versions) == {"1.0.0", "1.1.0", "latest"}
    for tag, version in versions.items():
        assert version.digest == anonymous.digests[f"team/api:{tag}"]
        assert version.created_at is None
    assert versions["1.0.0"].metadata == {"mediaType": OCI_MANIFEST}
    assert versions["1.1.0"].metadata == {"mediaType": DOCKER_MANIFEST}
    assert versions["1.0.0"].digest != versions["1.1.0"].digest


def test_proxy_variables_of_the_environment_are_not_used(anonymous: Pushed, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{free_port()}")
    assert run(OciRegistry().test(anonymous.config())).ok


def test_a_moved_tag_shows_its_new_digest(anonymous: Pushed) -> None:
    registry = anonymous.registry
    first = registry.push_image("team/moving", "stable", content="one")
    assert by_tag(run(OciRegistry().list_versions(registry.config(), "team/moving")))["stable"].digest == first
    second = registry.push_image("team/moving", "stable", content="two")
    assert second != first
    assert by_tag(run(OciRegistry().list_versions(registry.config(), "team/moving")))["stable"].digest == second


def test_a_multi_arch_index_has_the_index_digest(anonymous: Pushed) -> None:
    version = by_tag(run(OciRegistry().list_versions(anonymous.config(), "team/multi")))["v1"]
    assert version.digest == anonymous.digests["team/multi:v1"]
    assert version.digest not in anonymous.registry.platform_digests("team/multi", "v1")
    assert version.metadata == {"mediaType": OCI_INDEX, "platforms": ["linux/amd64", "linux/arm64"]}


def test_max_tags_bounds_the_tags_listed(anonymous: Pushed) -> None:
    versions = run(OciRegistry().list_versions(anonymous.config(maxTags=2), "team/api"))
    assert len(versions) == 2 and {v.tag for v in versions} < {"1.0.0", "1.1.0", "latest"}


def test_an_unknown_repository_is_not_found(anonymous: Pushed) -> None:
    with pytest.raises(PluginError, match="repository 'team/nope' not found") as caught:
        run(OciRegistry().list_versions(anonymous.config(), "team/nope"))
    assert caught.value.details["reason"] == "not_found"
    assert "NAME_UNKNOWN" in caught.value.message


def test_a_reference_that_is_no_repository_name_is_refused(anonymous: Pushed) -> None:
    for reference in ("../v2/_catalog", "Team/API", "team/api:1.0", ""):
        with pytest.raises(PluginError, match="is not a repository name") as caught:
            run(OciRegistry().list_versions(anonymous.config(), reference))
        assert caught.value.details == {"reason": "invalid_reference"}


# ---------------------------------------------------------------------------
# Basic auth (htpasswd) over TLS
# ---------------------------------------------------------------------------


def test_basic_auth_works(basic: Pushed) -> None:
    result = run(OciRegistry().test(basic.config()))
    assert result.ok and result.details["auth"] == "basic", result.message
    items = run(OciRegistry().discover(basic.config(), {}))
    assert [item.reference for item in items] == ["private/app"]
    versions = run(OciRegistry().list_versions(basic.config(), "private/app"))
    assert [(v.tag, v.digest) for v in versions] == [("2.0", basic.digests["private/app:2.0"])]


def test_a_wrong_password_is_a_clear_unauthorized_error(basic: Pushed) -> None:
    config = basic.config(password=WRONG)
    result = run(OciRegistry().test(config))
    assert not result.ok
    assert "refused the credentials of user 'alice'" in result.message
    assert result.details["reason"] == "unauthorized"
    assert_no_secret(result.message, result.details)
    with pytest.raises(PluginError, match="refused the credentials of user 'alice'") as caught:
        run(OciRegistry().discover(config, {}))
    assert caught.value.details["reason"] == "unauthorized"
    assert_no_secret(str(caught.value), caught.value.details)
    report = run(OciRegistry().health(config))
    assert report.status == "failing" and "refused the credentials" in report.message


def test_no_credentials_for_a_basic_registry_says_so(basic: Pushed) -> None:
    config = basic.config(username=None, password=None)
    result = run(OciRegistry().test(config))
    assert not result.ok and "requires credentials" in result.message and "none are configured" in result.message


def test_tls_needs_a_trusted_certificate(basic: Pushed) -> None:
    untrusted = basic.config(caCertificate=None)
    result = run(OciRegistry().test(untrusted))
    assert not result.ok and result.details["reason"] == "tls"
    assert "TLS certificate" in result.message and "not trusted" in result.message
    with pytest.raises(PluginError, match="not trusted"):
        run(OciRegistry().list_versions(untrusted, "private/app"))
    assert run(OciRegistry().test(basic.config(caCertificate=None, insecureSkipVerify=True))).ok
    broken = run(OciRegistry().test(basic.config(caCertificate="not a certificate")))
    assert not broken.ok and broken.message == "caCertificate is not a PEM certificate"


# ---------------------------------------------------------------------------
# Bearer tokens
# ---------------------------------------------------------------------------


def test_bearer_tokens_from_the_token_service(token: Pushed) -> None:
    server = token.registry.token_server
    assert server is not None
    server.requests.clear()
    oci = OciRegistry()
    result = run(oci.test(token.config()))
    assert result.ok and result.details["auth"] == "bearer", result.message
    items = run(oci.discover(token.config(), {}))
    assert [item.reference for item in items] == ["secure/multi", "secure/svc"]
    versions = by_tag(run(oci.list_versions(token.config(), "secure/svc")))
    assert {tag: v.digest for tag, v in versions.items()} == {
        "3.0": token.digests["secure/svc:3.0"],
        "3.1": token.digests["secure/svc:3.1"],
    }
    multi = by_tag(run(oci.list_versions(token.config(), "secure/multi")))["m"]
    assert multi.digest == token.digests["secure/multi:m"] and multi.metadata["mediaType"] == OCI_INDEX
    assert all(r.user == "bob" and r.service == "shiplane-test-registry" for r in server.requests)
    scopes = [r.scopes for r in server.requests]
    assert scopes == [[], ["registry:catalog:*"], ["repository:secure/svc:pull"], ["repository:secure/multi:pull"]]
    # The tokens are cached per scope until they expire: asking again fetches none.
    run(oci.list_versions(token.config(), "secure/svc"))
    run(oci.discover(token.config(), {}))
    assert len(server.requests) == 4


def test_a_cached_token_the_registry_refuses_is_replaced(token: Pushed) -> None:
    server = token.registry.token_server
    assert server is not None
    oci = OciRegistry()
    run(oci.list_versions(token.config(), "secure/svc"))
    fetched = len(server.requests)
    for key, (_, expires) in list(oci.tokens._tokens.items()):
        oci.tokens._tokens[key] = ("not-a-valid-token", expires)  # as if revoked
    versions = run(oci.list_versions(token.config(), "secure/svc"))
    assert {v.digest for v in versions} == {token.digests["secure/svc:3.0"], token.digests["secure/svc:3.1"]}
    assert len(server.requests) == fetched + 1


def test_an_unknown_repository_behind_tokens_is_not_found(token: Pushed) -> None:
    with pytest.raises(PluginError, match="repository 'secure/nope' not found") as caught:
        run(OciRegistry().list_versions(token.config(), "secure/nope"))
    assert caught.value.details["reason"] == "not_found"


def test_a_token_answered_as_access_token_without_expires_in_works(
    token: Pushed, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = token.registry.token_server
    assert server is not None
    server.answer_key, server.expires_in = "access_token", None
    now = [5000.0]
    monkeypatch.setattr(client.time, "monotonic", lambda: now[0])
    oci = OciRegistry()
    try:
        versions = run(oci.list_versions(token.config(), "secure/svc"))
    finally:
        server.answer_key, server.expires_in = "token", 300
    assert {v.digest for v in versions} == {token.digests["secure/svc:3.0"], token.digests["secure/svc:3.1"]}
    # No expires_in: the specification's 60 s, kept until 10 s before.
    assert {expires for _, expires in oci.tokens._tokens.values()} == {5050.0}


def test_the_token_service_refusing_the_password_is_unauthorized(token: Pushed) -> None:
    config = token.config(password=WRONG)
    result = run(OciRegistry().test(config))
    assert (
        not result.ok
        and "token service" in result.message
        and "refused the credentials of user 'bob'" in result.message
    )
    with pytest.raises(PluginError, match="refused the credentials of user 'bob'") as caught:
        run(OciRegistry().list_versions(config, "secure/svc"))
    assert caught.value.details["reason"] == "unauthorized"
    assert_no_secret(result.message, result.details, str(caught.value), caught.value.details)


def test_anonymous_tokens_without_access_are_denied(token: Pushed) -> None:
    # The token service gives anonymous clients tokens without access, as public registries do.
    config = token.config(username=None, password=None)
    assert run(OciRegistry().test(config)).ok
    with pytest.raises(PluginError, match="denied anonymous access the access it needs") as caught:
        run(OciRegistry().discover(config, {}))
    assert "registry:catalog:*" in caught.value.message and caught.value.details["reason"] == "unauthorized"
    assert_no_secret(str(caught.value))


# ---------------------------------------------------------------------------
# Unreachable and slow registries
# ---------------------------------------------------------------------------


def test_an_unreachable_registry_is_a_clear_error() -> None:
    config = {"url": f"http://127.0.0.1:{free_port()}", "timeoutSeconds": 2}
    result = run(OciRegistry().test(config))
    assert not result.ok and result.details["reason"] == "unreachable"
    assert result.message == f"GET /v2/: cannot reach {config['url']}: connection refused"
    with pytest.raises(PluginError, match="cannot reach") as caught:
        run(OciRegistry().discover(config, {}))
    assert caught.value.details["reason"] == "unreachable"
    unknown_host = run(OciRegistry().test({"url": "https://registry.invalid", "timeoutSeconds": 2}))
    assert not unknown_host.ok and unknown_host.details["reason"] in ("unreachable", "timeout")


def test_a_registry_that_does_not_answer_times_out() -> None:
    with socket.socket() as silent:  # accepts connections (the kernel does), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        config = {"url": f"http://127.0.0.1:{silent.getsockname()[1]}", "timeoutSeconds": 1}

        async def both() -> list[Any]:
            oci = OciRegistry()
            return await asyncio.gather(oci.test(config), oci.list_versions(config, "team/api"), return_exceptions=True)

        result, error = run(both())
        assert not result.ok and result.details["reason"] == "timeout"
        assert "did not answer within 1 s" in result.message
        assert isinstance(error, PluginError) and "did not answer within 1 s" in error.message
        assert error.details["reason"] == "timeout"


# ---------------------------------------------------------------------------
# What Distribution never does: an in-process fake
# ---------------------------------------------------------------------------

FAKE_TAGS = ["a", "b", "c", "d", "list", "nohead", "s512"]
SHA512 = "sha512:" + "5" * 128
MANY = 40
FAKE_STATUS = {"fake/forbidden": (403, "DENIED"), "fake/limited": (429, "TOOMANYREQUESTS"), "fake/broken": (500, "")}
FAKE_IMAGE = b'{ "schemaVersion": 2, "mediaType": "%s", "config": {}, "layers": [] }\n' % OCI_MANIFEST.encode()
FAKE_LIST = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": DOCKER_LIST,
        "manifests": [
            {"digest": "sha256:" + "1" * 64, "platform": {"os": "linux", "architecture": "arm", "variant": "v7"}},
            {"digest": "sha256:" + "2" * 64, "platform": {"os": "windows", "architecture": "amd64"}},
        ],
    }
).encode()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64  # eight connections at once must not overflow the backlog


class FakeRegistry:
    """Tags in pages of ``n`` with relative ``Link``s, manifests without ``Docker-Content-Digest``,
    and a catalog whose next page is on another host."""

    def __init__(
        self,
        *,
        tls: tuple[str, str] | None = None,
        challenge: str | None = None,
        basic: str | None = None,
        catalog: bool = True,
        api: bool = True,
    ) -> None:
        self.requests: list[str] = []
        self.authorizations: list[str | None] = []  # the Authorization header of each request
        self.accepts: list[str | None] = []  # the Accept header of each request
        self.challenge = challenge  # when set: every request answers 401 with it
        self.basic = basic  # when set: the only Authorization header accepted ("Basic ...")
        self.catalog, self.api = catalog, api
        self.in_flight = self.most_in_flight = 0
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def do_GET(self) -> None:  # noqa: N802
                fake.answer(self, body=True)

            def do_HEAD(self) -> None:  # noqa: N802
                fake.answer(self, body=False)

        self.httpd = _Server(("127.0.0.1", 0), Handler)
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)  # certificate and key files
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def answer(self, handler: BaseHTTPRequestHandler, *, body: bool) -> None:
        url = urlsplit(handler.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        self.requests.append(f"{handler.command} {handler.path}")
        self.authorizations.append(handler.headers.get("Authorization"))
        self.accepts.append(handler.headers.get("Accept"))
        status, headers, content = 404, {"Content-Type": "application/json"}, b'{"errors":[{"code":"NAME_UNKNOWN"}]}'
        if self.challenge:
            status, content = 401, b'{"errors":[{"code":"UNAUTHORIZED"}]}'
            headers["WWW-Authenticate"] = self.challenge
        elif self.basic and handler.headers.get("Authorization") != self.basic:
            status, content = 401, b'{"errors":[{"code":"UNAUTHORIZED"}]}'
            headers["WWW-Authenticate"] = 'Basic realm="fake"'
        elif url.path == "/v2/" and self.api:
            status, content = 200, b"{}"
        elif url.path == "/v2/_catalog" and self.catalog:
            status, content = 200, b'{"repositories":["fake/app"]}'
            headers["Link"] = '<http://elsewhere.invalid/v2/_catalog?n=1&last=fake%2Fapp>; rel="next"'
        elif url.path.endswith("/tags/list") and url.path[4:-10] in FAKE_STATUS:
            status, code = FAKE_STATUS[url.path[4:-10]]
            content = json.dumps({"errors": [{"code": code}] if code else []}).encode()
        elif url.path == "/v2/fake/many/tags/list":
            status, content = 200, json.dumps({"tags": [f"t{n}" for n in range(MANY)]}).encode()
        elif url.path.startswith("/v2/fake/many/manifests/"):
            with self.lock:
                self.in_flight += 1
                self.most_in_flight = max(self.most_in_flight, self.in_flight)
            time.sleep(0.03)
            with self.lock:
                self.in_flight -= 1
            status, headers = 200, {"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": "sha256:" + "7" * 64}
            content = b"{}"
        elif url.path == "/v2/fake/garbage/tags/list":
            status, content = 200, b"<html>not a registry</html>"
        elif url.path == "/v2/fake/huge/tags/list":
            status, content = 200, b" " * (4 * 1024 * 1024 + 1)
        elif url.path == "/v2/fake/app/tags/list":
            n, last = int(query.get("n", "100")), query.get("last")
            start = FAKE_TAGS.index(last) + 1 if last else 0
            page = FAKE_TAGS[start : start + n]
            status, content = 200, json.dumps({"name": "fake/app", "tags": page}).encode()
            if start + n < len(FAKE_TAGS):
                # Relative links, and one absolute.
                origin = self.url if page[-1] == "d" else ""
                headers["Link"] = f'<{origin}/v2/fake/app/tags/list?n={n}&last={page[-1]}>; rel="next"'
        elif url.path.startswith("/v2/fake/app/manifests/"):
            reference = url.path.rsplit("/", 1)[1]
            if reference == "list":
                status, headers, content = 200, {"Content-Type": DOCKER_LIST}, FAKE_LIST
            elif reference == "nohead" and handler.command == "HEAD":
                status, content = 405, b""
            elif reference == "s512":
                status, headers, content = 200, {"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": SHA512}, b"{}"
            elif reference in FAKE_TAGS:
                status, headers, content = 200, {"Content-Type": OCI_MANIFEST}, FAKE_IMAGE
        handler.send_response(status)
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(content)))
        handler.end_headers()
        if body:
            handler.wfile.write(content)

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeRegistry]:
    server = FakeRegistry()
    yield server
    server.stop()


def test_tag_pages_and_digests_of_the_exact_bytes_without_a_digest_header(fake: FakeRegistry) -> None:
    fake.requests.clear()
    versions = by_tag(run(OciRegistry().list_versions({"url": fake.url, "pageSize": 2}, "fake/app")))
    assert sorted(versions) == sorted(FAKE_TAGS)
    assert [r for r in fake.requests if "tags/list" in r] == [
        "GET /v2/fake/app/tags/list?n=2",
        "GET /v2/fake/app/tags/list?n=2&last=b",
        "GET /v2/fake/app/tags/list?n=2&last=d",
        "GET /v2/fake/app/tags/list?n=2&last=nohead",
    ]
    assert versions["a"].digest == sha256_digest(FAKE_IMAGE)
    assert versions["a"].metadata == {"mediaType": OCI_MANIFEST}
    assert "HEAD /v2/fake/app/manifests/a" in fake.requests and "GET /v2/fake/app/manifests/a" in fake.requests
    heads = [accept for request, accept in zip(fake.requests, fake.accepts, strict=True) if request.startswith("HEAD")]
    assert heads and set(heads) == {", ".join([OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST])}
    # HEAD refused (405): the digest of what GET returns.
    assert versions["nohead"].digest == sha256_digest(FAKE_IMAGE)
    # A sha512 digest header is taken as it is, with no GET.
    assert versions["s512"].digest == SHA512 and "GET /v2/fake/app/manifests/s512" not in fake.requests
    assert versions["list"].digest == sha256_digest(FAKE_LIST)
    assert versions["list"].metadata == {"mediaType": DOCKER_LIST, "platforms": ["linux/arm/v7", "windows/amd64"]}
    result = run(OciRegistry().test({"url": fake.url}))
    assert result.ok and result.details["apiVersion"] is None


def test_a_next_page_on_another_host_is_refused(fake: FakeRegistry) -> None:
    with pytest.raises(PluginError, match=r"pointed to another host \(http://elsewhere.invalid:80\)"):
        run(OciRegistry().discover({"url": fake.url}, {}))


def test_at_most_eight_manifest_requests_at_once(fake: FakeRegistry) -> None:
    fake.most_in_flight = 0
    versions = run(OciRegistry().list_versions({"url": fake.url}, "fake/many"))
    assert len(versions) == MANY
    assert 2 <= fake.most_in_flight <= 8, fake.most_in_flight


@pytest.mark.parametrize(
    ("repository", "reason", "message"),
    [
        ("fake/forbidden", "unauthorized", "denied anonymous access (403 Forbidden) (DENIED)"),
        ("fake/limited", "rate_limited", "is rate limiting (429) (TOOMANYREQUESTS)"),
        ("fake/broken", "unexpected_status", "unexpected answer 500 from the registry at"),
        ("fake/garbage", "invalid_response", "answered something other than a JSON object"),
        ("fake/huge", "invalid_response", "is larger than 4 MiB"),
    ],
)
def test_registry_failures_are_clear_errors(fake: FakeRegistry, repository: str, reason: str, message: str) -> None:
    with pytest.raises(PluginError) as caught:
        run(OciRegistry().list_versions({"url": fake.url}, repository))
    assert message in caught.value.message and caught.value.details["reason"] == reason
    assert caught.value.message.startswith(f"listing the tags of {repository}: ")
    if repository in FAKE_STATUS:
        status, code = FAKE_STATUS[repository]
        assert caught.value.details["status"] == status and caught.value.details.get("code") == (code or None)


def test_a_registry_without_a_catalog_or_without_the_api() -> None:
    server = FakeRegistry(catalog=False, api=False)
    try:
        with pytest.raises(PluginError, match=r"offers no catalog \(GET /v2/_catalog answered 404\)") as caught:
            run(OciRegistry().discover({"url": server.url}, {}))
        assert caught.value.details["reason"] == "not_found"
        result = run(OciRegistry().test({"url": server.url}))
        assert (
            not result.ok and result.message == f"{server.url} does not serve the registry API (GET /v2/ answered 404)"
        )
    finally:
        server.stop()


def test_basic_credentials_go_at_once_once_the_registry_asked_for_them() -> None:
    server = FakeRegistry(basic="Basic " + base64.b64encode(f"u:{PASSWORD}".encode()).decode())
    try:
        oci = OciRegistry()
        config = {"url": server.url, "username": "u", "password": PASSWORD}
        assert run(oci.test(config)).ok
        assert [a is not None for a in server.authorizations] == [False, True]
        assert run(oci.test(config)).ok
        assert [a is not None for a in server.authorizations] == [False, True, True]
    finally:
        server.stop()


def test_credentials_never_go_to_a_plain_http_token_service_of_an_https_registry(tmp_path: Path) -> None:
    ca = make_ca()
    server = FakeRegistry(
        tls=issue(ca, "fake", ip="127.0.0.1").files(tmp_path),
        challenge='Bearer realm="http://127.0.0.1:9/token",service="fake"',
    )
    try:
        config = {"url": server.url, "caCertificate": ca.cert_pem, "username": "u", "password": PASSWORD}
        result = run(OciRegistry().test(config))
        assert not result.ok and result.details["reason"] == "insecure_realm"
        assert "token service over plain http (http://127.0.0.1:9): credentials are not sent there" in result.message
        assert_no_secret(result.message)
    finally:
        server.stop()


def test_the_registry_url_is_scheme_host_and_port_only() -> None:
    oci = OciRegistry()
    for url in ("https://registry.example/v2/", "https://a@registry.example", "registry.example:5000"):
        assert oci.validate_config({"url": url}), url
    for url in ("https://registry.example", "http://10.0.0.1:5000/", "https://[fd00::1]:443"):
        assert oci.validate_config({"url": url}) == [], url
