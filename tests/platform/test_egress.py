"""The egress policy: the server dials tenant-named URLs only where the policy allows,
checked on the address actually dialled (a real local HTTP server on loopback)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from shiplane.platform.egress import EgressPolicy
from shiplane.platform.settings import Settings
from shiplane.progressive.service import _probe


@pytest.fixture
def local_url() -> Iterator[str]:
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/healthz"
    server.shutdown()


def policy(mode: str = "production", **fields: Any) -> EgressPolicy:
    return EgressPolicy.from_settings(Settings(mode=mode, **fields))


def get(p: EgressPolicy, url: str) -> httpx.Response:
    async def go() -> httpx.Response:
        async with p.client() as client:
            return await client.get(url, timeout=5)

    return asyncio.run(go())


def test_production_refuses_loopback_and_the_metadata_service_unless_allowed(local_url: str) -> None:
    strict = policy()
    with pytest.raises(httpx.ConnectError, match="egress policy refuses 127.0.0.1"):
        get(strict, local_url)
    # By name too: "localhost" resolves to loopback, and the resolved address is checked.
    with pytest.raises(httpx.ConnectError, match="localhost: the egress policy refuses"):
        get(strict, local_url.replace("127.0.0.1", "localhost"))
    for address in ("169.254.169.254", "::ffff:169.254.169.254", "fd00:ec2::254", "0.0.0.0", "fe80::1%eth0"):
        assert strict.refusal(address), address
    for address in ("10.1.2.3", "192.168.0.10", "172.16.5.5", "8.8.8.8", "fd12::1"):
        assert strict.refusal(address) is None, address
    # Allowed explicitly: the same request goes through.
    assert get(policy(egress_allow_networks=["127.0.0.1/32"]), local_url).text == "ok"
    # Development allows loopback (one machine), still refuses the metadata service.
    dev = policy("development")
    assert get(dev, local_url).status_code == 200 and dev.refusal("169.254.169.254")
    # An operator's own deny list replaces the defaults.
    custom = policy("development", egress_deny_networks=["127.0.0.0/8"])
    assert custom.refusal("127.0.0.5") and custom.refusal("169.254.169.254") is None
    with pytest.raises(httpx.ConnectError, match="in 127.0.0.0/8"):
        get(custom, local_url)


def test_a_refused_probe_is_a_failed_measurement_with_the_reason(local_url: str) -> None:
    async def go() -> Any:
        async with policy().client(follow_redirects=False) as client:
            return await _probe(client, {"name": "up", "url": local_url, "expectStatus": [200]})

    measured = asyncio.run(go())
    assert measured.verdict == "fail" and "egress policy refuses 127.0.0.1" in measured.message


def test_the_create_time_check_refuses_by_address_and_lets_unresolved_names_wait() -> None:
    strict = policy("development")

    async def go() -> list[str | None]:
        return [
            await strict.check_url("http://169.254.169.254/latest/meta-data/"),
            await strict.check_url("http://10.0.0.1:8080/healthz"),
            await strict.check_url("http://name-that-does-not-resolve.invalid/"),
        ]

    refused, private, unresolved = asyncio.run(go())
    assert refused and "169.254.169.254" in refused
    assert private is None and unresolved is None
