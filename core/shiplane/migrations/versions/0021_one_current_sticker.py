"""at most one current version sticker per target

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-30 18:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Two jobs finishing on one target at once could each leave a current sticker: keep
    # the newest current, then make a second one impossible.
    op.execute(
        "UPDATE version_stickers SET current = false WHERE current AND id NOT IN ("
        " SELECT id FROM ("
        "  SELECT id, ROW_NUMBER() OVER (PARTITION BY target_id ORDER BY deployed_at DESC, id DESC) AS n"
        "  FROM version_stickers WHERE current"
        " ) AS ranked WHERE n = 1)"
    )
    op.create_index(
        "uq_version_stickers_target_current",
        "version_stickers",
        ["target_id"],
        unique=True,
        sqlite_where=sa.text("current"),
        postgresql_where=sa.text("current"),
    )


def downgrade() -> None:
    op.drop_index("uq_version_stickers_target_current", table_name="version_stickers")
