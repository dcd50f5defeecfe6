"""Per-request context (request id, tenant, user) carried in contextvars for logs and envelopes."""

from __future__ import annotations

import uuid
from contextvars import ContextVar

request_id_var: ContextVar[str | None] = ContextVar("shiplane_request_id", default=None)
tenant_var: ContextVar[str | None] = ContextVar("shiplane_tenant", default=None)
user_var: ContextVar[str | None] = ContextVar("shiplane_user", default=None)


def current_request_id() -> str:
    value = request_id_var.get()
    if value is None:
        value = str(uuid.uuid4())
        request_id_var.set(value)
    return value
