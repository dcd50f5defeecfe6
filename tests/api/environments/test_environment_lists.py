"""Environment lists: pagination at the edges, sort and filter, and every invalid value."""

from __future__ import annotations

import json

import pytest

from tests.conftest import Caller, assert_error

BASE = "/api/v1/environments"


def seed(caller: Caller, count: int) -> None:
    for i in range(count):
        response = caller.post(BASE, json={"name": f"env-{i:03d}", "order": i, "isProduction": i % 5 == 0})
        assert response.status_code == 201


def page(caller: Caller, **params: object) -> dict:
    response = caller.get(BASE, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_empty_list_has_exact_meta(admin: Caller) -> None:
    body = page(admin)
    assert body["data"] == []
    assert body["meta"]["pagination"] == {
        "page": 1,
        "pageSize": 20,
        "totalItems": 0,
        "totalPages": 0,
        "hasNext": False,
        "hasPrevious": False,
        "nextCursor": None,
    }


def test_last_page_and_beyond(admin: Caller) -> None:
    seed(admin, 45)
    last = page(admin, page=3)
    assert [e["name"] for e in last["data"]] == [f"env-{i:03d}" for i in range(40, 45)]
    assert last["meta"]["pagination"] == {
        "page": 3,
        "pageSize": 20,
        "totalItems": 45,
        "totalPages": 3,
        "hasNext": False,
        "hasPrevious": True,
        "nextCursor": None,
    }
    first = page(admin, page=1)["meta"]["pagination"]
    assert first["hasNext"] is True and first["hasPrevious"] is False
    beyond = page(admin, page=4)
    assert beyond["data"] == [] and beyond["meta"]["pagination"]["totalItems"] == 45


def test_page_size_100_is_allowed_and_101_is_400(admin: Caller) -> None:
    seed(admin, 101)
    body = page(admin, pageSize=100)
    assert len(body["data"]) == 100
    assert body["meta"]["pagination"]["totalPages"] == 2 and body["meta"]["pagination"]["hasNext"] is True
    assert len(page(admin, pageSize=100, page=2)["data"]) == 1
    error = assert_error(admin.get(BASE, params={"pageSize": 101}), 400, "VALIDATION_ERROR")
    assert error["validationErrors"][0]["field"] == "pageSize"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"pageSize": 0}, "pageSize"),
        ({"pageSize": "ten"}, "pageSize"),
        ({"page": 0}, "page"),
        ({"page": -1}, "page"),
        ({"page": "x"}, "page"),
    ],
)
def test_invalid_paging_names_the_parameter(admin: Caller, params: dict, field: str) -> None:
    error = assert_error(admin.get(BASE, params=params), 400, "VALIDATION_ERROR")
    assert error["validationErrors"][0]["field"] == field


def test_sort_ascending_descending_and_multiple_keys(admin: Caller) -> None:
    seed(admin, 6)
    names = [e["name"] for e in page(admin, sort="-order")["data"]]
    assert names == [f"env-{i:03d}" for i in reversed(range(6))]
    names = [e["name"] for e in page(admin, sort="-isProduction,name")["data"]]
    assert names == ["env-000", "env-005", "env-001", "env-002", "env-003", "env-004"]
    default = [e["order"] for e in page(admin)["data"]]
    assert default == sorted(default)


@pytest.mark.parametrize("sort", ["tenantId", "-nope", "name,,order", "name,name", "-"])
def test_invalid_sort_is_400(admin: Caller, sort: str) -> None:
    error = assert_error(admin.get(BASE, params={"sort": sort}), 400, "INVALID_SORT")
    assert error["validationErrors"][0]["field"] == "sort"


def test_filters_compile_to_sql(admin: Caller) -> None:
    seed(admin, 12)

    def names(filter_: dict) -> list[str]:
        return [e["name"] for e in page(admin, filter=json.dumps(filter_), pageSize=100)["data"]]

    assert names({"isProduction": True}) == ["env-000", "env-005", "env-010"]
    assert names({"order": {"$gte": 10}}) == ["env-010", "env-011"]
    assert names({"order": {"$gt": 2, "$lte": 4}}) == ["env-003", "env-004"]
    assert names({"name": {"$in": ["env-001", "env-007", "zzz"]}}) == ["env-001", "env-007"]
    assert len(names({"name": {"$nin": ["env-001"]}})) == 11
    assert names({"name": {"$contains": "-01"}}) == ["env-010", "env-011"]
    assert names({"name": {"$startsWith": "env-00"}})[-1] == "env-009"
    assert names({"$or": [{"order": 1}, {"order": 2}]}) == ["env-001", "env-002"]
    assert names({"$and": [{"isProduction": True}, {"$not": {"order": 0}}]}) == ["env-005", "env-010"]
    assert names({"order": {"$ne": 0}, "isProduction": True}) == ["env-005", "env-010"]
    assert len(names({"createdAt": {"$lt": "2999-01-01T00:00:00Z"}})) == 12
    assert names({"createdAt": {"$gt": "2999-01-01T00:00:00Z"}}) == []
    assert len(names({"name": {"$exists": True}})) == 12
    # case-sensitive on every database, and LIKE wildcards in the value are literal characters
    assert names({"name": {"$contains": "ENV"}}) == []
    assert names({"name": {"$startsWith": "Env"}}) == []
    assert names({"name": {"$contains": "%"}}) == []
    assert names({"name": {"$startsWith": "env_"}}) == []
    meta = page(admin, filter=json.dumps({"isProduction": True}), pageSize=2)["meta"]["pagination"]
    assert meta["totalItems"] == 3 and meta["totalPages"] == 2


@pytest.mark.parametrize(
    "filter_",
    [
        "{not json",
        "[1, 2]",
        '"name"',
        "{}",
        '{"tenantId": "x"}',
        '{"name": {"$regex": "x"}}',
        '{"$xor": []}',
        '{"$or": {}}',
        '{"$or": []}',
        '{"$not": []}',
        '{"order": "three"}',
        '{"order": {"$gt": true}}',
        '{"isProduction": {"$gt": false}}',
        '{"isProduction": "yes"}',
        '{"order": {"$contains": "1"}}',
        '{"name": {"$in": "env"}}',
        '{"name": {"$exists": 1}}',
        '{"createdAt": {"$gt": "yesterday"}}',
        '{"name": {}}',
        '{"order": {"$lt": null}}',
    ],
)
def test_invalid_filter_is_400_invalid_filter(admin: Caller, filter_: str) -> None:
    error = assert_error(admin.get(BASE, params={"filter": filter_}), 400, "INVALID_FILTER")
    assert error["validationErrors"][0]["field"] == "filter"


def test_deeply_nested_filter_is_refused(admin: Caller) -> None:
    nested: dict = {"name": "x"}
    for _ in range(20):
        nested = {"$not": nested}
    assert_error(admin.get(BASE, params={"filter": json.dumps(nested)}), 400, "INVALID_FILTER")
