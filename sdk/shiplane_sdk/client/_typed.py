"""Answers as the generated response models: ``data`` of a call, validated into the model
the server's OpenAPI document names for that operation.

:mod:`shiplane_sdk.client.models` ends with ``RESPONSES``, generated from the same
document as the models: ``(method, path template) -> (model name, list?)``. A call's
path is matched against the templates (more literal segments first, as the server's
routes are declared), and its ``data`` validated into that model (each item of a list).
Operations the document describes with no model (downloads, bare values) answer their
JSON as it came. The models keep fields a newer server adds (``model_extra``), so an
older client reads a newer server's answers.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

API = "/api/v1"


@cache
def _table() -> list[tuple[re.Pattern[str], str, type[Any], bool]]:
    from shiplane_sdk.client import models  # building the models takes a moment: on first use

    rows = []
    for (method, template), (name, many) in models.RESPONSES.items():
        pattern = re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$")
        rows.append((pattern, method, getattr(models, name), many, template.count("{")))
    rows.sort(key=lambda row: row[4])
    return [(pattern, method, model, many) for pattern, method, model, many, _ in rows]


def response_model(method: str, path: str) -> tuple[type[Any], bool] | None:
    """The model the document gives ``method path``'s data (and whether it is a list of them)."""
    url = path if path.startswith("/") else f"{API}/{path}"
    url = url.split("?", 1)[0]
    method = method.upper()
    for pattern, wanted, model, many in _table():
        if wanted == method and pattern.match(url):
            return model, many
    return None


def typed(method: str, path: str, data: Any) -> Any:
    """``data`` as its model instance (or a list of them); as it came when none is named."""
    if data is None:
        return None
    found = response_model(method, path)
    if found is None:
        return data
    model, many = found
    if many and isinstance(data, list):
        return [model.model_validate(item) for item in data]
    return model.model_validate(data)
