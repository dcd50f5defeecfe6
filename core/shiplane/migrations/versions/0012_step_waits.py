"""workflow steps that wait for people: what they wait for, and the decisions made

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("workflow_steps") as batch:
        batch.add_column(sa.Column("wait", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("decisions", sa.JSON(), nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("workflow_steps") as batch:
        batch.drop_column("decisions")
        batch.drop_column("wait")
