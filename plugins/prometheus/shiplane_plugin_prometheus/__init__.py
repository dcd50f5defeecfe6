"""Shiplane's Prometheus monitoring integration type (``prometheus``).

A/B release analysis reads its measurements through
:meth:`shiplane_plugin_prometheus.integration.Prometheus.query_metrics`; the answer's
conversion (and its limits) is in :mod:`shiplane_plugin_prometheus.results`.
"""

from shiplane_plugin_prometheus.integration import Prometheus
from shiplane_plugin_prometheus.results import (
    INFINITY_VALUE,
    MAX_POINTS_PER_SERIES,
    MAX_RESPONSE_BYTES,
    MAX_SERIES,
)

__all__ = ["INFINITY_VALUE", "MAX_POINTS_PER_SERIES", "MAX_RESPONSE_BYTES", "MAX_SERIES", "Prometheus"]
