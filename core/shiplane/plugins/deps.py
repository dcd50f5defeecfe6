"""How other modules reach the plugin service from a request."""

from __future__ import annotations

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from shiplane.platform.auth import Principal
from shiplane.plugins.service import PluginService


def plugin_service(request: Request, session: AsyncSession, principal: Principal) -> PluginService:
    services = request.app.state.shiplane
    return PluginService(session, principal, services.plugins, services.secret_box)
