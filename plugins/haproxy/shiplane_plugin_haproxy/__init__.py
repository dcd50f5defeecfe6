"""Shiplane's ``haproxy`` traffic router: A/B release traffic split by HAProxy server weights.

The weights are set through HAProxy's runtime API (its ``stats socket`` at level
admin), never by rewriting haproxy.cfg or reloading. ``server_weights`` and
``percentages`` are the conversions the router applies (docs/plugins/haproxy.md).
"""

from shiplane_plugin_haproxy.router import CONFIG_SCHEMA, HaproxyRouter, percentages, server_weights

__all__ = ["CONFIG_SCHEMA", "HaproxyRouter", "percentages", "server_weights"]
