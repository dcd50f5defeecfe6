"""Fixtures of the nginx router's tests (defined in nginx_server.py)."""

from nginx_server import nginx

__all__ = ["nginx"]
