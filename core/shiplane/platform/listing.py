"""The one pagination, sort and filter compiler.

Each resource declares an allow-list of ``ListField``s (API name -> column and
value type). Query parameters are parsed and checked here, and a filter compiles
to a SQLAlchemy expression, so filtering always happens in SQL. The statements
themselves are built and run by the read path (``platform/reads.py``).

Besides ``page``, a list accepts an opaque ``cursor`` (keyset pagination): it
carries the sort values of the last row served, so the next page starts with an
index seek instead of skipping ``OFFSET`` rows, and costs what the first does.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import BigInteger, SmallInteger, Table, and_, not_, or_
from sqlalchemy.sql.elements import ColumnElement

from shiplane.platform.errors import ApiError, FieldError

FieldKind = Literal["string", "integer", "boolean", "datetime"]
MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20
MAX_FILTER_DEPTH = 8
# (page - 1) * pageSize becomes a SQL OFFSET: keep it far inside a signed 64-bit
# integer (SQLite's driver raises OverflowError beyond that).
MAX_PAGE = 1_000_000_000
INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)
INT16 = (-(2**15), 2**15 - 1)
_INTEGER_TEXT = re.compile(r"[+-]?[0-9]{1,30}")

COMPARISON_OPS = {"$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$contains", "$startsWith", "$exists"}
ORDERED_OPS = {"$gt", "$gte", "$lt", "$lte"}
STRING_OPS = {"$contains", "$startsWith"}


@dataclass(frozen=True)
class ListField:
    """One sortable/filterable field.

    For ``integer`` fields, ``int_range`` bounds the filter values accepted (a value
    outside the column's range would overflow in the database driver). When it is not
    given it follows the column type: BigInteger is signed 64-bit, SmallInteger
    16-bit, any other integer column signed 32-bit.
    """

    column: Any  # an InstrumentedAttribute
    kind: FieldKind
    sortable: bool = True
    filterable: bool = True
    int_range: tuple[int, int] | None = None
    # Unique within a tenant (a name): a sort on it needs no id tie-breaker, so the
    # unique index alone serves the sort and the cursor.
    unique: bool = False

    @property
    def nullable(self) -> bool:
        return bool(getattr(self.column, "nullable", False))

    @property
    def integer_bounds(self) -> tuple[int, int]:
        if self.int_range is not None:
            return self.int_range
        column_type = getattr(self.column, "type", None)
        if isinstance(column_type, BigInteger):
            return INT64
        if isinstance(column_type, SmallInteger):
            return INT16
        return INT32


@dataclass(frozen=True)
class ListSpec:
    """A resource's list: its table (tenant-owned, with an ``id``), fields and default sort.

    Every sortable field needs an index ``(tenant_id, <column>, id)`` (or a unique
    ``(tenant_id, <column>)`` for a ``unique`` field) so that every sort reads one
    page, not the tenant's whole table: ``tests/platform/test_read_path.py`` checks it.
    """

    model: Any  # the SQLAlchemy model class
    fields: Mapping[str, ListField]
    default_sort: str = "createdAt"

    @property
    def table(self) -> Table:
        return self.model.__table__  # type: ignore[no-any-return]


@dataclass(frozen=True)
class SortKey:
    """One ORDER BY term: an API field name (``id`` for the tie-breaker), its column, the direction."""

    name: str
    column: Any
    descending: bool
    kind: FieldKind
    nullable: bool


@dataclass
class ListParams:
    page: int
    page_size: int
    sort: list[tuple[str, bool]]  # (field, descending)
    filter: ColumnElement[bool] | None
    # The ORDER BY, tie-breaker included, and what a cursor must match.
    keys: list[SortKey]
    query_fingerprint: str
    # Keyset pagination: the sort values of the last row before this page, and how
    # many rows precede the page (for ``meta.pagination.page``).
    after: list[Any] | None = None
    position: int = 0

    @property
    def offset(self) -> int:
        return 0 if self.after is not None else (self.page - 1) * self.page_size


def _bad(param: str, message: str, code: str = "VALIDATION_ERROR", field_code: str = "invalid") -> ApiError:
    return ApiError(code, f"invalid {param}: {message}", {"parameter": param}, [FieldError(param, message, field_code)])


def _int_param(raw: str | None, name: str, default: int, low: int, high: int | None) -> int:
    if raw is None:
        return default
    # Digits only: int() would also take "1_000", " 7 " and non-ASCII digits, and
    # a huge number of digits would only make a larger integer to refuse.
    if not _INTEGER_TEXT.fullmatch(raw):
        raise _bad(name, "must be an integer", field_code="int_parsing")
    value = int(raw)
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise _bad(name, f"must be {bound}", field_code="out_of_range")
    return value


def parse_list_params(query: Mapping[str, str], spec: ListSpec) -> ListParams:
    page = _int_param(query.get("page"), "page", 1, 1, MAX_PAGE)
    page_size = _int_param(query.get("pageSize"), "pageSize", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
    sort = _parse_sort(query.get("sort"), spec)
    raw_filter = query.get("filter")
    compiled = compile_filter(raw_filter, spec) if raw_filter not in (None, "") else None
    keys = sort_keys(spec, sort)
    fingerprint = _fingerprint(spec.table.name, sort, raw_filter or "")
    params = ListParams(page, page_size, sort, compiled, keys, fingerprint)
    raw_cursor = query.get("cursor")
    if raw_cursor is not None:
        if query.get("page") is not None:
            raise _bad("cursor", "give either page or cursor, not both", field_code="conflict")
        params.after, params.position = decode_cursor(raw_cursor, params)
        params.page = params.position // page_size + 1
    return params


def sort_keys(spec: ListSpec, sort: list[tuple[str, bool]]) -> list[SortKey]:
    """The ORDER BY terms: the requested fields, then the id unless a unique field already orders every row.

    The id follows the direction of the last requested field, so a single-field
    sort in either direction walks one index ``(tenant_id, field, id)``.
    """
    keys = []
    for name, descending in sort:
        field = spec.fields[name]
        keys.append(SortKey(name, field.column, descending, field.kind, field.nullable))
    if not any(spec.fields[name].unique for name, _ in sort):
        keys.append(SortKey("id", spec.table.c.id, sort[-1][1], "string", False))
    return keys


def _fingerprint(table: str, sort: list[tuple[str, bool]], raw_filter: str) -> str:
    text = table + "\n" + ",".join(("-" if d else "") + n for n, d in sort) + "\n" + raw_filter
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


# -- cursors ----------------------------------------------------------------------------------

MAX_CURSOR_LENGTH = 4096


def _cursor_value(value: Any) -> Any:
    # Full precision: a row stored with microseconds (a bulk load, a restore) must not
    # be served twice or skipped because its cursor rounded it.
    return value.isoformat() if isinstance(value, datetime) else value


def encode_cursor(params: ListParams, last_row: Any, position: int) -> str:
    """The cursor that opens the page after ``last_row`` (a row with the sort keys' columns)."""
    values = [_cursor_value(getattr(last_row, key.column.key)) for key in params.keys]
    payload = {"v": 1, "q": params.query_fingerprint, "k": values, "n": position}
    raw = json.dumps(payload, separators=(",", ":"), ensure_ascii=True).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(raw: str, params: ListParams) -> tuple[list[Any], int]:
    """The sort values and position a cursor carries, checked against this request's sort and filter."""
    if not raw or len(raw) > MAX_CURSOR_LENGTH:
        raise _bad("cursor", "not a cursor this list issued", field_code="invalid_cursor")
    try:
        payload = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (ValueError, binascii.Error, RecursionError):
        raise _bad("cursor", "not a cursor this list issued", field_code="invalid_cursor") from None
    if (
        not isinstance(payload, dict)
        or payload.get("v") != 1
        or not isinstance(payload.get("k"), list)
        or len(payload["k"]) != len(params.keys)
        or not isinstance(payload.get("n"), int)
        or isinstance(payload.get("n"), bool)
        or not 0 <= payload["n"] <= MAX_PAGE * MAX_PAGE_SIZE
    ):
        raise _bad("cursor", "not a cursor this list issued", field_code="invalid_cursor")
    if payload.get("q") != params.query_fingerprint:
        raise _bad(
            "cursor",
            "the cursor belongs to another sort or filter: repeat the sort and filter it was issued with",
            field_code="cursor_mismatch",
        )
    values = []
    for key, value in zip(params.keys, payload["k"], strict=True):
        if value is None and not key.nullable:
            raise _bad("cursor", "not a cursor this list issued", field_code="invalid_cursor")
        try:
            values.append(_coerce(key.name, ListField(key.column, key.kind), value))
        except ApiError:
            raise _bad("cursor", "not a cursor this list issued", field_code="invalid_cursor") from None
    return values, payload["n"]


def keyset_condition(keys: list[SortKey], placeholders: list[Any], values: list[Any]) -> ColumnElement[bool]:
    """Rows after the cursor's row in the order of ``keys`` (NULL sorts first ascending, last descending).

    Expanded as (k1 > v1) OR (k1 = v1 AND k2 > v2) OR ..., which both databases
    turn into an index range when the keys share one direction. ``placeholders``
    stand for the values in the statement; ``values`` only decide its shape (a NULL
    or a boolean is compared differently), see ``cursor_shape``.
    """
    alternatives: list[ColumnElement[bool]] = []
    equal_prefix: list[ColumnElement[bool]] = []
    leading = _leading_bound(keys[0], placeholders[0], values[0])
    for key, placeholder, value in zip(keys, placeholders, values, strict=True):
        column = key.column
        after: ColumnElement[bool] | None
        if value is None:
            # Ascending, NULL first: every non-null value comes after. Descending, NULL last: nothing does.
            after = column.is_not(None) if not key.descending else None
            same = column.is_(None)
        elif key.kind == "boolean":
            # false < true; SQL comparison operators do not take booleans everywhere.
            beyond = not value if key.descending else value
            after = None if beyond else column.is_(not value)
            if key.descending and key.nullable:
                after = column.is_(None) if after is None else or_(after, column.is_(None))
            same = column.is_(value)
        else:
            after = column < placeholder if key.descending else column > placeholder
            if key.descending and key.nullable:
                after = or_(after, column.is_(None))
            same = column == placeholder
        if after is not None:
            alternatives.append(and_(*equal_prefix, after) if equal_prefix else after)
        equal_prefix.append(same)
    condition = or_(*alternatives)
    # The OR alone makes both databases read the index from its start; the bound on
    # the first key lets them seek to the cursor's row and read on from there.
    return condition if leading is None else and_(leading, condition)


def _leading_bound(key: SortKey, placeholder: Any, value: Any) -> ColumnElement[bool] | None:
    """A range on the first sort key that every row after the cursor satisfies (None: no useful bound)."""
    column = key.column
    if value is None:
        return column.is_(None) if key.descending else None
    if key.kind == "boolean":
        # Ascending after true: only true rows remain; descending after false: only false (and NULL).
        if key.descending:
            return None if value else (column.is_(False) if not key.nullable else None)
        return column.is_(True) if value else None
    if key.descending:
        return column <= placeholder if not key.nullable else None
    return column >= placeholder


def cursor_shape(keys: list[SortKey], values: list[Any]) -> tuple[Any, ...]:
    """What of a cursor's values changes the statement's SQL (NULLs, booleans), for caching it."""
    return tuple(None if v is None else (v if k.kind == "boolean" else 0) for k, v in zip(keys, values, strict=True))


def _parse_sort(raw: str | None, spec: ListSpec) -> list[tuple[str, bool]]:
    if raw is None or raw.strip() == "":
        raw = spec.default_sort
    result = []
    seen = set()
    for part in raw.split(","):
        part = part.strip()
        descending = part.startswith("-")
        name = part[1:] if descending else part
        field = spec.fields.get(name)
        if not name or field is None or not field.sortable:
            allowed = ", ".join(n for n, f in spec.fields.items() if f.sortable)
            raise _bad("sort", f"cannot sort on {name!r}; allowed: {allowed}", "INVALID_SORT", "unknown_field")
        if name in seen:
            raise _bad("sort", f"{name!r} appears twice", "INVALID_SORT", "duplicate_field")
        seen.add(name)
        result.append((name, descending))
    return result


def _filter_error(message: str) -> ApiError:
    return _bad("filter", message, "INVALID_FILTER", "invalid_filter")


def compile_filter(raw: str, spec: ListSpec) -> ColumnElement[bool]:
    if "\x00" in raw:
        # PostgreSQL text cannot hold NUL: refuse it here rather than in the driver.
        raise _filter_error("must not contain the NUL character (\\u0000)")
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError):
        # ValueError covers JSONDecodeError and integers longer than Python converts.
        raise _filter_error("not valid JSON") from None
    if not isinstance(document, dict):
        raise _filter_error("must be a JSON object")
    return _compile_object(document, spec, depth=0)


def _compile_object(document: dict[str, Any], spec: ListSpec, depth: int) -> ColumnElement[bool]:
    if depth > MAX_FILTER_DEPTH:
        raise _filter_error(f"nested deeper than {MAX_FILTER_DEPTH} levels")
    if not document:
        raise _filter_error("an empty object matches nothing in particular; omit the filter instead")
    clauses: list[ColumnElement[bool]] = []
    for key, value in document.items():
        if key in ("$and", "$or"):
            if not isinstance(value, list) or not value or not all(isinstance(v, dict) for v in value):
                raise _filter_error(f"{key} takes a non-empty list of objects")
            parts = [_compile_object(v, spec, depth + 1) for v in value]
            clauses.append(and_(*parts) if key == "$and" else or_(*parts))
        elif key == "$not":
            if not isinstance(value, dict):
                raise _filter_error("$not takes an object")
            clauses.append(not_(_compile_object(value, spec, depth + 1)))
        elif key.startswith("$"):
            raise _filter_error(f"unknown operator {key!r} at the top of a condition")
        else:
            clauses.append(_compile_field(key, value, spec))
    return and_(*clauses) if len(clauses) > 1 else clauses[0]


def _compile_field(name: str, condition: Any, spec: ListSpec) -> ColumnElement[bool]:
    field = spec.fields.get(name)
    if field is None or not field.filterable:
        allowed = ", ".join(n for n, f in spec.fields.items() if f.filterable)
        raise _filter_error(f"cannot filter on {name!r}; allowed: {allowed}")
    if not isinstance(condition, dict):
        condition = {"$eq": condition}
    if not condition:
        raise _filter_error(f"empty condition for {name!r}")
    parts = []
    for op, value in condition.items():
        if op not in COMPARISON_OPS:
            raise _filter_error(f"unknown operator {op!r} for {name!r}")
        parts.append(_compile_op(name, field, op, value))
    return and_(*parts) if len(parts) > 1 else parts[0]


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _compile_op(name: str, field: ListField, op: str, value: Any) -> ColumnElement[bool]:
    column = field.column
    if op == "$exists":
        if not isinstance(value, bool):
            raise _filter_error(f"$exists on {name!r} takes true or false")
        return column.is_not(None) if value else column.is_(None)
    if op in ("$in", "$nin"):
        if not isinstance(value, list) or len(value) > 100:
            raise _filter_error(f"{op} on {name!r} takes a list of at most 100 values")
        values = [_coerce(name, field, v) for v in value]
        return column.in_(values) if op == "$in" else column.not_in(values)
    if op in STRING_OPS:
        if field.kind != "string" or not isinstance(value, str):
            raise _filter_error(f"{op} needs a string field and a string value ({name!r})")
        _check_text(name, value)
        pattern = f"%{_like_escape(value)}%" if op == "$contains" else f"{_like_escape(value)}%"
        return column.like(pattern, escape="\\")
    if op in ORDERED_OPS and field.kind == "boolean":
        raise _filter_error(f"{op} does not apply to the boolean field {name!r}")
    coerced = _coerce(name, field, value)
    if coerced is None:
        if op == "$eq":
            return column.is_(None)
        if op == "$ne":
            return column.is_not(None)
        raise _filter_error(f"{op} on {name!r} cannot compare with null")
    return {
        "$eq": column.__eq__,
        "$ne": column.__ne__,
        "$gt": column.__gt__,
        "$gte": column.__ge__,
        "$lt": column.__lt__,
        "$lte": column.__le__,
    }[op](coerced)


def _check_text(name: str, value: str) -> None:
    if "\x00" in value:
        # PostgreSQL text cannot hold NUL: asyncpg would refuse the query with a 500.
        raise _filter_error(f"the value for {name!r} contains the NUL character (\\u0000)")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate (JSON "\\ud800") is valid JSON but not text either database stores.
        raise _filter_error(f"the value for {name!r} is not valid Unicode text") from None


def _coerce(name: str, field: ListField, value: Any) -> Any:
    if value is None:
        return None
    kind = field.kind
    if kind == "string" and isinstance(value, str):
        _check_text(name, value)
        return value
    if kind == "integer" and isinstance(value, int) and not isinstance(value, bool):
        low, high = field.integer_bounds
        if not low <= value <= high:
            raise _filter_error(f"{name!r} takes an integer between {low} and {high}, got {value}")
        return value
    if kind == "boolean" and isinstance(value, bool):
        return value
    if kind == "datetime" and isinstance(value, str):
        _check_text(name, value)
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise _filter_error(f"{name!r} takes an RFC 3339 timestamp, got {value!r}") from None
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
        try:
            # Year 1 with a positive offset (or 9999 with a negative one) has no UTC
            # equivalent a datetime can hold.
            return parsed.astimezone(UTC)
        except OverflowError:
            raise _filter_error(f"{name!r}: {value!r} is out of range once converted to UTC") from None
    article = "an" if kind == "integer" else "a"
    raise _filter_error(f"{name!r} takes {article} {kind} value, got {json.dumps(value)}")


@dataclass
class Page:
    items: list[Any]
    pagination: dict[str, Any]


def pagination_meta(
    page: int,
    page_size: int,
    total: int,
    *,
    has_next: bool | None = None,
    has_previous: bool | None = None,
    next_cursor: str | None = None,
) -> dict[str, Any]:
    """``meta.pagination`` of the spec, the same for every list (plus ``nextCursor``)."""
    total_pages = math.ceil(total / page_size) if total else 0
    return {
        "page": page,
        "pageSize": page_size,
        "totalItems": total,
        "totalPages": total_pages,
        "hasNext": page < total_pages if has_next is None else has_next,
        "hasPrevious": page > 1 if has_previous is None else has_previous,
        "nextCursor": next_cursor,
    }


def page_of(items: list[Any], query: Mapping[str, str]) -> Page:
    """Paginate an in-memory list (capabilities of loaded plugins: there is no table to query).

    Only ``page`` and ``pageSize`` apply; such lists are ordered by id, and ``sort``
    or ``filter`` get a 400 that says so rather than being silently ignored.
    """
    page = _int_param(query.get("page"), "page", 1, 1, MAX_PAGE)
    page_size = _int_param(query.get("pageSize"), "pageSize", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
    if query.get("sort"):
        raise _bad("sort", "this list is always ordered by id", "INVALID_SORT", "unsupported")
    if query.get("cursor"):
        raise _bad("cursor", "this list is short and paged by page number only", field_code="unsupported")
    if query.get("filter"):
        raise _filter_error("this list cannot be filtered")
    window = items[(page - 1) * page_size : page * page_size]
    return Page(window, pagination_meta(page, page_size, len(items)))
