from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Boolean, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shiplane.platform.database import Base, TenantOwned, sort_indexes


class PluginTenantState(TenantOwned, Base):
    """A tenant admin's decision to enable or disable an installed plugin."""

    __tablename__ = "plugin_tenant_states"
    __table_args__ = (UniqueConstraint("tenant_id", "plugin_id", name="uq_plugin_states_tenant_plugin"),)

    plugin_id: Mapped[str] = mapped_column(String(128), nullable=False)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False)
    changed_by: Mapped[str] = mapped_column(String(255), nullable=False)


class PluginInstance(TenantOwned, Base):
    """A tenant's named configuration of one capability of a plugin."""

    __tablename__ = "plugin_instances"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name", name="uq_plugin_instances_tenant_name"),
        *sort_indexes("plugin_instances", "plugin_id", "capability_kind", "capability_id", "created_at", "updated_at"),
    )

    name: Mapped[str] = mapped_column(String(100), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    plugin_id: Mapped[str] = mapped_column(String(128), nullable=False, index=True)
    capability_kind: Mapped[str] = mapped_column(String(32), nullable=False)
    capability_id: Mapped[str] = mapped_column(String(128), nullable=False)
    # Secret fields are stored sealed ({"$encrypted": ...}); see platform/secrets.py.
    config: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
