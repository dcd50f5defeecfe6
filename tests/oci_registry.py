"""Real OCI registries for tests: Debian's ``docker-registry`` (Distribution 2.8) on a
free loopback port, in a temporary directory, stopped by its pid.

    with running_registry(tmp_path) as registry:                 # anonymous
        digest = registry.push_image("team/api", "1.0.0")       # the manifest's sha256 digest
        index = registry.push_index("team/api", "multi")        # a two-platform OCI index
        config = registry.config()                              # an oci-registry integration config

``auth="htpasswd"`` adds basic auth (bcrypt entries for ``users``), ``auth="token"`` the
bearer-token flow with a local :class:`TokenServer` (the Docker registry token
specification: a JWT signed with a key whose certificate, in ``x5c``, chains to the
registry's ``rootcertbundle``). ``tls=True`` serves HTTPS with a certificate of a test
CA (``registry.ca_pem``). Pushes go straight through the HTTP API and authenticate
as an administrator, never through the token server (its request log stays the
client's). :func:`unavailable_reason` tells why no registry can run here.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import hashlib
import io
import ipaddress
import json
import os
import shutil
import signal
import ssl
import subprocess
import tarfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from tests.servers import free_port

REGISTRY_BINARY = "docker-registry"
SERVICE = "shiplane-test-registry"
ISSUER = "shiplane-test-issuer"
ADMIN = ("admin", "admin-secret-password")

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"

Auth = Literal["none", "htpasswd", "token"]


def unavailable_reason() -> str | None:
    """Why a registry cannot be started here, or ``None`` when it can."""
    if shutil.which(REGISTRY_BINARY) is None:
        return f"Debian's {REGISTRY_BINARY} is not installed (apt-get install docker-registry; .ci/run installs it)"
    return None


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------------
# Keys and certificates
# ---------------------------------------------------------------------------


@dataclass
class KeyPair:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @property
    def cert_pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    @property
    def key_pem(self) -> str:
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()

    def files(self, directory: Path, name: str = "tls") -> tuple[str, str]:
        """Write ``name.crt`` and ``name.key`` into ``directory``; their paths."""
        cert, key = directory / f"{name}.crt", directory / f"{name}.key"
        cert.write_text(self.cert_pem)
        key.write_text(self.key_pem)
        return str(cert), str(key)


def _certificate(
    subject: str, key: ec.EllipticCurvePrivateKey, issuer: KeyPair | None, *, ca: bool, ip: str | None = None
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.cert.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    if ip:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]), critical=False
        )
        builder = builder.add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), False)
    return builder.sign(issuer.key if issuer else key, hashes.SHA256())


def make_ca(name: str = "Shiplane test CA") -> KeyPair:
    """A self-signed CA (EC P-256)."""
    key = ec.generate_private_key(ec.SECP256R1())
    return KeyPair(key, _certificate(name, key, None, ca=True))


def issue(ca: KeyPair, name: str, *, ip: str | None = None) -> KeyPair:
    """A leaf certificate signed by ``ca`` (for a TLS server on ``ip`` when given)."""
    key = ec.generate_private_key(ec.SECP256R1())
    return KeyPair(key, _certificate(name, key, ca, ca=False, ip=ip))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign_token(
    signer: KeyPair, *, audience: str, issuer: str, subject: str, access: list[dict[str, Any]], ttl: int
) -> str:
    """An ES256 JWT as the Docker registry token specification describes, with ``x5c``."""
    header = {
        "typ": "JWT",
        "alg": "ES256",
        "x5c": [base64.b64encode(signer.cert.public_bytes(serialization.Encoding.DER)).decode()],
    }
    now = int(time.time())
    claims = {
        "iss": issuer,
        "sub": subject,
        "aud": audience,
        "exp": now + ttl,
        "nbf": now - 10,
        "iat": now,
        "jti": uuid.uuid4().hex,
        "access": access,
    }
    signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
    r, s = decode_dss_signature(signer.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return f"{signing_input}.{_b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def _requested_access(scopes: Sequence[str]) -> list[dict[str, Any]]:
    access = []
    for scope in scopes:
        parts = scope.split(":")
        if len(parts) >= 3:
            access.append({"type": parts[0], "name": ":".join(parts[1:-1]), "actions": parts[-1].split(",")})
    return access


# ---------------------------------------------------------------------------
# The token server
# ---------------------------------------------------------------------------


@dataclass
class TokenRequest:
    service: str | None
    scopes: list[str]
    user: str | None  # None: anonymous
    status: int


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64  # concurrent clients must not overflow the listen backlog


class TokenServer:
    """An in-process token service (``GET /token?service=&scope=``, basic credentials).

    Valid credentials get every action they ask for; no credentials get a token with
    no access (as public registries answer anonymous clients); wrong ones get 401.
    ``answer_key`` (``token`` or ``access_token``) and ``expires_in`` shape the answer;
    ``requests`` records every request.
    """

    def __init__(self, signer: KeyPair, users: dict[str, str], *, service: str = SERVICE, issuer: str = ISSUER):
        self.signer, self.users, self.service, self.issuer = signer, dict(users), service, issuer
        self.answer_key = "token"
        self.expires_in: int | None = 300  # None: no expires_in in the answer (the client assumes 60 s)
        self.requests: list[TokenRequest] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                server._answer(self)

        self._httpd = _HttpServer(("127.0.0.1", 0), Handler)
        self.port = int(self._httpd.server_address[1])
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.05,), name="oci-token-server", daemon=True
        )
        self._thread.start()

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        url = urlsplit(handler.path)
        query = parse_qs(url.query)
        user: str | None = None
        status = 200
        header = handler.headers.get("Authorization", "")
        if header.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            except ValueError:
                user, password = "?", ""
            if self.users.get(user) != password:
                status = 401
        if url.path != "/token":
            status = 404
        scopes = [s for value in query.get("scope", []) for s in value.split(" ") if s]
        service = query["service"][0] if query.get("service") else None
        self.requests.append(TokenRequest(service, scopes, user, status))
        if status != 200:
            body = json.dumps({"details": "invalid credentials" if status == 401 else "not found"}).encode()
        else:
            access = _requested_access(scopes) if user else []
            token = sign_token(
                self.signer,
                audience=self.service,
                issuer=self.issuer,
                subject=user or "",
                access=access,
                ttl=self.expires_in or 60,
            )
            answer: dict[str, Any] = {self.answer_key: token}
            if self.expires_in is not None:
                answer["expires_in"] = self.expires_in
            body = json.dumps(answer).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


# ---------------------------------------------------------------------------
# The registry
# ---------------------------------------------------------------------------


def _layer(content: bytes) -> bytes:
    """A deterministic gzipped tar holding one file."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        info = tarfile.TarInfo("hello.txt")
        info.size, info.mtime, info.mode = len(content), 0, 0o644
        archive.addfile(info, io.BytesIO(content))
    return gzip.compress(raw.getvalue(), mtime=0)


@dataclass
class Registry:
    """A running ``docker-registry``; :meth:`stop` ends it by its pid."""

    port: int
    root: Path
    auth: Auth
    process: subprocess.Popen
    tls: bool = False
    users: dict[str, str] = field(default_factory=dict)
    ca_pem: str | None = None
    token_server: TokenServer | None = None
    signer: KeyPair | None = None
    _ca: KeyPair | None = field(default=None, repr=False)
    _http: httpx.Client | None = field(default=None, repr=False)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        try:
            return (self.root / "registry.log").read_text(errors="replace")
        except OSError:
            return ""

    def config(self, **extra: Any) -> dict[str, Any]:
        """An ``oci-registry`` config for this registry: the first user's credentials, the CA."""
        config: dict[str, Any] = {"url": self.url}
        if self.users:
            username, password = next(iter(self.users.items()))
            config.update(username=username, password=password)
        if self.ca_pem:
            config["caCertificate"] = self.ca_pem
        config.update(extra)
        return {k: v for k, v in config.items() if v is not None}

    # -- pushing ---------------------------------------------------------------------------------

    @property
    def http(self) -> httpx.Client:
        """An HTTP client for this registry (trusting its CA), kept until :meth:`stop`."""
        if self._http is None:
            verify: Any = ssl.create_default_context(cadata=self.ca_pem) if self.ca_pem else True
            self._http = httpx.Client(base_url=self.url, verify=verify, timeout=10.0)
        return self._http

    def _auth_headers(self, repository: str) -> dict[str, str]:
        if self.auth == "htpasswd":
            return {"Authorization": "Basic " + base64.b64encode(f"{ADMIN[0]}:{ADMIN[1]}".encode()).decode()}
        if self.auth == "token":
            assert self.signer is not None
            token = sign_token(
                self.signer,
                audience=SERVICE,
                issuer=ISSUER,
                subject=ADMIN[0],
                access=[{"type": "repository", "name": repository, "actions": ["pull", "push"]}],
                ttl=300,
            )
            return {"Authorization": f"Bearer {token}"}
        return {}

    def push_blob(self, repository: str, data: bytes) -> str:
        digest = sha256_digest(data)
        headers = self._auth_headers(repository)
        started = self.http.post(f"/v2/{repository}/blobs/uploads/", headers=headers)
        assert started.status_code == 202, (started.status_code, started.text)
        location = started.headers["Location"]
        separator = "&" if "?" in location else "?"
        done = self.http.put(
            f"{location}{separator}digest={digest}",
            content=data,
            headers={**headers, "Content-Type": "application/octet-stream"},
        )
        assert done.status_code == 201, (done.status_code, done.text)
        return digest

    def push_manifest(self, repository: str, reference: str, manifest: bytes, media_type: str) -> str:
        """PUT ``manifest`` (exact bytes) under ``reference`` (a tag or its digest); its digest."""
        response = self.http.put(
            f"/v2/{repository}/manifests/{reference}",
            content=manifest,
            headers={**self._auth_headers(repository), "Content-Type": media_type},
        )
        assert response.status_code == 201, (response.status_code, response.text)
        digest = sha256_digest(manifest)
        assert response.headers.get("Docker-Content-Digest") == digest
        return digest

    def _image_manifest(
        self, repository: str, content: str, media_type: Literal["oci", "docker"], platform: tuple[str, str]
    ) -> tuple[bytes, str]:
        layer = _layer(content.encode())
        config = json.dumps(
            {
                "architecture": platform[1],
                "os": platform[0],
                "created": "2024-01-02T03:04:05Z",
                "config": {"Labels": {"content": content}},
                "rootfs": {"type": "layers", "diff_ids": [sha256_digest(gzip.decompress(layer))]},
            },
            sort_keys=True,
        ).encode()
        oci = media_type == "oci"
        manifest_type = OCI_MANIFEST if oci else DOCKER_MANIFEST
        manifest = {
            "schemaVersion": 2,
            "mediaType": manifest_type,
            "config": {
                "mediaType": OCI_CONFIG if oci else DOCKER_CONFIG,
                "digest": self.push_blob(repository, config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": OCI_LAYER if oci else DOCKER_LAYER,
                    "digest": self.push_blob(repository, layer),
                    "size": len(layer),
                }
            ],
        }
        return json.dumps(manifest, indent=2).encode(), manifest_type

    def push_image(
        self,
        repository: str,
        tag: str,
        *,
        content: str | None = None,
        media_type: Literal["oci", "docker"] = "oci",
        platform: tuple[str, str] = ("linux", "amd64"),
    ) -> str:
        """Push a one-layer image (OCI or Docker v2 manifest) as ``repository:tag``; its manifest digest.

        ``content`` (default: the repository and tag) decides the layer, so equal
        contents give equal digests and different ones different digests.
        """
        body, manifest_type = self._image_manifest(repository, content or f"{repository}:{tag}", media_type, platform)
        return self.push_manifest(repository, tag, body, manifest_type)

    def push_index(
        self,
        repository: str,
        tag: str,
        *,
        platforms: Sequence[tuple[str, str]] = (("linux", "amd64"), ("linux", "arm64")),
    ) -> str:
        """Push one image per platform (by digest) and an OCI index of them as ``repository:tag``;
        the index's digest (each platform manifest has its own, different one)."""
        entries = []
        for os_name, architecture in platforms:
            body, manifest_type = self._image_manifest(
                repository, f"{repository}:{tag}:{os_name}/{architecture}", "oci", (os_name, architecture)
            )
            digest = self.push_manifest(repository, sha256_digest(body), body, manifest_type)
            entries.append(
                {
                    "mediaType": manifest_type,
                    "digest": digest,
                    "size": len(body),
                    "platform": {"os": os_name, "architecture": architecture},
                }
            )
        index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}, indent=2).encode()
        return self.push_manifest(repository, tag, index, OCI_INDEX)

    def platform_digests(self, repository: str, reference: str) -> list[str]:
        """The digests of the manifests an index lists."""
        response = self.http.get(
            f"/v2/{repository}/manifests/{reference}",
            headers={**self._auth_headers(repository), "Accept": OCI_INDEX},
        )
        response.raise_for_status()
        return [entry["digest"] for entry in response.json()["manifests"]]

    # -- life ------------------------------------------------------------------------------------

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM by pid (SIGKILL after ``timeout``), and the token server if any."""
        if self._http is not None:
            self._http.close()
            self._http = None
        try:
            if self.process.poll() is None:
                os.kill(self.process.pid, signal.SIGTERM)
                try:
                    self.process.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    os.kill(self.process.pid, signal.SIGKILL)
                    self.process.wait(timeout=timeout)
        finally:
            if self.token_server is not None:
                self.token_server.stop()


def _htpasswd(users: dict[str, str]) -> str:
    import bcrypt  # the test dependency group has it; only basic-auth registries need it

    # Cost 4: the registry checks the hash on every request.
    return "".join(f"{u}:{bcrypt.hashpw(p.encode(), bcrypt.gensalt(rounds=4)).decode()}\n" for u, p in users.items())


def start_registry(
    root: Path,
    *,
    auth: Auth = "none",
    users: dict[str, str] | None = None,
    tls: bool = False,
    timeout: float = 30.0,
) -> Registry:
    """Start ``docker-registry serve`` in ``root`` and wait until ``/v2/`` answers.

    ``users`` (username to password) are accepted besides the administrator the
    pushes use; for ``htpasswd`` and ``token`` registries at least one is usual.
    The caller must :meth:`Registry.stop` it (or use :func:`running_registry`).
    """
    reason = unavailable_reason()
    if reason:
        raise RuntimeError(reason)
    root.mkdir(parents=True, exist_ok=True)
    users = dict(users or {})
    config: dict[str, Any] = {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(root / "data")}, "delete": {"enabled": True}},
    }
    ca = signer = token_server = ca_pem = None
    if tls or auth == "token":
        ca = make_ca()
        ca_pem = ca.cert_pem if tls else None
    tls_config: dict[str, str] = {}
    if tls:
        assert ca is not None
        certificate, key = issue(ca, "127.0.0.1", ip="127.0.0.1").files(root)
        tls_config = {"certificate": certificate, "key": key}
    if auth == "htpasswd":
        (root / "htpasswd").write_text(_htpasswd({**users, ADMIN[0]: ADMIN[1]}))
        config["auth"] = {"htpasswd": {"realm": "shiplane-test", "path": str(root / "htpasswd")}}
    elif auth == "token":
        assert ca is not None
        signer = issue(ca, "Shiplane test token signer")
        (root / "token-ca.pem").write_text(ca.cert_pem)
        token_server = TokenServer(signer, users)
        config["auth"] = {
            "token": {
                "realm": token_server.realm,
                "service": SERVICE,
                "issuer": ISSUER,
                "rootcertbundle": str(root / "token-ca.pem"),
            }
        }
    try:
        for _attempt in range(3):
            port = free_port()
            http: dict[str, Any] = {"addr": f"127.0.0.1:{port}", "secret": uuid.uuid4().hex}
            if tls_config:
                http["tls"] = tls_config
            config["http"] = http
            # JSON is YAML: no YAML writer needed.
            (root / "config.yml").write_text(json.dumps(config, indent=2))
            with open(root / "registry.log", "wb") as log:
                process = subprocess.Popen(
                    [REGISTRY_BINARY, "serve", str(root / "config.yml")],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    cwd=root,
                )
            registry = Registry(port, root, auth, process, tls, users, ca_pem, token_server, signer, ca)
            if _wait_ready(registry, timeout):
                return registry
            registry.token_server = None  # kept for the next attempt
            registry.stop()
            if "address already in use" not in registry.log():
                raise RuntimeError(f"docker-registry did not start:\n{registry.log()[-4000:]}")
        raise RuntimeError(f"docker-registry found no free port:\n{registry.log()[-4000:]}")
    except BaseException:
        if token_server is not None:
            token_server.stop()
        raise


def _wait_ready(registry: Registry, timeout: float) -> bool:
    """Whether ``/v2/`` answered (200, or 401 behind auth) before the process exited or ``timeout``."""
    deadline = time.monotonic() + timeout
    verify: Any = ssl.create_default_context(cadata=registry.ca_pem) if registry.ca_pem else True
    while time.monotonic() < deadline:
        if registry.process.poll() is not None:
            return False
        try:
            status = httpx.get(f"{registry.url}/v2/", verify=verify, timeout=2.0).status_code
            if status in (200, 401):
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    return False


@contextmanager
def running_registry(
    root: Path, *, auth: Auth = "none", users: dict[str, str] | None = None, tls: bool = False
) -> Iterator[Registry]:
    """:func:`start_registry`, stopped on exit."""
    registry = start_registry(root, auth=auth, users=users, tls=tls)
    try:
        yield registry
    finally:
        registry.stop()
