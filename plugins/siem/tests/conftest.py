"""Fixtures of the siem plugin's tests (defined in siem_servers.py)."""

from siem_servers import hec, rsyslog, rsyslog_tls, tls_files

__all__ = ["hec", "rsyslog", "rsyslog_tls", "tls_files"]
