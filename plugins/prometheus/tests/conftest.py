"""Fixtures of the prometheus plugin's tests (servers in prometheus_servers.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prometheus_servers import (
    BASIC_PASSWORD,
    BASIC_USER,
    AuthProxy,
    Exporter,
    FakeServer,
    RunningPrometheus,
    require_prometheus,
    running_auth_proxy,
    running_exporter,
    running_fake_server,
    start_prometheus,
)


@pytest.fixture(scope="session")
def exporter() -> Iterator[Exporter]:
    yield from running_exporter()


@pytest.fixture(scope="session")
def prometheus(exporter: Exporter, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPrometheus]:
    """A real Prometheus scraping ``exporter`` every second (one per test session)."""
    require_prometheus()
    server = start_prometheus(tmp_path_factory.mktemp("prometheus"), targets=[exporter.target])
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def basic_prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPrometheus]:
    """A real Prometheus that requires basic authentication (--web.config.file)."""
    require_prometheus()
    pytest.importorskip("bcrypt")
    server = start_prometheus(tmp_path_factory.mktemp("prometheus-basic"), basic_auth=(BASIC_USER, BASIC_PASSWORD))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def auth_proxy(prometheus: RunningPrometheus) -> Iterator[AuthProxy]:
    """A bearer-token-checking proxy in front of ``prometheus``."""
    yield from running_auth_proxy(prometheus.port)


@pytest.fixture
def fake() -> Iterator[FakeServer]:
    yield from running_fake_server()
