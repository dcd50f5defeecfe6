"""Fixtures of the haproxy plugin's tests (defined in haproxy_lab.py)."""

from haproxy_lab import fresh_haproxy, lab, shared_lab, version_servers

__all__ = ["fresh_haproxy", "lab", "shared_lab", "version_servers"]
