"""Variable sets: the configuration deployments need per environment and target."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shiplane.platform.database import Base, TenantOwned, sort_indexes


class VariableSet(TenantOwned, Base):
    __tablename__ = "variable_sets"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name", name="uq_variable_sets_tenant_name"),
        *sort_indexes("variable_sets", "created_at", "updated_at"),
    )

    name: Mapped[str] = mapped_column(String(100), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    # [{name, value (sealed when secret), secret, scope: {environments, targets, targetLabels}}]
    variables: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False, default=list)
    # Bumped by every change: a deployment records the revision of each set it used.
    revision: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    created_by: Mapped[str] = mapped_column(String(255), nullable=False)
