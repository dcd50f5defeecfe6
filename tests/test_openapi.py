"""The OpenAPI document describes what the API really does."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_every_operation_lists_its_real_errors_the_bearer_scheme_and_list_parameters(client: TestClient) -> None:
    document = client.get("/api/openapi.json").json()
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    assert "HTTPValidationError" not in document["components"]["schemas"]
    database_lists = {"/api/v1/environments", "/api/v1/plugin-instances", "/api/v1/audit-events"}
    # One object per tenant, not a list (GET returns it, PUT replaces it).
    singletons = {"/api/v1/retention-policy"}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            assert "422" not in responses or method in ("post", "put"), (method, path)
            assert responses["400"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorEnvelope")
            if not path.startswith("/api/v1/"):
                continue
            assert operation["security"] == [{"bearerAuth": []}], (method, path)
            for status in ("401", "403", "429"):
                assert status in responses, (method, path, status)
            if "{" in path:
                assert "404" in responses, (method, path)
            names = {p["name"] for p in operation.get("parameters", [])}
            if method == "get" and path in database_lists:
                assert {"page", "pageSize", "sort", "filter", "cursor"} <= names, path
            elif method == "get" and "{" not in path and path not in singletons:
                assert {"page", "pageSize"} <= names, path


def test_the_sort_parameter_names_exactly_the_sortable_fields(client: TestClient) -> None:
    import re

    document = client.get("/api/openapi.json").json()
    parameters = document["paths"]["/api/v1/environments"]["get"]["parameters"]
    pattern = next(p for p in parameters if p["name"] == "sort")["schema"]["pattern"]
    for accepted in ("", "name", "-order,name", "isProduction,-createdAt,displayName"):
        assert re.fullmatch(pattern, accepted), accepted
    for refused in ("k", "name,", "nam", "names", "-", "pluginId"):
        assert not re.fullmatch(pattern, refused), refused
