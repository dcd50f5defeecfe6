"""Fixtures of the notify plugin's tests (defined in notify_servers.py)."""

from notify_servers import receiver, smtp_server, tls, trust_test_ca

__all__ = ["receiver", "smtp_server", "tls", "trust_test_ca"]
