"""The ``prometheus`` integration type's contracts, registration and config schema."""

from __future__ import annotations

from typing import Any

import pytest
import shiplane_plugin_prometheus.plugin
from prometheus_servers import BEARER_TOKEN, RunningPrometheus
from shiplane_plugin_prometheus import Prometheus
from shiplane_sdk import ConfigValidationError, MetricQuery
from shiplane_sdk.testing import IntegrationTypeContract, PluginContract

SECRET = "s3cret-value-do-not-show"


class TestPrometheusContract(IntegrationTypeContract):
    valid_configs = [
        {"url": "http://prometheus.internal:9090"},
        {"url": "https://metrics.example.com/prometheus/", "bearerToken": "eyJhbGciOi.J9.x-y_z", "timeoutSeconds": 60},
        {
            "url": "HTTPS://mimir.example.com/prometheus",
            "basicAuth": {"username": "grafana", "password": "pa ss wörd"},
            "headers": {"X-Scope-OrgID": "team-a", "X-Trace": "1"},
            "timeoutSeconds": 1.5,
        },
    ]
    invalid_configs = [
        {},
        {"url": "prometheus.internal:9090"},
        {"url": "ftp://prometheus.internal"},
        {"url": "https://user:pass@prometheus.internal"},
        {"url": "https://prometheus.internal/?org=1"},
        {"url": "https://prometheus.internal/#x"},
        {"url": "https://prometheus.internal", "bearerToken": ""},
        {"url": "https://prometheus.internal", "bearerToken": "has space"},
        {"url": "https://prometheus.internal", "bearerToken": "trailing-newline\n"},
        {"url": "https://prometheus.internal\n"},
        {"url": "https://prometheus.internal", "basicAuth": {"username": "u\n", "password": "p"}},
        {"url": "https://prometheus.internal", "basicAuth": {"username": "u", "password": "p\n"}},
        {"url": "https://prometheus.internal", "headers": {"X-Name\n": "v"}},
        {"url": "https://prometheus.internal", "bearerToken": "x" * 8193},
        {"url": "https://prometheus.internal", "bearerToken": "t", "basicAuth": {"username": "u", "password": "p"}},
        {"url": "https://prometheus.internal", "basicAuth": {"username": "u"}},
        {"url": "https://prometheus.internal", "basicAuth": {"username": "a:b", "password": "p"}},
        {"url": "https://prometheus.internal", "basicAuth": {"username": "u", "password": "p", "realm": "x"}},
        {"url": "https://prometheus.internal", "timeoutSeconds": 0},
        {"url": "https://prometheus.internal", "timeoutSeconds": 61},
        {"url": "https://prometheus.internal", "headers": {"Authorization": "Bearer x"}},
        {"url": "https://prometheus.internal", "headers": {"user-agent": "x"}},
        {"url": "https://prometheus.internal", "headers": {"X-Evil": "a\r\nInjected: 1"}},
        {"url": "https://prometheus.internal", "headers": {"Bad Name": "x"}},
        {"url": "https://prometheus.internal", "headers": {f"X-H{n}": "v" for n in range(11)}},
        {"url": "https://prometheus.internal", "insecureSkipVerify": True},
    ]

    @pytest.fixture(autouse=True)
    def _prometheus(self, prometheus: RunningPrometheus) -> None:
        self.prometheus = prometheus

    def make_capability(self) -> Prometheus:
        return Prometheus()

    def operation_config(self) -> dict[str, Any]:
        return self.prometheus.config()


class TestPrometheusPlugin(PluginContract):
    plugin_name = "prometheus"

    def make_plugin(self) -> object:
        return shiplane_plugin_prometheus.plugin


def test_the_plugin_registers_one_monitoring_type() -> None:
    [prometheus] = shiplane_plugin_prometheus.plugin.register_integration_types()
    assert (prometheus.id, prometheus.category) == ("prometheus", "monitoring")
    assert prometheus.describe()["operations"] == ["test", "health", "query_metrics"]
    info = shiplane_plugin_prometheus.plugin.plugin_info()
    assert (info.name, info.vendor, info.version, info.sdk_requires) == ("Prometheus", "Shiplane", "0.1.0", ">=0.1,<1")


def test_secret_and_destination_fields() -> None:
    prometheus = Prometheus()
    assert prometheus.secret_fields() == ["bearerToken", "basicAuth.password", "headers.*"]
    assert prometheus.destination_fields() == ["url"]
    schema = prometheus.config_schema
    assert schema["additionalProperties"] is False and schema["required"] == ["url"]
    assert schema["properties"]["timeoutSeconds"]["default"] == 10
    assert schema["properties"]["timeoutSeconds"]["maximum"] == 60


def errors_of(config: dict[str, Any]) -> dict[str, str]:
    return {error.field: error.message for error in Prometheus().validate_config(config)}


def test_config_errors_are_plain_and_never_quote_a_secret() -> None:
    assert errors_of({"url": "https://u:p@prometheus.internal"}) == {
        "url": "must be an http:// or https:// URL with a host and an optional path, without a user name, "
        "password, query or fragment"
    }
    assert errors_of(
        {"url": "https://p.internal", "bearerToken": SECRET, "basicAuth": {"username": "u", "password": SECRET}}
    ) == {"basicAuth": "set bearerToken or basicAuth, not both"}
    assert errors_of({"url": "https://p.internal", "headers": {"authorization": SECRET}}) == {
        "headers.authorization": "authorization is set by the plugin and can't be set here "
        "(use bearerToken or basicAuth)"
    }
    bad = {
        "url": "https://p.internal",
        "bearerToken": SECRET + " x",
        "basicAuth": {"username": "u", "password": SECRET + "\n"},
    }
    messages = [e.message for e in Prometheus().validate_config(bad)]
    assert messages and all(SECRET not in message for message in messages)
    header = {"url": "https://p.internal", "headers": {"X-Key": SECRET + "\n"}}
    assert "headers.X-Key" in errors_of(header) and all(SECRET not in m for m in errors_of(header).values())


def test_an_invalid_config_fails_test_and_health_without_a_call() -> None:
    import asyncio

    config = {"url": "https://p.internal", "bearerToken": BEARER_TOKEN, "timeoutSeconds": 300}
    result = asyncio.run(Prometheus().test(config))
    assert not result.ok and result.message.startswith("invalid configuration: timeoutSeconds")
    assert BEARER_TOKEN not in result.message
    report = asyncio.run(Prometheus().health(config))
    assert report.status == "failing" and "timeoutSeconds" in report.message
    with pytest.raises(ConfigValidationError):
        asyncio.run(Prometheus().query_metrics(config, MetricQuery(query="up")))
