"""Shiplane's SIEM sinks: the audit trail streamed to Splunk HEC (``splunk-hec``) and to syslog (``syslog``).

A receiver checks what it got with :func:`verify_chain` (``hash == sha256_hex(prevHash +
canonical)`` and each ``prevHash`` the previous record's ``hash``); docs/plugins/siem.md
shows the same check without installing the plugin.
"""

from shiplane_plugin_siem.common import GENESIS_HASH, chain_hash, verify_chain

__all__ = ["GENESIS_HASH", "chain_hash", "verify_chain"]
