"""service accounts (OAuth client credentials) and the keys access tokens are signed with

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-30 18:20:00
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def _counted(table: str) -> None:
    # The row-count triggers of migration 0004, as every listed table has them.
    spec = importlib.util.spec_from_file_location(
        "shiplane_migration_0004", Path(__file__).with_name("0004_read_path.py")
    )
    assert spec is not None and spec.loader is not None
    read_path = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(read_path)
    for statement in read_path.row_count_triggers(op.get_bind().dialect.name, table):
        op.execute(statement)


def upgrade() -> None:
    op.create_table(
        "service_accounts",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("secret_rotated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_token_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "name", name="uq_service_accounts_tenant_name"),
    )
    op.create_index("ix_service_accounts_tenant_id", "service_accounts", ["tenant_id"])
    for column in ("created_at", "updated_at"):
        op.create_index(f"ix_service_accounts_tenant_{column}", "service_accounts", ["tenant_id", column, "id"])
    _counted("service_accounts")
    op.create_table(
        "oauth_signing_keys",
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("algorithm", sa.String(length=16), nullable=False),
        sa.Column("public_jwk", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key_id"),
    )


def downgrade() -> None:
    op.drop_table("oauth_signing_keys")
    op.drop_table("service_accounts")
    op.execute("DELETE FROM tenant_row_counts WHERE resource IN ('service_accounts')")
