"""Every response the tests' callers receive is checked against the OpenAPI document.

``Caller`` (tests/conftest.py), and the ``call`` helpers of the tests that drive real
server processes (tests/api/agents/test_script_tasks.py's ``Stack``, tests/e2e), hand
each response to :func:`check`: the route that
answered is found the way Starlette dispatches (the app's routes in order), and the
JSON body is validated against the schema the document gives that operation and
status (``platform.openapi.returns`` models inside the success envelope, the error
envelope for errors). A route that grows a field its model lacks, or drops a required
one, fails whichever test called it. Statuses the document does not list, bodies
that are not JSON and files downloaded as attachments are left to the fuzzing (tests/fuzz), which checks those.
"""

from __future__ import annotations

import json
import re
from typing import Any

from jsonschema import Draft202012Validator

# One document for the whole run: every app is built by ``create_app`` from the same
# routes (none depends on settings), and building the document takes seconds.
_SHARED: list[_Document] = []


class _Document:
    def __init__(self, app: Any) -> None:
        self.document = app.openapi()
        # Each path template as a pattern; a template with more literal segments wins
        # (``/releases/from-latest`` over ``/releases/{release_id}``), as the routes are
        # declared in that order.
        self.paths = sorted(
            (
                (re.compile("^" + re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(p)) + "$"), p)
                for p in self.document["paths"]
            ),
            key=lambda item: item[1].count("{"),
        )
        self.validators: dict[tuple[str, str, str], Draft202012Validator | None] = {}

    def validator(self, path: str, method: str, status: str) -> Draft202012Validator | None:
        key = (path, method, status)
        if key not in self.validators:
            operation = self.document["paths"].get(path, {}).get(method, {})
            response = operation.get("responses", {}).get(status)
            schema = (response or {}).get("content", {}).get("application/json", {}).get("schema")
            self.validators[key] = (
                None
                if schema is None
                else Draft202012Validator({**schema, "components": self.document.get("components", {})})
            )
        return self.validators[key]

    def template_for(self, method: str, path: str) -> str | None:
        for pattern, template in self.paths:
            if pattern.match(path) and method.lower() in self.document["paths"][template]:
                return template
        return None


def document_for(app: Any | None) -> _Document:
    """The document of the run's apps (built from the first that asks; from a new app
    when a test of a real server process asks first)."""
    if not _SHARED:
        if app is None:
            from shiplane.app import create_app

            app = create_app()
        _SHARED.append(_Document(app))
    return _SHARED[0]


def check(app: Any | None, method: str, response: Any) -> None:
    """Validate ``response`` (an httpx response, from a TestClient or a real server process:
    ``app`` None) against the document."""
    document = document_for(app)
    if not response.headers.get("content-type", "").startswith("application/json"):
        return
    if response.headers.get("content-disposition", "").startswith("attachment"):
        return  # a file as it is (``platform.openapi.download``), checked by its own tests
    path = response.request.url.path
    template = document.template_for(method, path)
    if template is None:
        return
    validator = document.validator(template, method.lower(), str(response.status_code))
    if validator is None:
        return
    body = json.loads(response.content)
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
    if errors:
        where = [f"  {'.'.join(str(p) for p in e.absolute_path) or '(body)'}: {e.message[:300]}" for e in errors[:10]]
        raise AssertionError(
            f"{method} {path} answered {response.status_code} with a body the OpenAPI document does not"
            f" describe ({template}):\n" + "\n".join(where)
        )
