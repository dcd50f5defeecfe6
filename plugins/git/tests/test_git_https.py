"""The https path against a local smart-HTTP server (TLS, Basic auth) serving a test repository.

The server answers git's ref advertisement (``GET /<repo>/info/refs?service=git-upload-pack``)
with ``git upload-pack --advertise-refs``, which is all ``git ls-remote`` needs. Its
certificate is made for the test and trusted through ``GIT_SSL_CAINFO``, which the
plugin passes through from the server's environment.
"""

from __future__ import annotations

import base64
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from gitrepos import SampleRepo
from shiplane_plugin_git import Git
from shiplane_sdk import PluginError

USER = "ci-bot"
PASSWORD = "glpat-Very$ecret'Token\"42"


@dataclass
class GitServer:
    port: int
    repository: Path
    redirect: str | None = None  # answer every request with a redirect to this origin
    authorizations: list[str | None] = field(default_factory=list)

    def url(self, name: str = "app.git") -> str:
        return f"https://127.0.0.1:{self.port}/{name}"


def _handler(server: GitServer) -> type[BaseHTTPRequestHandler]:
    expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            authorization = self.headers.get("Authorization")
            server.authorizations.append(authorization)
            if server.redirect:
                self._reply(302, b"", {"Location": server.redirect + self.path})
                return
            if authorization != expected:
                self._reply(401, b"", {"WWW-Authenticate": 'Basic realm="git"'})
                return
            if self.path != "/app.git/info/refs?service=git-upload-pack":
                self._reply(404, b"not found\n", {})
                return
            refs = subprocess.run(
                ["git", "upload-pack", "--stateless-rpc", "--advertise-refs", str(server.repository)],
                capture_output=True,
                check=True,
            ).stdout
            body = b"001e# service=git-upload-pack\n0000" + refs
            self._reply(200, body, {"Content-Type": "application/x-git-upload-pack-advertisement"})

        def _reply(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("the https tests make their certificate with the openssl command")
    root = tmp_path_factory.mktemp("tls")
    cert, key = root / "cert.pem", root / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@contextmanager
def serve(certificate: tuple[Path, Path], repository: Path, redirect: str | None = None) -> Iterator[GitServer]:
    cert, key = certificate
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    server = GitServer(port=httpd.server_address[1], repository=repository, redirect=redirect)
    httpd.RequestHandlerClass = _handler(server)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def https_server(
    certificate: tuple[Path, Path], sample_repo: SampleRepo, monkeypatch: pytest.MonkeyPatch
) -> Iterator[GitServer]:
    monkeypatch.setenv("GIT_SSL_CAINFO", str(certificate[0]))  # an operator's private CA, passed through
    with serve(certificate, sample_repo.path) as server:
        yield server


def config(server: GitServer, **extra: Any) -> dict[str, Any]:
    return {"url": server.url(), "username": USER, "password": PASSWORD, **extra}


def test_versions_over_https_with_credentials(https_server: GitServer, sample_repo: SampleRepo) -> None:
    versions = {v.tag: v for v in Git().list_versions(config(https_server, includeBranches=True), ".")}
    assert versions["v1.1.0"].digest == f"git:{sample_repo.commits['c2']}"
    assert versions["v1.1.0"].metadata["annotated"] is True
    assert versions["v1.1.0"].created_at is None
    assert versions["v1.0.0"].digest == f"git:{sample_repo.commits['c1']}"
    assert versions["release-1.0"].metadata["kind"] == "branch"
    # The credentials reached the server (through the credential file, not argv or env).
    expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert expected in https_server.authorizations
    result = Git().test(config(https_server))
    assert result.ok and result.details["tags"] == 3


def test_wrong_password_is_an_authentication_failure(https_server: GitServer) -> None:
    wrong = "wrong-" + PASSWORD
    result = Git().test(config(https_server, password=wrong))
    assert not result.ok
    assert (
        result.message
        == f"authentication failed: the server refused the configured credentials for {https_server.url()}"
    )
    assert result.details["reason"] == "authentication"
    with pytest.raises(PluginError) as caught:
        Git().list_versions(config(https_server, password=wrong), ".")
    for text in (result.message, repr(result.details), str(caught.value), repr(caught.value.details)):
        assert wrong not in text and PASSWORD not in text


def test_no_credentials_for_a_protected_repository(https_server: GitServer) -> None:
    result = Git().test({"url": https_server.url()})
    assert not result.ok
    assert result.message.startswith("authentication required (no credentials configured)")
    assert https_server.authorizations == [None]  # asked nothing, prompted nobody


def test_a_repository_the_server_does_not_have(https_server: GitServer) -> None:
    result = Git().test(config(https_server, url=https_server.url("missing.git")))
    assert (result.ok, result.details["reason"]) == (False, "not_found")
    assert result.message == f"repository not found: {https_server.url('missing.git')}"


def test_an_untrusted_certificate(https_server: GitServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GIT_SSL_CAINFO")
    result = Git().test(config(https_server))
    assert not result.ok
    assert result.details["reason"] == "tls"
    assert https_server.authorizations == []  # nothing was sent


def test_credentials_go_only_to_the_urls_origin(
    https_server: GitServer, certificate: tuple[Path, Path], sample_repo: SampleRepo
) -> None:
    # The url's server redirects to another origin (another port): git follows the
    # redirect, but the credentials are scoped to the url's origin, so the other
    # server is never given the password.
    with serve(certificate, sample_repo.path, redirect=f"https://127.0.0.1:{https_server.port}") as front:
        result = Git().test(config(front))
    assert not result.ok
    assert front.authorizations == [None]
    assert https_server.authorizations and all(a is None for a in https_server.authorizations)
    assert PASSWORD not in repr(result)
