"""Shiplane's notification integration types: signed webhooks (``webhook``) and e-mail (``smtp``).

``event_matches`` is the reference implementation of the ``events`` filter every
notification config has (docs/plugins/notify.md states the rule the core applies).
Receivers of webhooks check deliveries with :func:`shiplane_plugin_notify.webhook.verify`.
"""

from shiplane_plugin_notify.events import DEFAULT_EVENTS, event_matches

__all__ = ["DEFAULT_EVENTS", "event_matches"]
