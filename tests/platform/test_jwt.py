"""Bearer token verification (DESIGN §3), end to end through a real endpoint.

Every case sends a token to ``GET /api/v1/environments`` (or ``POST``) of an app
that trusts the keys the case needs: the development HS256 secret, RSA and EC
public keys from PEM, or a JWKS document served by a real HTTP server on loopback
whose content the test changes between requests. Refusals are the 401 envelope.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi.testclient import TestClient
from jose import jwk as jose_jwk
from jose import jwt as jose_jwt
from shiplane.app import create_app
from shiplane.platform.settings import Settings

from tests.conftest import assert_error, make_settings, once_on_sqlite

BASE = "/api/v1/environments"
# Token verification does not touch the storage (its API calls are the API tests').
pytestmark = once_on_sqlite("token verification, not storage")

ISSUER = "shiplane-dev"
AUDIENCE = "shiplane"
DROP = object()  # a claim value meaning "leave this claim out"


# --- keys -------------------------------------------------------------------


@cache
def rsa_key(name: str = "trusted") -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@cache
def ec_key(name: str = "trusted") -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def private_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def public_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def public_jwk(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, alg: str, kid: str) -> dict[str, Any]:
    entry = jose_jwk.construct(public_pem(key), alg).to_dict()
    entry.update({"kid": kid, "use": "sig"})
    return entry


# --- tokens -----------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def claims(**overrides: Any) -> dict[str, Any]:
    """Valid claims for a new tenant and user; ``name=DROP`` removes a claim."""
    now = int(time.time())
    user_id = f"user-{uuid.uuid4().hex[:8]}"
    values: dict[str, Any] = {
        "sub": user_id,
        "user_id": user_id,
        "tenant_id": f"tenant-{uuid.uuid4().hex[:10]}",
        "roles": ["viewer"],
        "permissions": [],
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 600,
    }
    for name, value in overrides.items():
        if value is DROP:
            values.pop(name, None)
        else:
            values[name] = value
    return values


def hs_token(settings: Settings, headers: dict[str, Any] | None = None, **overrides: Any) -> str:
    return jose_jwt.encode(claims(**overrides), settings.auth_hs_secret, algorithm="HS256", headers=headers)


def rs_token(key: rsa.RSAPrivateKey | None = None, headers: dict[str, Any] | None = None, **overrides: Any) -> str:
    return jose_jwt.encode(claims(**overrides), private_pem(key or rsa_key()), algorithm="RS256", headers=headers)


def es_token(
    key: ec.EllipticCurvePrivateKey | None = None, headers: dict[str, Any] | None = None, **overrides: Any
) -> str:
    return jose_jwt.encode(claims(**overrides), private_pem(key or ec_key()), algorithm="ES256", headers=headers)


def hand_made(header: dict[str, Any], payload: dict[str, Any], signature: str = "") -> str:
    """A compact JWS assembled by hand, for what no library would sign."""
    return ".".join(
        [
            b64url(json.dumps(header, separators=(",", ":")).encode()),
            b64url(json.dumps(payload, separators=(",", ":")).encode()),
            signature,
        ]
    )


def hs256_by_hand(header: dict[str, Any], payload: dict[str, Any], secret: bytes) -> str:
    unsigned = hand_made(header, payload)[:-1]  # drop the trailing "."
    signature = hmac.new(secret, unsigned.encode(), hashlib.sha256).digest()
    return f"{unsigned}.{b64url(signature)}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_unauthorized(response: Any) -> dict[str, Any]:
    error = assert_error(response, 401, "UNAUTHORIZED")
    assert response.headers["www-authenticate"].startswith("Bearer")
    return error


def assert_accepted(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True and body["data"] == []
    return body


# --- apps -------------------------------------------------------------------


@contextmanager
def app_client(database_url: str, data_dir: Path, **overrides: Any) -> Iterator[tuple[TestClient, Settings]]:
    settings = make_settings(database_url, data_dir, **overrides)
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client, settings


@pytest.fixture(scope="module")
def pem_app(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Settings]]:
    """Trusts the development HS256 secret and one RSA and one EC public key (PEM)."""
    with app_client(
        database_url,
        tmp_path_factory.mktemp("jwt-pem"),
        auth_public_keys=[public_pem(rsa_key()), public_pem(ec_key())],
    ) as pair:
        yield pair


@pytest.fixture(scope="module")
def api(pem_app: tuple[TestClient, Settings]) -> TestClient:
    return pem_app[0]


@pytest.fixture(scope="module")
def hs_settings(pem_app: tuple[TestClient, Settings]) -> Settings:
    return pem_app[1]


@pytest.fixture(scope="module")
def asymmetric_only(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestClient, Settings]]:
    """Production settings with RSA and EC public keys and no HS secret at all."""
    with app_client(
        database_url,
        tmp_path_factory.mktemp("jwt-asym"),
        mode="production",
        auth_hs_secret=None,
        auth_public_keys=[public_pem(rsa_key()), public_pem(ec_key())],
    ) as pair:
        yield pair


class JwksServer:
    """A JWKS endpoint on 127.0.0.1: ``document`` (or raw ``body``) may change between requests."""

    def __init__(self) -> None:
        self.document: Any = {"keys": []}
        self.body: bytes | None = None
        self.status = 200
        self.hits = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                outer.hits += 1
                payload = outer.body if outer.body is not None else json.dumps(outer.document).encode()
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/.well-known/jwks.json"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def jwks() -> Iterator[JwksServer]:
    server = JwksServer()
    try:
        yield server
    finally:
        server.close()


def jwks_app(database_url: str, data_dir: Path, server: JwksServer, **overrides: Any) -> Any:
    values: dict[str, Any] = {
        "mode": "production",
        "auth_hs_secret": None,
        "auth_jwks_url": server.url,
        "auth_jwks_min_refresh_seconds": 0,
    }
    values.update(overrides)
    return app_client(database_url, data_dir, **values)


# --- the happy paths --------------------------------------------------------


def test_hs256_token_of_the_development_authority_is_accepted(api: TestClient, hs_settings: Settings) -> None:
    assert_accepted(api.get(BASE, headers=bearer(hs_token(hs_settings))))


def test_valid_rs256_token_from_a_pem_key_is_accepted(api: TestClient) -> None:
    token_claims = claims(roles=["admin"])
    token = jose_jwt.encode(token_claims, private_pem(rsa_key()), algorithm="RS256")
    created = api.post(BASE, json={"name": "rs"}, headers=bearer(token))
    assert created.status_code == 201, created.text
    # The tenant comes from the token, and only from it.
    assert created.json()["data"]["tenantId"] == token_claims["tenant_id"]
    listed = api.get(BASE, headers=bearer(token))
    assert listed.status_code == 200
    assert [e["name"] for e in listed.json()["data"]] == ["rs"]


def test_valid_es256_token_from_a_pem_key_is_accepted(api: TestClient) -> None:
    # The RSA key is listed first: trying it on an ES256 token must not end the search.
    assert_accepted(api.get(BASE, headers=bearer(es_token())))


def test_asymmetric_tokens_are_accepted_without_any_hs_secret(
    asymmetric_only: tuple[TestClient, Settings],
) -> None:
    client, settings = asymmetric_only
    assert settings.auth_hs_secret is None
    assert_accepted(client.get(BASE, headers=bearer(rs_token())))
    assert_accepted(client.get(BASE, headers=bearer(es_token())))


def test_sub_is_accepted_when_user_id_is_absent(api: TestClient, hs_settings: Settings) -> None:
    token = hs_token(hs_settings, user_id=DROP, sub="user-from-sub", roles=["admin"])
    created = api.post(BASE, json={"name": "by-sub"}, headers=bearer(token))
    assert created.status_code == 201, created.text
    listed = api.get(BASE, headers=bearer(token))
    assert [e["name"] for e in listed.json()["data"]] == ["by-sub"]


def test_permissions_claim_grants_beyond_the_roles(api: TestClient, hs_settings: Settings) -> None:
    tenant_id = f"tenant-{uuid.uuid4().hex[:10]}"
    viewer_only = hs_token(hs_settings, tenant_id=tenant_id, roles=["viewer"])
    assert_error(api.post(BASE, json={"name": "denied"}, headers=bearer(viewer_only)), 403, "FORBIDDEN")
    granted = hs_token(hs_settings, tenant_id=tenant_id, roles=["viewer"], permissions=["environments:write"])
    response = api.post(BASE, json={"name": "granted"}, headers=bearer(granted))
    assert response.status_code == 201, response.text
    assert response.json()["data"]["tenantId"] == tenant_id


def test_permissions_claim_alone_without_roles_grants_only_what_it_names(
    api: TestClient, hs_settings: Settings
) -> None:
    token = hs_token(hs_settings, roles=[], permissions=["environments:read"])
    assert_accepted(api.get(BASE, headers=bearer(token)))
    assert_error(api.post(BASE, json={"name": "nope"}, headers=bearer(token)), 403, "FORBIDDEN")


# --- missing or malformed credentials ----------------------------------------


def test_missing_authorization_header(api: TestClient) -> None:
    error = assert_unauthorized(api.get(BASE))
    assert "missing bearer token" in error["message"]


@pytest.mark.parametrize(
    "value",
    [
        "Basic dXNlcjpwYXNzd29yZA==",
        "Bearer",
        "Bearer    ",
        "Token abc.def.ghi",
        "eyJhbGciOiJIUzI1NiJ9.e30.sig",
        "Bearer not-a-jwt",
        "Bearer a.b",
        "Bearer !!!.???.***",
    ],
)
def test_garbage_authorization_header(api: TestClient, value: str) -> None:
    assert_unauthorized(api.get(BASE, headers={"Authorization": value}))


def test_a_good_token_under_another_scheme_is_refused(api: TestClient, hs_settings: Settings) -> None:
    assert_unauthorized(api.get(BASE, headers={"Authorization": f"Basic {hs_token(hs_settings)}"}))


# --- time --------------------------------------------------------------------


def test_expired_token(api: TestClient, hs_settings: Settings) -> None:
    now = int(time.time())
    error = assert_unauthorized(api.get(BASE, headers=bearer(hs_token(hs_settings, iat=now - 7200, exp=now - 3600))))
    assert "expired" in error["message"]


def test_token_expired_within_the_leeway_passes(api: TestClient, hs_settings: Settings) -> None:
    assert hs_settings.auth_leeway_seconds == 30
    now = int(time.time())
    assert_accepted(api.get(BASE, headers=bearer(hs_token(hs_settings, iat=now - 600, exp=now - 10))))


def test_token_expired_beyond_the_leeway_fails(api: TestClient, hs_settings: Settings) -> None:
    now = int(time.time())
    assert_unauthorized(api.get(BASE, headers=bearer(hs_token(hs_settings, iat=now - 600, exp=now - 120))))


def test_token_not_yet_valid_is_refused(api: TestClient, hs_settings: Settings) -> None:
    now = int(time.time())
    assert_unauthorized(api.get(BASE, headers=bearer(hs_token(hs_settings, nbf=now + 600))))


@pytest.mark.parametrize(
    ("claim", "value"),
    [("exp", None), ("exp", [1]), ("exp", "soon"), ("exp", {"at": 1}), ("iat", None), ("nbf", [0])],
)
def test_time_claims_of_the_wrong_type_are_refused_not_a_500(
    api: TestClient, hs_settings: Settings, claim: str, value: Any
) -> None:
    assert_unauthorized(api.get(BASE, headers=bearer(hs_token(hs_settings, **{claim: value}))))


# --- issuer, audience, required claims --------------------------------------


def test_wrong_issuer(api: TestClient, hs_settings: Settings) -> None:
    assert_unauthorized(api.get(BASE, headers=bearer(hs_token(hs_settings, iss="https://evil.example"))))


def test_wrong_audience(api: TestClient, hs_settings: Settings) -> None:
    assert_unauthorized(api.get(BASE, headers=bearer(hs_token(hs_settings, aud="another-service"))))


def test_audience_list_containing_ours_is_accepted(api: TestClient, hs_settings: Settings) -> None:
    assert_accepted(api.get(BASE, headers=bearer(hs_token(hs_settings, aud=["other", AUDIENCE]))))


@pytest.mark.parametrize("claim", ["iss", "aud", "exp"])
def test_missing_required_claim(api: TestClient, hs_settings: Settings, claim: str) -> None:
    assert_unauthorized(api.get(BASE, headers=bearer(hs_token(hs_settings, **{claim: DROP}))))


@pytest.mark.parametrize("claim", ["iss", "aud", "exp"])
def test_missing_required_claim_in_an_rs256_token(api: TestClient, claim: str) -> None:
    assert_unauthorized(api.get(BASE, headers=bearer(rs_token(**{claim: DROP}))))


def test_missing_tenant_id(api: TestClient, hs_settings: Settings) -> None:
    error = assert_unauthorized(api.get(BASE, headers=bearer(hs_token(hs_settings, tenant_id=DROP))))
    assert "tenant_id" in error["message"]


@pytest.mark.parametrize("value", ["", 42, ["t1"]])
def test_tenant_id_that_is_not_a_string(api: TestClient, hs_settings: Settings, value: Any) -> None:
    assert_unauthorized(api.get(BASE, headers=bearer(hs_token(hs_settings, tenant_id=value))))


def test_missing_user_id_and_sub(api: TestClient, hs_settings: Settings) -> None:
    error = assert_unauthorized(api.get(BASE, headers=bearer(hs_token(hs_settings, user_id=DROP, sub=DROP))))
    assert "user_id" in error["message"]


@pytest.mark.parametrize("roles", ["admin", {"admin": True}, ["viewer", 1], "viewer admin"])
def test_roles_not_a_list_of_strings(api: TestClient, hs_settings: Settings, roles: Any) -> None:
    error = assert_unauthorized(api.get(BASE, headers=bearer(hs_token(hs_settings, roles=roles))))
    assert "roles" in error["message"]


@pytest.mark.parametrize("permissions", ["environments:read", [["environments:read"]]])
def test_permissions_not_a_list_of_strings(api: TestClient, hs_settings: Settings, permissions: Any) -> None:
    assert_unauthorized(api.get(BASE, headers=bearer(hs_token(hs_settings, permissions=permissions))))


# --- algorithms and keys ----------------------------------------------------


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_alg_none_unsigned(api: TestClient, alg: str) -> None:
    token = hand_made({"alg": alg, "typ": "JWT"}, claims(roles=["admin"]))
    assert token.endswith(".")
    assert_unauthorized(api.get(BASE, headers=bearer(token)))


@pytest.mark.parametrize("alg", ["none", "None"])
def test_alg_none_with_a_valid_looking_signature(api: TestClient, hs_settings: Settings, alg: str) -> None:
    payload = claims(roles=["admin"])
    # A signature that is genuinely valid for the same payload under HS256.
    real = jose_jwt.encode(payload, hs_settings.auth_hs_secret, algorithm="HS256")
    token = hand_made({"alg": alg, "typ": "JWT"}, payload, real.split(".")[2])
    assert_unauthorized(api.get(BASE, headers=bearer(token)))


def test_alg_header_missing(api: TestClient, hs_settings: Settings) -> None:
    token = hs256_by_hand({"typ": "JWT"}, claims(), hs_settings.auth_hs_secret.encode())
    assert_unauthorized(api.get(BASE, headers=bearer(token)))


def test_algorithm_outside_the_allow_list(api: TestClient, hs_settings: Settings) -> None:
    # HS512 with the right secret is still refused: only HS256, RS256 and ES256 are allowed.
    token = jose_jwt.encode(claims(), hs_settings.auth_hs_secret, algorithm="HS512")
    assert_unauthorized(api.get(BASE, headers=bearer(token)))


def test_rsa_public_key_used_as_hs256_secret(api: TestClient) -> None:
    """The classic key-confusion attack: the server trusts this RSA public key."""
    pem = public_pem(rsa_key())
    for secret in (pem.encode(), pem.strip().encode()):
        token = hs256_by_hand({"alg": "HS256", "typ": "JWT"}, claims(roles=["admin"]), secret)
        assert_unauthorized(api.get(BASE, headers=bearer(token)))
        assert_unauthorized(api.post(BASE, json={"name": "pwned"}, headers=bearer(token)))


def test_rsa_public_key_used_as_hs256_secret_on_an_asymmetric_only_server(
    asymmetric_only: tuple[TestClient, Settings],
) -> None:
    client, _ = asymmetric_only
    token = hs256_by_hand({"alg": "HS256", "typ": "JWT"}, claims(), public_pem(rsa_key()).encode())
    assert_unauthorized(client.get(BASE, headers=bearer(token)))


def test_hs256_token_when_only_asymmetric_keys_are_configured(
    asymmetric_only: tuple[TestClient, Settings], hs_settings: Settings
) -> None:
    client, _ = asymmetric_only
    # Signed with a perfectly good secret, just not one this server was given.
    assert_unauthorized(client.get(BASE, headers=bearer(hs_token(hs_settings))))


def test_rs256_token_signed_by_an_untrusted_key(api: TestClient) -> None:
    assert_unauthorized(api.get(BASE, headers=bearer(rs_token(rsa_key("attacker")))))


def test_es256_token_signed_by_an_untrusted_key(api: TestClient) -> None:
    assert_unauthorized(api.get(BASE, headers=bearer(es_token(ec_key("attacker")))))


def test_rs256_header_on_an_es256_signature(api: TestClient) -> None:
    es = es_token()
    header, payload, signature = es.split(".")
    forged = ".".join([b64url(json.dumps({"alg": "RS256", "typ": "JWT"}).encode()), payload, signature])
    assert_unauthorized(api.get(BASE, headers=bearer(forged)))


@pytest.mark.parametrize("kind", ["hs256", "rs256"])
def test_tampered_payload(api: TestClient, hs_settings: Settings, kind: str) -> None:
    token = hs_token(hs_settings) if kind == "hs256" else rs_token()
    assert_accepted(api.get(BASE, headers=bearer(token)))
    header, payload, signature = token.split(".")
    values = json.loads(b64url_decode(payload))
    values["tenant_id"] = "tenant-of-someone-else"
    tampered = ".".join([header, b64url(json.dumps(values).encode()), signature])
    assert_unauthorized(api.get(BASE, headers=bearer(tampered)))


@pytest.mark.parametrize("name", ["jku", "x5u", "jwk", "x5c"])
def test_key_location_headers_are_refused_even_on_a_valid_token(
    api: TestClient, hs_settings: Settings, name: str
) -> None:
    values = {
        "jku": "https://evil.example/jwks.json",
        "x5u": "https://evil.example/cert.pem",
        "jwk": public_jwk(rsa_key(), "RS256", "trusted"),
        "x5c": ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"],
    }
    # Control: the same token without the header passes.
    assert_accepted(api.get(BASE, headers=bearer(rs_token())))
    assert_unauthorized(api.get(BASE, headers=bearer(hs_token(hs_settings, headers={name: values[name]}))))
    assert_unauthorized(api.get(BASE, headers=bearer(rs_token(headers={name: values[name]}))))


def test_self_signed_token_with_its_own_embedded_jwk_is_refused(api: TestClient) -> None:
    attacker = rsa_key("attacker")
    token = rs_token(attacker, headers={"jwk": public_jwk(attacker, "RS256", "evil")}, roles=["admin"])
    assert_unauthorized(api.get(BASE, headers=bearer(token)))


def test_kid_that_is_not_a_string(api: TestClient) -> None:
    assert_unauthorized(api.get(BASE, headers=bearer(rs_token(headers={"kid": 7}))))


# --- JWKS ---------------------------------------------------------------------


def test_unknown_kid_with_a_jwks_configured(database_url: str, tmp_path: Path, jwks: JwksServer) -> None:
    jwks.document = {"keys": [public_jwk(rsa_key("a"), "RS256", "a")]}
    with jwks_app(database_url, tmp_path, jwks) as (client, _):
        assert_accepted(client.get(BASE, headers=bearer(rs_token(rsa_key("a"), headers={"kid": "a"}))))
        # Signed by the trusted key, but naming a kid the key set does not have.
        error = assert_unauthorized(client.get(BASE, headers=bearer(rs_token(rsa_key("a"), headers={"kid": "zzz"}))))
        assert "unknown key id" in error["message"]
        # A kid is never resolved anywhere but the configured set: no kid, no key.
        assert_unauthorized(client.get(BASE, headers=bearer(rs_token(rsa_key("a")))))


def test_jwks_rotation_is_picked_up_without_a_restart(database_url: str, tmp_path: Path, jwks: JwksServer) -> None:
    key_a, key_b = rsa_key("a"), rsa_key("b")
    jwks.document = {"keys": [public_jwk(key_a, "RS256", "a")]}
    with jwks_app(database_url, tmp_path, jwks, auth_jwks_cache_seconds=0) as (client, _):
        assert_accepted(client.get(BASE, headers=bearer(rs_token(key_a, headers={"kid": "a"}))))
        assert_unauthorized(client.get(BASE, headers=bearer(rs_token(key_b, headers={"kid": "b"}))))

        jwks.document = {"keys": [public_jwk(key_b, "RS256", "b")]}
        assert_accepted(client.get(BASE, headers=bearer(rs_token(key_b, headers={"kid": "b"}))))
        # A was removed from the document: once the cache refreshes, its tokens fail.
        assert_unauthorized(client.get(BASE, headers=bearer(rs_token(key_a, headers={"kid": "a"}))))
        # Key B's signature under kid "a" (a kid that no longer exists) fails too.
        assert_unauthorized(client.get(BASE, headers=bearer(rs_token(key_b, headers={"kid": "a"}))))


def test_new_kid_triggers_a_refresh_while_the_cache_is_fresh(
    database_url: str, tmp_path: Path, jwks: JwksServer
) -> None:
    key_a, key_b = rsa_key("a"), ec_key("b")
    jwks.document = {"keys": [public_jwk(key_a, "RS256", "a")]}
    with jwks_app(database_url, tmp_path, jwks, auth_jwks_cache_seconds=300) as (client, _):
        for _ in range(3):
            assert_accepted(client.get(BASE, headers=bearer(rs_token(key_a, headers={"kid": "a"}))))
        assert jwks.hits == 1  # cached
        jwks.document = {"keys": [public_jwk(key_a, "RS256", "a"), public_jwk(key_b, "ES256", "b")]}
        assert_accepted(client.get(BASE, headers=bearer(es_token(key_b, headers={"kid": "b"}))))
        assert jwks.hits == 2


def test_unknown_kids_do_not_hammer_the_identity_provider(database_url: str, tmp_path: Path, jwks: JwksServer) -> None:
    key_a = rsa_key("a")
    jwks.document = {"keys": [public_jwk(key_a, "RS256", "a")]}
    with jwks_app(database_url, tmp_path, jwks, auth_jwks_min_refresh_seconds=3600) as (client, _):
        assert_accepted(client.get(BASE, headers=bearer(rs_token(key_a, headers={"kid": "a"}))))
        for i in range(5):
            assert_unauthorized(client.get(BASE, headers=bearer(rs_token(key_a, headers={"kid": f"forged-{i}"}))))
        assert jwks.hits <= 2
        assert_accepted(client.get(BASE, headers=bearer(rs_token(key_a, headers={"kid": "a"}))))


def test_jwks_key_declared_for_another_algorithm(database_url: str, tmp_path: Path, jwks: JwksServer) -> None:
    entry = public_jwk(rsa_key("a"), "RS256", "a")
    jwks.document = {"keys": [entry]}
    with jwks_app(database_url, tmp_path, jwks) as (client, _):
        # ES256 token naming an RS256 key.
        assert_unauthorized(client.get(BASE, headers=bearer(es_token(ec_key("a"), headers={"kid": "a"}))))


def test_jwks_encryption_keys_are_not_used_for_signatures(database_url: str, tmp_path: Path, jwks: JwksServer) -> None:
    entry = public_jwk(rsa_key("a"), "RS256", "a") | {"use": "enc"}
    jwks.document = {"keys": [entry]}
    with jwks_app(database_url, tmp_path, jwks) as (client, _):
        assert_unauthorized(client.get(BASE, headers=bearer(rs_token(rsa_key("a"), headers={"kid": "a"}))))


def test_jwks_unreachable_is_a_401(database_url: str, tmp_path: Path, jwks: JwksServer) -> None:
    jwks.status = 503
    with jwks_app(database_url, tmp_path, jwks) as (client, _):
        error = assert_unauthorized(client.get(BASE, headers=bearer(rs_token(rsa_key("a"), headers={"kid": "a"}))))
        assert "unavailable" in error["message"]


def test_jwks_outage_keeps_the_keys_already_fetched(database_url: str, tmp_path: Path, jwks: JwksServer) -> None:
    key_a = rsa_key("a")
    jwks.document = {"keys": [public_jwk(key_a, "RS256", "a")]}
    with jwks_app(database_url, tmp_path, jwks, auth_jwks_cache_seconds=0) as (client, _):
        assert_accepted(client.get(BASE, headers=bearer(rs_token(key_a, headers={"kid": "a"}))))
        jwks.status = 500
        assert_accepted(client.get(BASE, headers=bearer(rs_token(key_a, headers={"kid": "a"}))))


def test_an_identity_provider_outage_does_not_make_every_request_refetch(
    database_url: str, tmp_path: Path, jwks: JwksServer
) -> None:
    key_a = rsa_key("a")
    jwks.document = {"keys": [public_jwk(key_a, "RS256", "a")]}
    overrides = {"auth_jwks_cache_seconds": 0, "auth_jwks_min_refresh_seconds": 3600}
    with jwks_app(database_url, tmp_path, jwks, **overrides) as (client, _):
        assert_accepted(client.get(BASE, headers=bearer(rs_token(key_a, headers={"kid": "a"}))))
        jwks.status = 500
        for _ in range(5):  # stale cache, provider down: the keys fetched last still verify
            assert_accepted(client.get(BASE, headers=bearer(rs_token(key_a, headers={"kid": "a"}))))
        assert jwks.hits == 1


@pytest.mark.parametrize(
    "body",
    [
        b"not json at all",
        b"[1, 2, 3]",
        b'"keys"',
        b'{"keys": "nope"}',
        b'{"keys": [1, "two", null]}',
        b'{"keys": [{"kid": ["a"], "kty": "RSA"}]}',
        b'{"keys": [{"kid": "a", "kty": "RSA"}]}',
    ],
)
def test_malformed_jwks_document_is_a_401_not_a_500(
    database_url: str, tmp_path: Path, jwks: JwksServer, body: bytes
) -> None:
    jwks.body = body
    with jwks_app(database_url, tmp_path, jwks) as (client, _):
        assert_unauthorized(client.get(BASE, headers=bearer(rs_token(rsa_key("a"), headers={"kid": "a"}))))


def test_a_remembered_token_still_expires_on_time(tmp_path: Path) -> None:
    """Verified tokens are remembered (the signature is checked once), never past their exp."""
    import asyncio
    import time as _time

    from shiplane.platform.jwt import TokenError, TokenVerifier, mint_token

    settings = Settings(mode="development", data_dir=tmp_path, auth_hs_secret="s" * 40, auth_leeway_seconds=0).prepare()
    verifier = TokenVerifier(settings)
    token = mint_token(settings, user_id="u", tenant_id="t", roles=["viewer"], lifetime_seconds=1)

    async def run() -> None:
        assert (await verifier.verify(token)).user_id == "u"
        assert (await verifier.verify(token)).user_id == "u"  # from memory
        await asyncio.sleep(max(0.0, int(_time.time()) + 1.05 - _time.time()) + 1.0)
        with pytest.raises(TokenError, match="expired"):
            await verifier.verify(token)

    asyncio.run(run())


def test_a_jwks_that_cannot_be_refreshed_is_trusted_for_a_bounded_time(
    database_url: str, tmp_path: Path, jwks: JwksServer
) -> None:
    key_a = rsa_key("a")
    jwks.document = {"keys": [public_jwk(key_a, "RS256", "a")]}
    overrides = {"auth_jwks_cache_seconds": 0, "auth_jwks_min_refresh_seconds": 0, "auth_jwks_max_stale_seconds": 1}
    with jwks_app(database_url, tmp_path, jwks, **overrides) as (client, _):
        assert_accepted(client.get(BASE, headers=bearer(rs_token(key_a, headers={"kid": "a"}, nonce="1"))))
        assert client.get("/readyz").status_code == 200
        jwks.status = 500
        time.sleep(1.2)  # past the staleness limit (a limit, not a timing assertion)
        refused = client.get(BASE, headers=bearer(rs_token(key_a, headers={"kid": "a"}, nonce="2")))
        assert refused.status_code == 401, refused.text
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["error"]["details"] == {"jwks": "stale"}
        jwks.status = 200  # the provider is back: the next token fetches and verifies again
        assert_accepted(client.get(BASE, headers=bearer(rs_token(key_a, headers={"kid": "a"}, nonce="3"))))
        assert client.get("/readyz").status_code == 200


def test_an_identity_providers_tokens_and_service_account_tokens_work_side_by_side(
    database_url: str, tmp_path: Path, jwks: JwksServer
) -> None:
    """Production with an OIDC provider's JWKS: its RS256 tokens, and the server's own
    ES256 service-account tokens (another issuer, another key set), both accepted; a
    token of one issuer signed with the other's key is not."""
    from shiplane.serviceaccounts.tokens import write_new_key

    key = rsa_key("idp")
    jwks.document = {"keys": [public_jwk(key, "RS256", "idp")]}
    oauth_key = tmp_path / "oauth.pem"
    write_new_key(oauth_key)
    with jwks_app(database_url, tmp_path, jwks, oauth_signing_key_path=oauth_key) as (client, _):
        person = claims(roles=["admin"])
        admin = bearer(rs_token(key, headers={"kid": "idp"}, **person))
        made = client.post("/api/v1/service-accounts", json={"name": "ci", "roles": ["viewer"]}, headers=admin)
        assert made.status_code == 201, made.text
        data = made.json()["data"]
        issued = client.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=(data["clientId"], data["clientSecret"])
        )
        assert issued.status_code == 200, issued.text
        access = issued.json()["access_token"]
        assert_accepted(client.get(BASE, headers=bearer(access)))
        assert_accepted(client.get(BASE, headers=admin))
        # The provider's issuer on a token signed with the server's key: refused (and the reverse).
        forged = jose_jwt.get_unverified_claims(access) | {"iss": ISSUER}
        kid = jose_jwt.get_unverified_header(access)["kid"]
        own = jose_jwt.encode(forged, oauth_key.read_text(), algorithm="ES256", headers={"kid": kid})
        assert_unauthorized(client.get(BASE, headers=bearer(own)))
        as_ours = rs_token(key, headers={"kid": "idp"}, **(person | {"iss": "shiplane"}))
        assert_unauthorized(client.get(BASE, headers=bearer(as_ours)))
