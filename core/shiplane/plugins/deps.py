"""How other modules reach the plugin service from a request."""

from __future__ import annotations

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from shiplane.platform.auth import Principal
from shiplane.plugins.service import PluginService


def plugin_service(request: Request, session: AsyncSession, principal: Principal) -> PluginService:
    """For a write: the tenant's plugin decisions are read in the write's own transaction."""
    services = request.app.state.shiplane
    return PluginService(session, principal, services.plugins, services.secret_box, services.plugin_states)


def plugin_reads(request: Request, principal: Principal) -> PluginService:
    """For a read: the tenant's plugin decisions come from the process's cache."""
    services = request.app.state.shiplane
    return PluginService(None, principal, services.plugins, services.secret_box, services.plugin_states)
