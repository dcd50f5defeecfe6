"""Prometheus query answers (the ``data`` of ``/api/v1/query`` and ``/api/v1/query_range``)
as :class:`~shiplane_sdk.MetricResult`, within bounds.

The four result types:

``vector`` (instant query)
    one series per sample, with its labels (``__name__`` included when Prometheus gives
    it) and one point.
``matrix`` (range query, or an instant query of a range selector such as ``up[1m]``)
    one series per series, its points oldest first.
``scalar``
    one series without labels and one point.
``string``
    one series labelled ``{"string": <the text>}`` and one point whose value is the text
    read as a number when it is one (``"0.5"``), else ``None``.

Values: ``NaN`` becomes ``None`` (undefined: ``0/0``, a ratio over no traffic).
``+Inf`` and ``-Inf`` become ``+INFINITY_VALUE`` and ``-INFINITY_VALUE``, the largest
finite float: they keep comparing as "above (below) every threshold" (a
``histogram_quantile`` in the ``+Inf`` bucket, ``x/0``) and stay valid JSON, which a
float infinity is not (PostgreSQL's ``jsonb`` refuses it). Native histogram samples have
no single value and are refused: wrap them in ``histogram_quantile``, ``histogram_count``
or ``histogram_sum``.
"""

from __future__ import annotations

import math
import sys
from datetime import UTC, datetime
from typing import Any

from shiplane_sdk import MetricPoint, MetricResult, MetricSeries, PluginError

__all__ = [
    "INFINITY_VALUE",
    "MAX_POINTS_PER_SERIES",
    "MAX_RESPONSE_BYTES",
    "MAX_SERIES",
    "NotPrometheus",
    "to_metric_result",
    "value_of",
]

#: The most series an answer may hold.
MAX_SERIES = 1_000
#: The most points one series may hold (Prometheus' own limit of a range query's resolution).
MAX_POINTS_PER_SERIES = 11_000
#: The most bytes of an answer read, after decompression (16 MiB).
MAX_RESPONSE_BYTES = 16 * 1024 * 1024
#: What ``+Inf`` becomes (``-Inf``: its negative): the largest finite float.
INFINITY_VALUE = sys.float_info.max
#: The longest label value or string result kept as is (longer ones are cut).
_MAX_TEXT = 4096


class NotPrometheus(ValueError):
    """The answer is not shaped like a Prometheus query result (says what is wrong)."""


def value_of(text: Any) -> float | None:
    """A sample value as Prometheus writes it (a string: ``"1.5"``, ``"NaN"``, ``"+Inf"``)."""
    if not isinstance(text, str):
        raise NotPrometheus(f"a sample value is {type(text).__name__}, not a string")
    try:
        number = float(text)
    except ValueError:
        raise NotPrometheus("a sample value is not a number") from None
    if math.isnan(number):
        return None
    if math.isinf(number):
        return INFINITY_VALUE if number > 0 else -INFINITY_VALUE
    return number


def _at(timestamp: Any) -> datetime:
    if isinstance(timestamp, bool) or not isinstance(timestamp, int | float):
        raise NotPrometheus("a sample timestamp is not a number")
    try:
        return datetime.fromtimestamp(timestamp, UTC)
    except (OverflowError, OSError, ValueError):
        raise NotPrometheus("a sample timestamp is out of range") from None


def _point(sample: Any) -> MetricPoint:
    if not isinstance(sample, list) or len(sample) != 2:
        raise NotPrometheus("a sample is not a [timestamp, value] pair")
    return MetricPoint(at=_at(sample[0]), value=value_of(sample[1]))


def _labels(metric: Any) -> dict[str, str]:
    if metric is None:
        return {}
    if not isinstance(metric, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in metric.items()):
        raise NotPrometheus("the labels of a series are not an object of strings")
    return {name: value[:_MAX_TEXT] for name, value in metric.items()}


def _too_many_series(count: int) -> PluginError:
    return PluginError(
        f"the query returned {count:,} series, more than the {MAX_SERIES:,} accepted: aggregate it "
        "(for example sum by (code) (...)) or select fewer series",
        details={"series": count, "maxSeries": MAX_SERIES},
    )


def _too_many_points(count: int) -> PluginError:
    return PluginError(
        f"a series of the answer has {count:,} points, more than the {MAX_POINTS_PER_SERIES:,} accepted: "
        "use a shorter range or a larger step",
        details={"points": count, "maxPointsPerSeries": MAX_POINTS_PER_SERIES},
    )


_HISTOGRAMS = PluginError(
    "the query returned native histogram samples, which have no single value: wrap it in "
    "histogram_quantile(), histogram_count() or histogram_sum()"
)


def to_metric_result(data: Any) -> MetricResult:
    """The :class:`MetricResult` of a successful answer's ``data`` object.

    Raises :class:`NotPrometheus` when ``data`` is not shaped like a query result and
    :class:`~shiplane_sdk.PluginError` when it holds more than :data:`MAX_SERIES` series,
    a series with more than :data:`MAX_POINTS_PER_SERIES` points, or native histograms.
    """
    if not isinstance(data, dict):
        raise NotPrometheus("data is not an object")
    result_type = data.get("resultType")
    result = data.get("result")
    if result_type == "scalar":
        return MetricResult(series=[MetricSeries(labels={}, points=[_point(result)])])
    if result_type == "string":
        if not isinstance(result, list) or len(result) != 2 or not isinstance(result[1], str):
            raise NotPrometheus("a string result is not a [timestamp, text] pair")
        text = result[1]
        try:
            value = value_of(text.strip())
        except NotPrometheus:
            value = None
        point = MetricPoint(at=_at(result[0]), value=value)
        return MetricResult(series=[MetricSeries(labels={"string": text[:_MAX_TEXT]}, points=[point])])
    if result_type not in ("vector", "matrix"):
        raise NotPrometheus(f"unknown resultType {str(result_type)[:40]!r}")
    if not isinstance(result, list):
        raise NotPrometheus(f"the result of a {result_type} is not a list")
    if len(result) > MAX_SERIES:
        raise _too_many_series(len(result))
    series: list[MetricSeries] = []
    for item in result:
        if not isinstance(item, dict):
            raise NotPrometheus(f"a series of a {result_type} is not an object")
        labels = _labels(item.get("metric"))
        if result_type == "vector":
            if "histogram" in item and "value" not in item:
                raise _HISTOGRAMS
            points = [_point(item.get("value"))]
        else:
            if item.get("histograms"):
                raise _HISTOGRAMS
            values = item.get("values")
            if not isinstance(values, list):
                raise NotPrometheus("a series of a matrix has no list of values")
            if len(values) > MAX_POINTS_PER_SERIES:
                raise _too_many_points(len(values))
            points = sorted((_point(sample) for sample in values), key=lambda point: point.at)
        series.append(MetricSeries(labels=labels, points=points))
    return MetricResult(series=series)
