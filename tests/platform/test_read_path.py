"""The read path (platform/reads.py): keyset cursors, exact totals from trigger-kept
counts, one statement per list, an index for every sort, and the tenant condition on
every statement that reaches the read engine."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from shiplane.agents.service import LIST_SPEC as AGENT_SPEC
from shiplane.audit.api import LIST_SPEC as AUDIT_SPEC
from shiplane.components.service import LIST_SPEC as COMPONENT_SPEC
from shiplane.environments.service import LIST_SPEC as ENVIRONMENT_SPEC
from shiplane.integrations.service import LIST_SPEC as INTEGRATION_SPEC
from shiplane.models import metadata
from shiplane.platform.listing import parse_list_params
from shiplane.platform.reads import TENANT_OPTION, _page_statements
from shiplane.plugins.instances import INSTANCE_LIST_SPEC
from shiplane.releases.service import LIST_SPEC as RELEASE_SPEC
from shiplane.targets.service import LIST_SPEC as TARGET_SPEC
from sqlalchemy import create_engine, event
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from tests.api.plugins import app_client, caller_for, enable
from tests.conftest import PG_URL, Caller, assert_error, run_sql

ENVIRONMENTS = "/api/v1/environments"
SPECS = {
    "environments": ENVIRONMENT_SPEC,
    "plugin_instances": INSTANCE_LIST_SPEC,
    "audit_events": AUDIT_SPEC,
    "agents": AGENT_SPEC,
    "targets": TARGET_SPEC,
    "integrations": INTEGRATION_SPEC,
    "components": COMPONENT_SPEC,
    "releases": RELEASE_SPEC,
}
TENANT_TABLES = tuple(
    name for name, table in metadata.tables.items() if "tenant_id" in table.c and name != "tenant_row_counts"
)


def seed(caller: Caller, count: int, start: int = 0) -> None:
    for i in range(start, start + count):
        body = {"name": f"env-{i:03d}", "displayName": f"Env {i % 4}", "order": i % 7, "isProduction": i % 3 == 0}
        assert caller.post(ENVIRONMENTS, json=body).status_code == 201


def get_page(caller: Caller, path: str = ENVIRONMENTS, **params: Any) -> dict[str, Any]:
    response = caller.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def walk_by_cursor(caller: Caller, path: str = ENVIRONMENTS, **params: Any) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    body = get_page(caller, path, **params)
    while True:
        seen += body["data"]
        cursor = body["meta"]["pagination"]["nextCursor"]
        if cursor is None:
            assert body["meta"]["pagination"]["hasNext"] is False
            return seen
        body = get_page(caller, path, cursor=cursor, **params)


def walk_by_page(caller: Caller, path: str = ENVIRONMENTS, **params: Any) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    number = 1
    while True:
        body = get_page(caller, path, page=number, **params)
        seen += body["data"]
        if not body["meta"]["pagination"]["hasNext"]:
            return seen
        number += 1


# -- cursors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sort", ["order", "-order", "name", "-name", "displayName", "-displayName", "isProduction,-name", "-createdAt"]
)
def test_cursor_pages_return_every_row_once_in_the_order_of_page_numbers(admin: Caller, sort: str) -> None:
    seed(admin, 23)
    by_cursor = walk_by_cursor(admin, sort=sort, pageSize=4)
    by_page = walk_by_page(admin, sort=sort, pageSize=4)
    assert [e["id"] for e in by_cursor] == [e["id"] for e in by_page]
    assert len({e["id"] for e in by_cursor}) == 23


def test_cursor_pages_report_their_place_and_the_exact_total(admin: Caller) -> None:
    seed(admin, 10)
    first = get_page(admin, pageSize=4)["meta"]["pagination"]
    assert (first["page"], first["hasPrevious"], first["hasNext"], first["totalItems"]) == (1, False, True, 10)
    second = get_page(admin, pageSize=4, cursor=first["nextCursor"])["meta"]["pagination"]
    assert (second["page"], second["hasPrevious"], second["hasNext"], second["totalItems"]) == (2, True, True, 10)
    third = get_page(admin, pageSize=4, cursor=second["nextCursor"])
    meta = third["meta"]["pagination"]
    assert len(third["data"]) == 2
    assert (meta["page"], meta["hasNext"], meta["nextCursor"], meta["totalPages"]) == (3, False, None, 3)


def test_a_filtered_walk_by_cursor_keeps_the_filter(admin: Caller) -> None:
    seed(admin, 15)
    flt = json.dumps({"isProduction": True})
    rows = walk_by_cursor(admin, filter=flt, pageSize=2, sort="-name")
    assert [e["name"] for e in rows] == [f"env-{i:03d}" for i in (12, 9, 6, 3, 0)]
    assert get_page(admin, filter=flt, pageSize=2)["meta"]["pagination"]["totalItems"] == 5


def test_a_cursor_sees_rows_added_after_it_was_issued_in_their_place(admin: Caller) -> None:
    seed(admin, 4)
    first = get_page(admin, sort="name", pageSize=2)
    seed(admin, 1, start=50)  # env-050 sorts after every seeded name
    second = get_page(admin, sort="name", pageSize=2, cursor=first["meta"]["pagination"]["nextCursor"])
    third = get_page(admin, sort="name", pageSize=2, cursor=second["meta"]["pagination"]["nextCursor"])
    rest = second["data"] + third["data"]
    assert third["meta"]["pagination"]["nextCursor"] is None
    assert [e["name"] for e in rest] == ["env-002", "env-003", "env-050"]


def test_a_cursor_of_another_sort_or_filter_is_refused(admin: Caller) -> None:
    seed(admin, 3)
    cursor = get_page(admin, sort="name", pageSize=1)["meta"]["pagination"]["nextCursor"]
    for params in ({"sort": "-name"}, {"sort": "name", "filter": '{"isProduction": true}'}):
        error = assert_error(admin.get(ENVIRONMENTS, params={**params, "cursor": cursor}), 400, "VALIDATION_ERROR")
        assert error["validationErrors"][0]["field"] == "cursor"
        assert error["validationErrors"][0]["code"] == "cursor_mismatch"


@pytest.mark.parametrize(
    "cursor",
    ["", "not-base64!", "bm90IGpzb24", "W10", "eyJ2IjoxfQ", "x" * 5000],
)
def test_a_malformed_cursor_is_a_400_naming_it(admin: Caller, cursor: str) -> None:
    error = assert_error(admin.get(ENVIRONMENTS, params={"cursor": cursor}), 400, "VALIDATION_ERROR")
    assert error["validationErrors"][0]["field"] == "cursor"


def test_a_tampered_cursor_value_of_the_wrong_type_is_a_400(admin: Caller) -> None:
    import base64

    seed(admin, 3)
    cursor = get_page(admin, pageSize=1)["meta"]["pagination"]["nextCursor"]
    payload = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    payload["k"][0] = "not an integer"  # the default sort is order, an integer
    forged = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")
    error = assert_error(admin.get(ENVIRONMENTS, params={"cursor": forged}), 400, "VALIDATION_ERROR")
    assert error["validationErrors"][0]["code"] == "invalid_cursor"


def test_page_and_cursor_together_are_refused(admin: Caller) -> None:
    seed(admin, 3)
    cursor = get_page(admin, pageSize=1)["meta"]["pagination"]["nextCursor"]
    assert_error(admin.get(ENVIRONMENTS, params={"cursor": cursor, "page": 2}), 400, "VALIDATION_ERROR")


def test_a_cursor_never_crosses_tenants(admin: Caller, other_admin: Caller) -> None:
    seed(admin, 3)
    seed(other_admin, 3)
    cursor = get_page(admin, pageSize=1)["meta"]["pagination"]["nextCursor"]
    rows = get_page(other_admin, pageSize=5, cursor=cursor)["data"]
    assert rows and all(e["tenantId"] == other_admin.tenant_id for e in rows)


def test_audit_events_walk_by_cursor_over_a_nullable_sort(admin: Caller) -> None:
    # resourceId is null for refused creations: NULL sorts first ascending, last descending.
    seed(admin, 3)
    viewer_token_caller = Caller(admin.client, admin.token, admin.tenant_id, admin.user_id)
    assert viewer_token_caller.post(ENVIRONMENTS, json={"name": "BAD NAME"}).status_code == 400
    for sort in ("resourceId", "-resourceId", "requestId"):
        by_cursor = walk_by_cursor(admin, "/api/v1/audit-events", sort=sort, pageSize=2)
        by_page = walk_by_page(admin, "/api/v1/audit-events", sort=sort, pageSize=2)
        assert [e["id"] for e in by_cursor] == [e["id"] for e in by_page]


# -- exact totals ----------------------------------------------------------------------------


def test_totals_follow_creates_deletes_and_refused_writes(admin: Caller, other_admin: Caller) -> None:
    seed(admin, 5)
    seed(other_admin, 2)
    assert get_page(admin)["meta"]["pagination"]["totalItems"] == 5
    victim = get_page(admin)["data"][0]
    assert admin.delete(f"{ENVIRONMENTS}/{victim['id']}").status_code == 204
    # A refused write (name taken: its insert is rolled back) counts nothing.
    assert admin.post(ENVIRONMENTS, json={"name": "env-001"}).status_code == 409
    assert get_page(admin)["meta"]["pagination"]["totalItems"] == 4
    assert get_page(other_admin)["meta"]["pagination"]["totalItems"] == 2
    stored = run_sql(
        admin.client.app.state.shiplane.settings.effective_database_url,  # type: ignore[attr-defined]
        "SELECT count(*) FROM environments WHERE tenant_id = :t",
        {"t": admin.tenant_id},
    )
    assert stored[0][0] == 4


def test_a_page_past_the_end_still_reports_the_total(admin: Caller) -> None:
    seed(admin, 3)
    body = get_page(admin, page=9)
    assert body["data"] == []
    assert body["meta"]["pagination"]["totalItems"] == 3
    body = get_page(admin, page=9, filter='{"isProduction": true}')
    assert body["meta"]["pagination"]["totalItems"] == 1


# -- statements --------------------------------------------------------------------------------


@contextmanager
def read_statements(client: TestClient) -> Iterator[list[tuple[str, Any]]]:
    """Every statement the read engine runs meanwhile, with the tenant it ran for."""
    engines = client.app.state.shiplane.reads.engines  # type: ignore[attr-defined]
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append((statement, conn.get_execution_options().get(TENANT_OPTION)))

    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", record)


def missing_tenant_condition(statement: str) -> list[str]:
    """The tenant tables a statement reads without ``<table>.tenant_id =``."""
    missing = []
    for table in TENANT_TABLES:
        if re.search(rf"\b(FROM|JOIN)\s+{table}\b", statement) and f"{table}.tenant_id =" not in statement:
            missing.append(table)
    return missing


def test_the_tenant_check_itself_catches_a_missing_condition() -> None:
    assert missing_tenant_condition("SELECT environments.id FROM environments WHERE environments.id = ?") == [
        "environments"
    ]
    assert missing_tenant_condition("SELECT a FROM environments WHERE environments.tenant_id = ?") == []


def test_every_read_statement_carries_the_tenant_condition(admin: Caller, client: TestClient) -> None:
    seed(admin, 3)
    env = get_page(admin)["data"][0]
    instance = admin.post(
        "/api/v1/plugin-instances",
        json={"name": "strat", "pluginId": "builtin", "capabilityKind": "rolloutStrategy", "capabilityId": "rolling"},
    )
    paths = [
        ENVIRONMENTS,
        f"{ENVIRONMENTS}?filter=%7B%22isProduction%22%3Atrue%7D",
        f"{ENVIRONMENTS}/{env['id']}",
        "/api/v1/audit-events",
        "/api/v1/plugin-instances",
        "/api/v1/plugins",
        "/api/v1/plugins/builtin",
        "/api/v1/step-types",
    ]
    if instance.status_code == 201:
        paths.append(f"/api/v1/plugin-instances/{instance.json()['data']['id']}")
    with read_statements(client) as seen:
        for path in paths:
            assert admin.get(path).status_code == 200, path
    tenant_reads = [(sql, tenant) for sql, tenant in seen if tenant is not None]
    assert tenant_reads, "the routes above read nothing through the read path"
    for sql, tenant in tenant_reads:
        assert tenant == admin.tenant_id
        assert not missing_tenant_condition(sql), sql


def test_a_list_is_one_statement_once_the_plugin_decisions_are_cached(admin: Caller, client: TestClient) -> None:
    seed(admin, 3)
    get_page(admin)  # loads the tenant's plugin decisions
    with read_statements(client) as seen:
        get_page(admin)
        get_page(admin, sort="-name", filter='{"isProduction": false}')
    # The plugin-state cache's poll (no tenant) may run meanwhile: it is not the list's.
    seen = [(sql, tenant) for sql, tenant in seen if tenant is not None]
    assert len(seen) == 2, [sql for sql, _ in seen]
    assert all("OVER" not in sql.upper() for sql, _ in seen)


@pytest.mark.parametrize(
    ("table", "sort", "page"),
    [
        (table, ("-" if descending else "") + name, page)
        for table, spec in SPECS.items()
        for name, field in spec.fields.items()
        if field.sortable
        for descending in (False, True)
        for page in ("first", "cursor")
    ],
)
def test_every_allowed_sort_reads_an_index_in_order(database_url: str, table: str, sort: str, page: str) -> None:
    """The first page and a cursor page of every single-field sort: an index range, no sort step."""
    spec = SPECS[table]
    params = parse_list_params({"sort": sort}, spec)
    bound: dict[str, Any] = {"tenant": "t", "resource": table, "limit": 21}
    if page == "cursor":
        samples = {"string": "m", "integer": 5, "boolean": True, "datetime": datetime(2026, 1, 1, tzinfo=UTC)}
        params.after = [samples[key.kind] for key in params.keys]
        bound.update({f"after_{i}": value for i, value in enumerate(params.after)})
    statement, _ = _page_statements(spec, params)
    statement = statement.params(**bound)
    if database_url.startswith("sqlite"):
        engine = create_engine(database_url.replace("+aiosqlite", "+pysqlite"), poolclass=NullPool)
        sql = str(statement.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))
        with engine.connect() as conn:
            plan = "\n".join(str(row[-1]) for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
        engine.dispose()
        # The page reads an index in order: no sort step, no scan of the whole table.
        assert "TEMP B-TREE" not in plan, plan
        assert not re.search(rf"^SCAN {table}$", plan, re.MULTILINE), plan
        return

    async def explain() -> str:
        engine = create_async_engine(database_url, poolclass=NullPool)
        sql = str(statement.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))
        async with engine.connect() as conn:
            # With sorting priced out, only an index in the right order avoids a Sort node.
            await conn.exec_driver_sql("SET enable_sort = off")
            rows = (await conn.exec_driver_sql("EXPLAIN " + sql)).all()
        await engine.dispose()
        return "\n".join(str(row[0]) for row in rows)

    plan = asyncio.run(explain())
    assert "Sort" not in plan, plan
    first = params.keys[0]
    if page == "cursor" and first.kind != "boolean" and not (first.nullable and first.descending):
        # The cursor's row is where the index range starts, not a filter over the whole tenant.
        conditions = [line for line in plan.splitlines() if "Index Cond" in line]
        assert any(first.column.name in line for line in conditions), plan


# -- the tenant's plugin decisions, cached per process ------------------------------------------


def test_a_disable_in_one_process_shows_in_another_within_the_poll_interval(database_url: str, tmp_path: Path) -> None:
    with (
        app_client(database_url, tmp_path / "a", plugin_state_poll_seconds=0.2) as first,
        app_client(database_url, tmp_path / "b", plugin_state_poll_seconds=0.2) as second,
    ):
        admin = caller_for(first)
        enable(admin, "acme")
        gate = {"type": "change-ticket", "config": {"pattern": "^CHG-[0-9]+$"}}
        created = admin.post(ENVIRONMENTS, json={"name": "prod", "gates": [gate]})
        assert created.status_code == 201, created.text
        other = Caller(second, admin.token, admin.tenant_id, admin.user_id)
        path = f"{ENVIRONMENTS}/{created.json()['data']['id']}"
        assert "problem" not in other.get(path).json()["data"]["gates"][0]  # cached as enabled in the second
        assert admin.post("/api/v1/plugins/acme/disable").status_code == 200
        assert admin.get(path).json()["data"]["gates"][0]["problem"]["code"] == "PLUGIN_DISABLED"  # at once here
        deadline = time.monotonic() + 10
        while "problem" not in other.get(path).json()["data"]["gates"][0]:
            assert time.monotonic() < deadline, "the second process never saw the disable"
            time.sleep(0.1)
        # Writes never trust the cache: a new object on the disabled plugin is refused at once everywhere.
        assert_error(other.post(ENVIRONMENTS, json={"name": "qa", "gates": [gate]}), 422, "PLUGIN_DISABLED")


def test_bulk_sql_inserts_and_deletes_keep_the_counts_exact(database_url: str, make_caller: Any) -> None:
    first, second = make_caller(["admin"]), make_caller(["admin"], tenant_id=f"bulk-{time.time_ns()}")
    values = ", ".join(
        f"('{tenant}-{i}', '{tenant}', 'bulk-{i}', 'Bulk', '', {i}, false, '[]', 1, "
        f"'2026-11-30 00:00:00.000000', '2026-11-30 00:00:00.000000')"
        for tenant in (first.tenant_id, second.tenant_id)
        for i in range(30)
    )
    # One multi-row statement across two tenants, then one delete of part of it.
    run_sql(
        database_url,
        "INSERT INTO environments (id, tenant_id, name, display_name, description, position, is_production, "
        f"gates, version, created_at, updated_at) VALUES {values}",
    )
    run_sql(database_url, "DELETE FROM environments WHERE tenant_id = :t AND position < 10", {"t": first.tenant_id})
    assert get_page(first)["meta"]["pagination"]["totalItems"] == 20
    assert get_page(second)["meta"]["pagination"]["totalItems"] == 30
    assert len(walk_by_cursor(second, pageSize=100)) == 30


def test_metrics_show_reads_by_mode_cache_lookups_and_pool_use(admin: Caller, client: TestClient) -> None:
    def sample(text: str, name: str) -> float:
        match = re.search(rf"^{re.escape(name)} ([0-9.e+]+)$", text, re.MULTILINE)
        return float(match.group(1)) if match else 0.0

    mode = "async" if PG_URL else "loop"
    before = client.get("/metrics").text
    seed(admin, 2)
    for _ in range(3):
        get_page(admin)
    after = client.get("/metrics").text
    reads = f'shiplane_db_reads_total{{mode="{mode}"}}'
    assert sample(after, reads) - sample(before, reads) >= 3
    hits = 'shiplane_plugin_state_cache_lookups_total{result="hit"}'
    assert sample(after, hits) - sample(before, hits) >= 2
    assert 'shiplane_db_pool_checked_out{pool="read"}' in after
    assert 'shiplane_db_pool_checked_out{pool="write"}' in after


def test_lists_built_in_memory_refuse_a_cursor(admin: Caller) -> None:
    error = assert_error(admin.get("/api/v1/plugins", params={"cursor": "abc"}), 400, "VALIDATION_ERROR")
    assert error["validationErrors"][0]["field"] == "cursor"


def test_a_row_cannot_move_to_another_tenant(database_url: str, admin: Caller) -> None:
    seed(admin, 1)
    with pytest.raises(Exception, match="another tenant"):
        run_sql(
            database_url, "UPDATE environments SET tenant_id = 'elsewhere' WHERE tenant_id = :t", {"t": admin.tenant_id}
        )
    assert get_page(admin)["meta"]["pagination"]["totalItems"] == 1


def test_the_migration_goes_down_and_up_again(tmp_path: Path) -> None:
    from alembic import command
    from shiplane.platform.migrate import alembic_config, upgrade

    from tests.conftest import make_database

    for url in make_database(tmp_path):
        command.downgrade(alembic_config(url), "0003")
        upgrade(url)
        tables = run_sql(url, "SELECT count(*) FROM tenant_row_counts")
        assert tables[0][0] == 0


def test_a_custom_read_refuses_a_statement_without_the_tenant_condition() -> None:
    from shiplane.environments.models import Environment
    from shiplane.platform.reads import tenant_condition_missing, tenant_select
    from sqlalchemy import bindparam as bp
    from sqlalchemy import or_, select

    table = Environment.__table__
    assert tenant_condition_missing(tenant_select(table)) == []
    assert tenant_condition_missing(select(table)) == ["environments"]
    # Inside an OR the condition restricts nothing.
    assert tenant_condition_missing(select(table).where(or_(table.c.tenant_id == bp("tenant"), table.c.id == "x"))) == [
        "environments"
    ]
    inner = select(table.c.id).scalar_subquery()
    assert tenant_condition_missing(tenant_select(table).where(table.c.id == inner)) == ["environments"]


def test_custom_reads_run_in_one_snapshot_and_see_only_the_tenant(
    admin: Caller, other_admin: Caller, client: TestClient
) -> None:
    from shiplane.environments.models import Environment
    from shiplane.platform.reads import TenantReads, tenant_select
    from sqlalchemy import func

    seed(admin, 2)
    seed(other_admin, 3)
    table = Environment.__table__
    services = client.app.state.shiplane  # type: ignore[attr-defined]
    reads = TenantReads(services.reads, admin.tenant_id)

    def both(conn: Any) -> tuple[int, int]:
        names = conn.execute(tenant_select(table, table.c.name)).all()
        count = conn.execute(tenant_select(table, func.count())).scalar()
        return len(names), count

    async def run() -> tuple[int, int]:
        return await reads.run(both, snapshot=True)

    # The app's engines live on the TestClient's event loop: run there.
    assert client.portal.call(run) == (2, 2)  # type: ignore[attr-defined]

    def unscoped(conn: Any) -> Any:
        from sqlalchemy import select

        return conn.execute(select(table.c.name)).all()

    async def run_bad() -> Any:
        return await reads.run(unscoped)

    with pytest.raises(RuntimeError, match="tenant condition"):
        client.portal.call(run_bad)  # type: ignore[attr-defined]
