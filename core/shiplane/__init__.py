"""Shiplane: the release orchestration control plane (server)."""

__version__ = "0.1.0"
