"""The OpenAPI document names what every /api/v1 success answer holds.

Each operation's success envelope carries a response model (``platform.openapi.returns``)
and every response the suite's callers receive is validated against it
(tests/openapi_conformance.py). This test fails the day a route is added without one, and
shows the conformance check catching a body that strays from its model.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests import openapi_conformance
from tests.conftest import Caller

# Answers that are not a JSON envelope: files and reports downloaded as they are.
NOT_JSON: set[tuple[str, str]] = {
    ("GET", "/api/v1/audit-reports/{report_id}/download"),
    ("GET", "/api/v1/evidence-packets/{packet_id}/download"),
    ("GET", "/api/v1/deployment-jobs/{job_id}/artifacts/{artifact_id}"),
}


def success_schemas(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    found = {}
    for path, operations in document["paths"].items():
        if not path.startswith("/api/v1/"):
            continue
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if status.startswith("2") and status != "204":
                    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
                    found[(method.upper(), path)] = schema
    return found


def test_every_success_answer_has_a_model(client: TestClient) -> None:
    schemas = success_schemas(client.app.openapi())  # type: ignore[attr-defined]
    assert len(schemas) > 100
    generic = sorted(
        key
        for key, schema in schemas.items()
        if key not in NOT_JSON and schema.get("$ref") == "#/components/schemas/SuccessEnvelope"
    )
    assert generic == [], f"operations whose success data the document does not describe: {generic}"
    names = client.app.openapi()["components"]["schemas"]  # type: ignore[attr-defined]
    assert not [name for name in names if "__" in name], "two models share a name (FastAPI mangled them)"


def test_a_body_that_strays_from_its_model_fails_the_check(admin: Caller) -> None:
    made = admin.post("/api/v1/environments", json={"name": "dev"})
    assert made.status_code == 201
    app = admin.client.app
    document = openapi_conformance.document_for(app)
    real = document.document
    try:
        strayed = copy.deepcopy(real)
        env = strayed["components"]["schemas"]["EnvironmentOut"]
        env["properties"]["renamed"] = env["properties"].pop("name")
        env["required"] = ["renamed" if r == "name" else r for r in env["required"]]
        document.document, document.validators = strayed, {}
        with pytest.raises(AssertionError, match=r"'name' was unexpected|'renamed' is a required property"):
            admin.get(f"/api/v1/environments/{made.json()['data']['id']}")
    finally:
        document.document, document.validators = real, {}
