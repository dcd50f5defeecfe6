"""Shiplane's ``nginx`` traffic router: A/B splits, sticky cookies and header routing in a local nginx.

See docs/plugins/nginx.md. :class:`~shiplane_plugin_nginx.router.NginxRouter` is the
capability; :func:`~shiplane_plugin_nginx.render.location_snippet` and
:func:`~shiplane_plugin_nginx.render.http_snippet` give the lines the operator adds to
nginx's configuration; ``python -m shiplane_plugin_nginx init CONFIG.json`` writes the
first include file.
"""

from shiplane_plugin_nginx.render import http_snippet, location_snippet
from shiplane_plugin_nginx.router import NginxRouter, bootstrap

__all__ = ["NginxRouter", "bootstrap", "http_snippet", "location_snippet"]
