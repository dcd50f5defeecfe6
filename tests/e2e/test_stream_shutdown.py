"""An idle WebSocket stream (the console's dashboard, a job's or run's stream) does not
hold up a stopping server: the stream listens for the close uvicorn sends at shutdown
(or a client going away) instead of noticing only at its next send."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from shiplane.platform.jwt import mint_token
from shiplane.platform.settings import Settings
from websockets.sync.client import connect

from tests.conftest import make_database
from tests.servers import clean_env, start_server

pytestmark = pytest.mark.slow


def test_a_server_with_an_idle_dashboard_stream_stops_at_once(tmp_path: Path) -> None:
    for url in make_database(tmp_path):
        env = clean_env(
            SHIPLANE_MODE="development",
            SHIPLANE_DATABASE_URL=url,
            SHIPLANE_DATA_DIR=str(tmp_path / "data"),
            SHIPLANE_LOG_LEVEL="WARNING",
            SHIPLANE_PLUGIN_HEALTH_PROBE_SECONDS="0",
        )
        server = start_server(env, tmp_path / "server")
        try:
            secret = (tmp_path / "data" / "dev-jwt-secret").read_text().strip()
            token = mint_token(Settings(auth_hs_secret=secret), user_id="u", tenant_id="demo", roles=["viewer"])
            ws_url = server.url.replace("http://", "ws://") + "/api/v1/dashboard/stream"
            with connect(ws_url, additional_headers={"Authorization": f"Bearer {token}"}, open_timeout=10) as ws:
                ws.recv(timeout=10)  # the stream is open (the agents' status comes first)
                os.kill(server.pid, signal.SIGTERM)
                # A graceful exit well before the harness's SIGKILL deadline (uvicorn ends by
                # re-raising the SIGTERM it handled: -15; without the listening it waited
                # for the idle stream until killed).
                assert server.process.wait(timeout=8) in (0, -signal.SIGTERM), server.output()[-3000:]
        finally:
            server.stop()
