"""protected environments (who may promote into one and roll it back) and rollback policies

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30 12:55:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("environments") as batch:
        batch.add_column(sa.Column("protection", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("rollback_policy", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("environments") as batch:
        batch.drop_column("rollback_policy")
        batch.drop_column("protection")
