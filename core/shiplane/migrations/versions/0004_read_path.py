"""read path: an index per allowed sort (tenant first), exact row counts kept by triggers

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 02:40:00

A list must cost the same at 100,000 rows as at 1,000: every sort a list allows
walks an index ``(tenant_id, column, id)``, and the total comes from
``tenant_row_counts`` instead of counting the tenant's rows on every request.
The counts are kept by triggers, so every insert and delete counts, in its own
transaction. (On SQLite, a later batch migration that recreates one of these
tables drops its triggers: recreate them with ``row_count_triggers``.)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

COUNTED_TABLES = ("environments", "plugin_instances", "audit_events")


def row_count_triggers(dialect: str, table: str) -> list[str]:
    """DDL for the triggers that keep ``tenant_row_counts`` right for ``table``."""
    if dialect == "sqlite":
        return [
            f"""CREATE TRIGGER trg_{table}_count_insert AFTER INSERT ON {table} BEGIN
                INSERT INTO tenant_row_counts (tenant_id, resource, row_count) VALUES (NEW.tenant_id, '{table}', 1)
                ON CONFLICT (tenant_id, resource) DO UPDATE SET row_count = row_count + 1;
            END""",
            f"""CREATE TRIGGER trg_{table}_count_delete AFTER DELETE ON {table} BEGIN
                UPDATE tenant_row_counts SET row_count = row_count - 1
                WHERE tenant_id = OLD.tenant_id AND resource = '{table}';
            END""",
            # Rows never move between tenants; the counts (and tenancy) rely on it.
            f"""CREATE TRIGGER trg_{table}_tenant_fixed BEFORE UPDATE OF tenant_id ON {table}
                WHEN NEW.tenant_id IS NOT OLD.tenant_id BEGIN
                SELECT RAISE(ABORT, 'a row cannot move to another tenant');
            END""",
        ]
    # Per statement, with the statement's rows as a transition table: a multi-row
    # INSERT updates each tenant's count once (per row, a bulk load in one
    # transaction piles up versions of the one counter row and slows quadratically).
    return [
        f"""CREATE TRIGGER trg_{table}_count_insert AFTER INSERT ON {table}
            REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION shiplane_count_inserted()""",
        f"""CREATE TRIGGER trg_{table}_count_delete AFTER DELETE ON {table}
            REFERENCING OLD TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION shiplane_count_deleted()""",
        f"""CREATE TRIGGER trg_{table}_count_truncate AFTER TRUNCATE ON {table}
            FOR EACH STATEMENT EXECUTE FUNCTION shiplane_count_truncated()""",
        f"""CREATE TRIGGER trg_{table}_tenant_fixed BEFORE UPDATE OF tenant_id ON {table}
            FOR EACH ROW EXECUTE FUNCTION shiplane_tenant_fixed()""",
    ]


# Tenants in a fixed order, so two bulk statements lock counter rows in the same order.
PG_COUNT_FUNCTIONS = [
    """
CREATE OR REPLACE FUNCTION shiplane_count_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO tenant_row_counts (tenant_id, resource, row_count)
    SELECT tenant_id, TG_TABLE_NAME, count(*) FROM changed_rows GROUP BY tenant_id ORDER BY tenant_id
    ON CONFLICT (tenant_id, resource) DO UPDATE SET row_count = tenant_row_counts.row_count + EXCLUDED.row_count;
    RETURN NULL;
END $$
""",
    """
CREATE OR REPLACE FUNCTION shiplane_count_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    gone RECORD;
BEGIN
    FOR gone IN SELECT tenant_id, count(*) AS n FROM changed_rows GROUP BY tenant_id ORDER BY tenant_id LOOP
        UPDATE tenant_row_counts SET row_count = row_count - gone.n
        WHERE tenant_id = gone.tenant_id AND resource = TG_TABLE_NAME;
    END LOOP;
    RETURN NULL;
END $$
""",
    """
CREATE OR REPLACE FUNCTION shiplane_count_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM tenant_row_counts WHERE resource = TG_TABLE_NAME;
    RETURN NULL;
END $$
""",
    """
CREATE OR REPLACE FUNCTION shiplane_tenant_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.tenant_id IS DISTINCT FROM OLD.tenant_id THEN
        RAISE EXCEPTION 'a row cannot move to another tenant';
    END IF;
    RETURN NEW;
END $$
""",
]


def backfill_row_counts(table: str) -> sa.TextClause:
    return sa.text(
        f"INSERT INTO tenant_row_counts (tenant_id, resource, row_count) "
        f"SELECT tenant_id, '{table}', count(*) FROM {table} GROUP BY tenant_id"
    )


# table -> columns that lists sort on (unique sorts already have their unique index).
SORT_INDEXES: dict[str, list[str]] = {
    "environments": ["position", "display_name", "is_production", "created_at", "updated_at"],
    "plugin_instances": ["plugin_id", "capability_kind", "capability_id", "created_at", "updated_at"],
    "audit_events": [
        "occurred_at",
        "action",
        "actor_type",
        "actor_id",
        "resource_type",
        "resource_id",
        "outcome",
        "request_id",
    ],
}
# Columns that may be NULL sort NULL first: PostgreSQL's index must say so to serve the sort.
NULLABLE_SORTS = {("audit_events", "resource_id"), ("audit_events", "request_id")}
REPLACED = {"audit_events": ["ix_audit_events_tenant_action"]}


def upgrade() -> None:
    bind = op.get_bind()
    dialect = bind.dialect.name
    op.create_table(
        "tenant_row_counts",
        sa.Column("tenant_id", sa.String(length=128), nullable=False),
        sa.Column("resource", sa.String(length=64), nullable=False),
        sa.Column("row_count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "resource"),
    )
    for table, columns in SORT_INDEXES.items():
        for name in REPLACED.get(table, []):
            op.drop_index(name, table_name=table)
        for column in columns:
            expression: str | sa.TextClause = column
            if dialect == "postgresql" and (table, column) in NULLABLE_SORTS:
                expression = sa.text(f"{column} NULLS FIRST")
            op.create_index(f"ix_{table}_tenant_{column}", table, ["tenant_id", expression, "id"])
    if dialect == "postgresql":
        for function in PG_COUNT_FUNCTIONS:
            op.execute(function)
    for table in COUNTED_TABLES:
        op.execute(backfill_row_counts(table))
        for statement in row_count_triggers(dialect, table):
            op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for table in COUNTED_TABLES:
        for suffix in ("count_insert", "count_delete", "count_truncate", "tenant_fixed"):
            on = "" if dialect == "sqlite" else f" ON {table}"
            op.execute(f"DROP TRIGGER IF EXISTS trg_{table}_{suffix}{on}")
    if dialect == "postgresql":
        for function in ("count_inserted", "count_deleted", "count_truncated", "tenant_fixed"):
            op.execute(f"DROP FUNCTION IF EXISTS shiplane_{function}()")
    for table, columns in SORT_INDEXES.items():
        for column in columns:
            op.drop_index(f"ix_{table}_tenant_{column}", table_name=table)
    op.create_index("ix_audit_events_tenant_action", "audit_events", ["tenant_id", "action"])
    op.drop_table("tenant_row_counts")
