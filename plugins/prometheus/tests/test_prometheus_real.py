"""The ``prometheus`` type against a real Prometheus (Debian's package) scraping a tiny
exporter the test controls, and against Prometheus behind a bearer-token proxy and with
basic authentication (--web.config.file). Waits poll; no test asserts a duration."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_servers import (
    BASIC_PASSWORD,
    BASIC_USER,
    BEARER_TOKEN,
    AuthProxy,
    Exporter,
    RunningPrometheus,
    free_port,
    wait_for,
)
from shiplane_plugin_prometheus import INFINITY_VALUE, Prometheus
from shiplane_sdk import MetricQuery, MetricResult, PluginError

ERROR_RATIO = 'sum(rate(http_requests_total{code=~"5.."}[30s])) / sum(rate(http_requests_total[30s]))'


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def query(config: dict[str, Any], text: str, **fields: Any) -> MetricResult:
    return run(Prometheus().query_metrics(config, MetricQuery(query=text, **fields)))


def single_value(config: dict[str, Any], text: str) -> float | None:
    [series] = query(config, text).series
    [point] = series.points
    return point.value


def scraped(prometheus: RunningPrometheus, selector: str, at_least: int = 1) -> bool:
    """Whether Prometheus holds ``at_least`` samples of ``selector`` from the last minute."""
    result = query(prometheus.config(), f"count_over_time({selector}[1m])")
    return bool(result.series) and all((s.points[0].value or 0) >= at_least for s in result.series)


# ---------------------------------------------------------------------------
# test and health
# ---------------------------------------------------------------------------


def test_test_reports_the_version(prometheus: RunningPrometheus) -> None:
    result = run(Prometheus().test(prometheus.config()))
    assert result.ok, result.message
    assert result.details["version"].startswith("2.")
    assert result.message == f"Prometheus {result.details['version']} answered at {prometheus.url}"
    assert result.details["url"] == prometheus.url
    # A trailing slash in the url is the same server.
    assert run(Prometheus().test(prometheus.config(url=prometheus.url + "/"))).ok


def test_test_fails_clearly_for_an_unreachable_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = run(Prometheus().test({"url": url, "bearerToken": BEARER_TOKEN}))
    assert not result.ok
    assert result.message.startswith(f"could not connect to Prometheus at {url}: ")
    assert BEARER_TOKEN not in result.message and BEARER_TOKEN not in str(result.details)


def test_health_is_readiness(prometheus: RunningPrometheus) -> None:
    report = run(Prometheus().health(prometheus.config()))
    assert report.status == "ok", report.message
    assert report.message == f"Prometheus at {prometheus.url} is ready"
    down = run(Prometheus().health({"url": f"http://127.0.0.1:{free_port()}"}))
    assert down.status == "failing" and "could not connect" in down.message


# ---------------------------------------------------------------------------
# Queries
# ---------------------------------------------------------------------------


def test_an_instant_query_returns_the_scraped_value(prometheus: RunningPrometheus, exporter: Exporter) -> None:
    config = prometheus.config()
    for depth in (17.25, 42.0):
        exporter.set_queue_depth(depth)

        def scraped_depth(depth: float = depth) -> bool:
            return single_value_or_none(config, "shiplane_test_queue_depth") == depth

        wait_for(f"the scraped queue depth {depth}", scraped_depth)
    [series] = query(config, "shiplane_test_queue_depth").series
    assert series.labels == {
        "__name__": "shiplane_test_queue_depth",
        "instance": exporter.target,
        "job": "shiplane-test",
    }
    [point] = series.points
    assert point.value == 42.0 and point.at.tzinfo is not None
    # Selecting by label, and an instant query at a given time (now, explicitly).
    [up] = query(config, 'up{job="shiplane-test"}', time=datetime.now(UTC)).series
    assert up.points[0].value == 1.0
    # A vector with several series, one per code.
    codes = query(config, "http_requests_total").series
    assert sorted(s.labels["code"] for s in codes) == ["200", "500"]


def single_value_or_none(config: dict[str, Any], text: str) -> float | None:
    result = query(config, text)
    return result.series[0].points[0].value if result.series else None


def test_the_error_ratio_over_30s_is_what_was_served(prometheus: RunningPrometheus, exporter: Exporter) -> None:
    config = prometheus.config()
    # Two scrapes of the counters, no traffic yet: rate 0/0 is NaN, which reads None.
    wait_for("two scrapes of the counters", lambda: scraped(prometheus, "http_requests_total", at_least=2))
    if exporter.ok_requests == exporter.error_requests == 0:
        assert single_value(config, ERROR_RATIO) is None

    # Serve requests, 5 % of them failing, until Prometheus has scraped some of them.
    stop = threading.Event()

    def serve() -> None:
        while not stop.wait(0.05):
            exporter.serve(ok=95, errors=5)

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    try:
        ratio = wait_for("an error ratio", lambda: single_value_or_none(config, ERROR_RATIO))
    finally:
        stop.set()
        server.join()
    assert ratio == pytest.approx(0.05, rel=1e-9)
    total = single_value(config, "sum(rate(http_requests_total[30s]))")
    assert total is not None and total > 0
    # The same ratio per code, as a vector with labels.
    shares = query(
        config,
        "sum by (code) (rate(http_requests_total[30s])) / ignoring(code) group_left "
        "sum(rate(http_requests_total[30s]))",
    ).series
    by_code = {s.labels["code"]: s.points[0].value for s in shares}
    assert by_code == {"200": pytest.approx(0.95, rel=1e-9), "500": pytest.approx(0.05, rel=1e-9)}


def test_a_range_query_returns_points_in_order_with_the_step(prometheus: RunningPrometheus) -> None:
    config = prometheus.config()
    wait_for("four scrapes", lambda: scraped(prometheus, 'up{job="shiplane-test"}', at_least=4))
    end = datetime.now(UTC)
    start = end - timedelta(seconds=2)
    [series] = query(config, 'up{job="shiplane-test"}', start=start, end=end, step_seconds=0.5).series
    assert series.labels["job"] == "shiplane-test"
    points = series.points
    assert len(points) == 5
    assert [p.value for p in points] == [1.0] * 5
    assert abs(points[0].at - start) < timedelta(milliseconds=1)
    assert [b.at - a.at for a, b in zip(points, points[1:], strict=False)] == [timedelta(milliseconds=500)] * 4
    # A naive datetime is UTC.
    naive = query(
        config, "vector(1)", start=start.replace(tzinfo=None), end=end.replace(tzinfo=None), step_seconds=1
    ).series
    assert abs(naive[0].points[0].at - start) < timedelta(milliseconds=1)
    # Several series, each in order.
    counters = query(config, "http_requests_total", start=start, end=end, step_seconds=1).series
    assert len(counters) == 2
    for counter in counters:
        assert [p.at for p in counter.points] == sorted(p.at for p in counter.points)
        assert len(counter.points) == 3


def test_an_invalid_query_is_a_plugin_error_with_prometheus_message(prometheus: RunningPrometheus) -> None:
    with pytest.raises(PluginError) as caught:
        query(prometheus.config(), "sum(rate(http_requests_total[30s])")
    message = caught.value.message
    assert message.startswith(f"Prometheus at {prometheus.url} refused the query (bad_data): ")
    assert "parse error" in message and "unclosed left parenthesis" in message
    assert caught.value.details["errorType"] == "bad_data"
    assert caught.value.details["status"] == 400
    # Not a parse error: an execution error Prometheus finds while evaluating.
    with pytest.raises(PluginError) as caught:
        query(prometheus.config(), 'vector(1) + on() (vector(1) or label_replace(vector(1), "a", "b", "", ""))')
    assert caught.value.message.startswith(f"Prometheus at {prometheus.url} refused the query (execution): ")
    assert "many-to-many matching not allowed" in caught.value.message
    assert caught.value.details["status"] == 422


def test_nan_is_none_scalars_strings_and_infinities(prometheus: RunningPrometheus) -> None:
    config = prometheus.config()
    nan = query(config, "0/0")
    assert len(nan.series) == 1 and nan.series[0].labels == {} and nan.series[0].points[0].value is None
    assert single_value(config, "1 + 2") == 3.0
    assert single_value(config, "scalar(vector(2.5))") == 2.5
    assert single_value(config, "1/0") == INFINITY_VALUE
    assert single_value(config, "-1/0") == -INFINITY_VALUE
    [text] = query(config, '"hello"').series
    assert text.labels == {"string": "hello"} and text.points[0].value is None
    # NaN inside a vector too.
    [vector_nan] = query(config, "vector(0) / 0").series
    assert vector_nan.points[0].value is None
    # No data is no series.
    assert query(config, 'up{job="nothing-like-this"}').series == []
    # A long query is POSTed, never put in a URL.
    long_query = " + ".join(["vector(1)"] * 300)
    assert len(long_query) > 3000
    assert single_value(config, long_query) == 300.0


# ---------------------------------------------------------------------------
# Credentials
# ---------------------------------------------------------------------------


def test_the_bearer_token_is_sent(auth_proxy: AuthProxy, exporter: Exporter) -> None:
    result = run(Prometheus().test(auth_proxy.config()))
    assert result.ok, result.message
    assert auth_proxy.seen == [f"Bearer {BEARER_TOKEN}"]
    assert single_value(auth_proxy.config(), "vector(7)") == 7.0
    assert auth_proxy.seen[-1] == f"Bearer {BEARER_TOKEN}"
    assert run(Prometheus().health(auth_proxy.config())).status == "ok"

    # Without a token, and with a wrong one: refused, and the messages hold no token.
    refused = run(Prometheus().test({"url": auth_proxy.url}))
    assert not refused.ok
    assert refused.message == (
        f"Prometheus at {auth_proxy.url} answered HTTP 401 Unauthorized: it requires credentials, "
        "set bearerToken or basicAuth"
    )
    wrong = "wrong-token-0123456789-do-not-show"
    failed = run(Prometheus().test({"url": auth_proxy.url, "bearerToken": wrong}))
    assert not failed.ok and "refused the credentials" in failed.message
    assert auth_proxy.seen[-1] == f"Bearer {wrong}"
    with pytest.raises(PluginError) as caught:
        query({"url": auth_proxy.url, "bearerToken": wrong}, "up")
    assert "HTTP 401" in caught.value.message
    for text in (failed.message, str(failed.details), caught.value.message, str(caught.value.details)):
        assert wrong not in text and BEARER_TOKEN not in text


def test_a_token_the_server_echoes_is_masked(auth_proxy: AuthProxy) -> None:
    # The proxy refuses with a 500 whose body repeats the Authorization header it got.
    auth_proxy.refusal_status = 500
    wrong = "echoed-token-0123456789-do-not-show"
    with pytest.raises(PluginError) as caught:
        query({"url": auth_proxy.url, "bearerToken": wrong}, "up")
    message = caught.value.message
    assert (
        message == f"Prometheus at {auth_proxy.url} answered HTTP 500 Internal Server Error: invalid "
        "credentials: Authorization: Bearer ***"
    )
    assert wrong not in str(caught.value.details)


def test_basic_auth_against_prometheus_web_config(basic_prometheus: RunningPrometheus) -> None:
    good = basic_prometheus.config(basicAuth={"username": BASIC_USER, "password": BASIC_PASSWORD})
    result = run(Prometheus().test(good))
    assert result.ok, result.message
    assert single_value(good, "vector(3)") == 3.0
    assert run(Prometheus().health(good)).status == "ok"

    anonymous = run(Prometheus().test(basic_prometheus.config()))
    assert not anonymous.ok and "it requires credentials" in anonymous.message
    assert run(Prometheus().health(basic_prometheus.config())).status == "failing"
    wrong = basic_prometheus.config(basicAuth={"username": BASIC_USER, "password": "not-" + BASIC_PASSWORD})
    refused = run(Prometheus().test(wrong))
    assert not refused.ok and "refused the credentials" in refused.message
    with pytest.raises(PluginError) as caught:
        query(wrong, "up")
    for text in (refused.message, str(refused.details), caught.value.message, str(caught.value.details)):
        assert BASIC_PASSWORD not in text
