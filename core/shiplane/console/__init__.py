"""The web console: static HTML, CSS and JavaScript modules served by ``shiplane serve``.

``/`` is the console's ``index.html`` with a strict Content-Security-Policy (only this
origin, no inline script or style) and ``Cache-Control: no-cache``; its assets are under
``/console/``. The console is a client of the public API and nothing else: it has no
route of its own besides these files, and none of them is in the OpenAPI document.
"""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response

STATIC = Path(__file__).parent / "static"
_HOST = re.compile(r"[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]{2,45}\](:[0-9]{1,5})?")


def content_security_policy(request: Request) -> str:
    """Only this origin: scripts, styles, images, and the API over HTTP and WebSocket."""
    host = request.headers.get("host") or ""
    ws = "wss" if request.url.scheme == "https" else "ws"
    # The Host header is the client's: only a plain host[:port] goes into the header
    # (anything else could add directives); without it, 'self' alone.
    same_host_ws = f" {ws}://{host}" if _HOST.fullmatch(host) else ""
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
        f"connect-src 'self'{same_host_ws}; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    )


def mount_console(app: FastAPI) -> None:
    """Serve the console at ``/`` and its assets under ``/console/``."""
    index = (STATIC / "index.html").read_bytes()

    @app.get("/", include_in_schema=False)
    async def console_index(request: Request) -> Response:
        return Response(
            index,
            media_type="text/html; charset=utf-8",
            headers={
                "Content-Security-Policy": content_security_policy(request),
                "Cache-Control": "no-cache",
                "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer",
            },
        )

    app.mount("/console", StaticFiles(directory=STATIC), name="console")
