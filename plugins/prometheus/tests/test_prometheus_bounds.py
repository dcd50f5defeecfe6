"""What a real Prometheus never answers, from a fake server on a loopback port: answers too
large to accept, servers that are not Prometheus, timeouts, redirects, GET-only proxies,
native histograms, malformed results; and what every request carries."""

from __future__ import annotations

import asyncio
import gzip
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from prometheus_servers import BEARER_TOKEN, FakeServer, Reply, Request, json_reply
from shiplane_plugin_prometheus import MAX_POINTS_PER_SERIES, MAX_RESPONSE_BYTES, MAX_SERIES, Prometheus
from shiplane_sdk import MetricQuery, MetricResult, PluginError

NOW = 1_796_000_000.0


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def query(config: dict[str, Any], text: str = "up", **fields: Any) -> MetricResult:
    return run(Prometheus().query_metrics(config, MetricQuery(query=text, **fields)))


def success(result_type: str, result: Any, **extra: Any) -> Reply:
    return json_reply({"status": "success", "data": {"resultType": result_type, "result": result}, **extra})


def always(reply: Reply) -> Callable[[Request], Reply]:
    return lambda request: reply


def vector(count: int) -> Reply:
    return success("vector", [{"metric": {"pod": f"p{n}"}, "value": [NOW, str(n)]} for n in range(count)])


def matrix(points: int) -> Reply:
    values = [[NOW + n, "1"] for n in range(points)]
    return success("matrix", [{"metric": {"__name__": "up"}, "values": values}])


def query_error(fake: FakeServer, **fields: Any) -> PluginError:
    with pytest.raises(PluginError) as caught:
        query(fake.config(**fields))
    return caught.value


# ---------------------------------------------------------------------------
# Bounds
# ---------------------------------------------------------------------------


def test_at_most_1000_series_are_accepted(fake: FakeServer) -> None:
    assert MAX_SERIES == 1_000
    fake.respond = lambda request: vector(MAX_SERIES)
    assert len(query(fake.config()).series) == MAX_SERIES
    fake.respond = lambda request: vector(MAX_SERIES + 1)
    error = query_error(fake)
    assert error.message == (
        "the query returned 1,001 series, more than the 1,000 accepted: aggregate it "
        "(for example sum by (code) (...)) or select fewer series"
    )
    assert error.details == {"series": 1001, "maxSeries": 1000}


def test_at_most_11000_points_per_series_are_accepted(fake: FakeServer) -> None:
    assert MAX_POINTS_PER_SERIES == 11_000
    fake.respond = lambda request: matrix(MAX_POINTS_PER_SERIES)
    [series] = query(fake.config()).series
    assert len(series.points) == MAX_POINTS_PER_SERIES
    fake.respond = lambda request: matrix(MAX_POINTS_PER_SERIES + 1)
    error = query_error(fake)
    assert error.message == (
        "a series of the answer has 11,001 points, more than the 11,000 accepted: use a shorter range or a larger step"
    )


def test_a_range_with_too_many_steps_is_refused_before_asking(fake: FakeServer) -> None:
    end = datetime.now(UTC)
    with pytest.raises(PluginError) as caught:
        query(fake.config(), start=end - timedelta(days=1), end=end, step_seconds=1)
    assert caught.value.message == (
        "the range of the query has 86,401 steps, more than the 11,000 accepted: use a shorter range or a larger step"
    )
    with pytest.raises(PluginError) as caught:
        query(fake.config(), start=end, end=end - timedelta(seconds=1), step_seconds=1)
    assert caught.value.message == "the range of the query ends before it starts"
    assert fake.requests == []


def big_body() -> Iterator[bytes]:
    yield b'{"status":"success","data":{"resultType":"vector","result":['
    chunk = b'{"metric":{"pod":"p"},"value":[1796000000,"1"]},' * 1000
    for _ in range(MAX_RESPONSE_BYTES // len(chunk) + 2):
        yield chunk


def test_an_answer_larger_than_16_mib_is_refused(fake: FakeServer) -> None:
    assert MAX_RESPONSE_BYTES == 16 * 1024 * 1024
    too_large = (
        f"the answer of Prometheus at {fake.url} to /api/v1/query is larger than 16 MiB: narrow the query "
        "(fewer series, a shorter range or a larger step)"
    )
    # Streamed without a length: refused once 16 MiB are read.
    fake.respond = lambda request: Reply(200, big_body())
    assert query_error(fake).message == too_large

    # A declared length above the limit: refused before reading the body (which never comes).
    def declared(request: Request) -> Reply:
        def body() -> Iterator[bytes]:
            yield b"{"
            fake.released.wait(30)

        return Reply(200, body(), headers={"Content-Length": str(MAX_RESPONSE_BYTES + 1)})

    fake.respond = declared
    assert query_error(fake).message == too_large

    # Compressed: the limit counts what it decompresses to.
    bomb = gzip.compress(b" " * (MAX_RESPONSE_BYTES + 1))
    assert len(bomb) < 100_000
    fake.respond = lambda request: Reply(200, bomb, headers={"Content-Encoding": "gzip"})
    assert query_error(fake).message == too_large


# ---------------------------------------------------------------------------
# Servers that are not (quite) Prometheus
# ---------------------------------------------------------------------------


def test_a_server_that_is_not_prometheus(fake: FakeServer) -> None:
    page = b"<!doctype html><html><body>Welcome to nginx!</body></html>"
    fake.respond = lambda request: Reply(200, page, "text/html")
    result = run(Prometheus().test(fake.config()))
    assert not result.ok
    assert result.message == (
        f"{fake.url} did not answer as a Prometheus server: /api/v1/status/buildinfo gave HTTP 200 with an HTML page"
    )
    error = query_error(fake)
    assert error.message == (
        f"the answer of {fake.url} to /api/v1/query is not a Prometheus API response (HTTP 200 with an HTML page)"
    )

    fake.respond = lambda request: json_reply({"hello": "world"})
    assert "JSON that is not the Prometheus API's" in run(Prometheus().test(fake.config())).message


def test_a_server_answering_404_everywhere(fake: FakeServer) -> None:
    result = run(Prometheus().test(fake.config()))
    assert not result.ok
    assert result.message == (
        f"{fake.url} did not answer as a Prometheus server: HTTP 404 for /api/v1/status/buildinfo and HTTP 404 "
        "with a body that is not JSON for /api/v1/query"
    )
    error = query_error(fake)
    assert error.message == (
        f"{fake.url} answered HTTP 404 Not Found for /api/v1/query: it does not serve the Prometheus HTTP API "
        "there (check the url and its path prefix)"
    )


def test_a_compatible_server_without_buildinfo(fake: FakeServer) -> None:
    def respond(request: Request) -> Reply:
        if request.path.startswith("/prefix/api/v1/query"):
            return success("scalar", [NOW, "1"])
        return Reply(404, b"not found", "text/plain")

    fake.respond = respond
    result = run(Prometheus().test(fake.config(url=fake.url + "/prefix")))
    assert result.ok
    assert (
        result.message == f"{fake.url}/prefix answers the Prometheus query API (version unknown: no "
        "/api/v1/status/buildinfo)"
    )
    # health: no /-/ready there, so it checks as test does.
    report = run(Prometheus().health(fake.config(url=fake.url + "/prefix")))
    assert report.status == "ok" and "/-/ready is not served" in report.message


def test_health_while_prometheus_starts(fake: FakeServer) -> None:
    fake.respond = lambda request: Reply(503, b"Service Unavailable", "text/plain")
    report = run(Prometheus().health(fake.config()))
    assert report.status == "failing"
    assert report.message == f"Prometheus at {fake.url} is not ready (HTTP 503): Service Unavailable"
    assert [r.path for r in fake.requests] == ["/-/ready"]


def test_a_server_that_never_answers_times_out(fake: FakeServer) -> None:
    fake.respond = fake.hang
    config = fake.config(timeoutSeconds=1, bearerToken=BEARER_TOKEN)
    with pytest.raises(PluginError) as caught:
        query(config)
    assert caught.value.message == f"Prometheus at {fake.url} did not answer within 1s"
    result = run(Prometheus().test(config))
    assert not result.ok and result.message == f"Prometheus at {fake.url} did not answer within 1s"
    assert run(Prometheus().health(config)).status == "failing"


def test_redirects_are_not_followed(fake: FakeServer) -> None:
    fake.respond = lambda request: Reply(302, b"", headers={"Location": "http://elsewhere.example/api/v1/query"})
    error = query_error(fake, bearerToken=BEARER_TOKEN)
    assert error.message == (
        f"Prometheus at {fake.url} answered HTTP 302 Found, a redirect to http://elsewhere.example/api/v1/query: "
        "redirects are not followed, set the final URL"
    )
    assert len(fake.requests) == 1


def test_a_get_only_server_gets_the_query_in_the_url(fake: FakeServer) -> None:
    def respond(request: Request) -> Reply:
        if request.method == "POST":
            return Reply(405, b"Method Not Allowed", "text/plain")
        return success("scalar", [NOW, "4"])

    fake.respond = respond
    [series] = query(fake.config(), "2 + 2").series
    assert series.points[0].value == 4.0
    post, get = fake.requests
    assert (post.method, get.method) == ("POST", "GET")
    assert parse_qs(post.body.decode()) == parse_qs(urlsplit(get.path).query)
    assert parse_qs(urlsplit(get.path).query)["query"] == ["2 + 2"]


def test_prometheus_api_errors_with_any_status(fake: FakeServer) -> None:
    error_body = {"status": "error", "errorType": "timeout", "error": "query timed out in expression evaluation"}
    fake.respond = lambda request: json_reply(error_body, 503)
    error = query_error(fake)
    assert error.message == (
        f"Prometheus at {fake.url} refused the query (timeout): query timed out in expression evaluation"
    )
    assert error.details == {
        "url": fake.url,
        "errorType": "timeout",
        "error": "query timed out in expression evaluation",
        "status": 503,
    }
    # A refusal that repeats a secret (here: the token) shows *** instead.
    echoed = {"status": "error", "errorType": "bad_data", "error": f"unexpected {BEARER_TOKEN} in query"}
    fake.respond = lambda request: json_reply(echoed, 400)
    error = query_error(fake, bearerToken=BEARER_TOKEN)
    assert error.message.endswith("refused the query (bad_data): unexpected *** in query")
    assert BEARER_TOKEN not in str(error.details)


def test_other_http_failures(fake: FakeServer) -> None:
    fake.respond = lambda request: Reply(502, b"<html>upstream\n connect error</html>", "text/html")
    assert query_error(fake).message == (
        f"Prometheus at {fake.url} answered HTTP 502 Bad Gateway: <html>upstream connect error</html>"
    )
    fake.respond = lambda request: Reply(403, b"forbidden", "text/plain")
    assert query_error(fake, bearerToken=BEARER_TOKEN).message == (
        f"Prometheus at {fake.url} answered HTTP 403 Forbidden: the credentials may not read /api/v1/query"
    )


# ---------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------


def test_native_histograms_and_malformed_results_are_refused(fake: FakeServer) -> None:
    histogram = {"count": "3", "sum": "1.5", "buckets": []}
    fake.respond = lambda request: success("vector", [{"metric": {}, "histogram": [NOW, histogram]}])
    assert "native histogram samples" in query_error(fake).message
    fake.respond = lambda request: success("matrix", [{"metric": {}, "histograms": [[NOW, histogram]]}])
    assert "histogram_quantile()" in query_error(fake).message

    for result_type, result, why in [
        ("vector", [{"metric": {}, "value": [NOW, 1.5]}], "a sample value is float, not a string"),
        ("vector", [{"metric": {}, "value": [NOW, "many"]}], "a sample value is not a number"),
        ("vector", [{"metric": {"a": 1}, "value": [NOW, "1"]}], "the labels of a series are not an object of strings"),
        ("vector", [{"metric": {}, "value": ["soon", "1"]}], "a sample timestamp is not a number"),
        ("matrix", [{"metric": {}}], "a series of a matrix has no list of values"),
        ("scalar", [NOW], "a sample is not a [timestamp, value] pair"),
        ("histogram", [], "unknown resultType 'histogram'"),
    ]:
        fake.respond = always(success(result_type, result))
        message = query_error(fake).message
        assert message == f"the answer of {fake.url} to /api/v1/query is not a Prometheus query result: {why}"


def test_values_and_order_of_a_matrix(fake: FakeServer) -> None:
    values = [[NOW + 2, "+Inf"], [NOW, "1e3"], [NOW + 1, "NaN"], [NOW + 3, "-Inf"]]
    fake.respond = lambda request: success("matrix", [{"metric": {"le": "0.5"}, "values": values}])
    [series] = query(
        fake.config(), start=datetime.now(UTC) - timedelta(seconds=3), end=datetime.now(UTC), step_seconds=1
    ).series
    assert [p.at.timestamp() for p in series.points] == [NOW, NOW + 1, NOW + 2, NOW + 3]
    assert [p.value for p in series.points] == [1000.0, None, 1.7976931348623157e308, -1.7976931348623157e308]
    # JSON-safe: no infinity or NaN token in what the core stores.
    assert "Infinity" not in MetricResult(series=[series]).model_dump_json()
    assert fake.requests[-1].path == "/api/v1/query_range"


def test_warnings_are_logged_without_secrets(fake: FakeServer, caplog: pytest.LogCaptureFixture) -> None:
    warning = f"partial response: store {BEARER_TOKEN} unavailable"
    fake.respond = lambda request: success("vector", [], warnings=[warning])
    with caplog.at_level(logging.WARNING, logger="shiplane_plugin_prometheus"):
        assert query(fake.config(bearerToken=BEARER_TOKEN)).series == []
    [record] = [r for r in caplog.records if r.name.startswith("shiplane_plugin_prometheus")]
    text = record.getMessage()
    assert "partial response: store *** unavailable" in text and BEARER_TOKEN not in text


# ---------------------------------------------------------------------------
# What a request carries
# ---------------------------------------------------------------------------


def test_a_query_request(fake: FakeServer) -> None:
    fake.respond = lambda request: vector(1)
    at = datetime(2026, 11, 30, 5, 37, 1, 120000, tzinfo=UTC)
    config = fake.config(headers={"X-Scope-OrgID": "team-a"}, timeoutSeconds=7.5, bearerToken=BEARER_TOKEN)
    query(config, 'sum(rate(http_requests_total{code=~"5.."}[5m]))', time=at)
    [request] = fake.requests
    assert (request.method, request.path) == ("POST", "/api/v1/query")
    headers = {name.lower(): value for name, value in request.headers.items()}
    assert headers["content-type"] == "application/x-www-form-urlencoded"
    assert headers["authorization"] == f"Bearer {BEARER_TOKEN}"
    assert headers["x-scope-orgid"] == "team-a"
    assert headers["user-agent"] == "Shiplane-Prometheus/0.1"
    assert headers["accept"] == "application/json"
    assert parse_qs(request.body.decode()) == {
        "query": ['sum(rate(http_requests_total{code=~"5.."}[5m]))'],
        "timeout": ["7.5"],
        "time": [f"{at.timestamp():.3f}"],
    }

    start = at - timedelta(minutes=10)
    query(fake.config(url=fake.url + "/prom/"), "up", start=start, end=at, step_seconds=15)
    request = fake.requests[-1]
    assert request.path == "/prom/api/v1/query_range"
    assert parse_qs(request.body.decode()) == {
        "query": ["up"],
        "timeout": ["10"],
        "start": [f"{start.timestamp():.3f}"],
        "end": [f"{at.timestamp():.3f}"],
        "step": ["15"],
    }
    assert "authorization" not in {name.lower() for name in request.headers}
