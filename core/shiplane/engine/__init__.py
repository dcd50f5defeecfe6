"""The execution engine: the durable work queue (``queue.py``) that agent tasks and
workflow steps are dispatched through (DESIGN §7)."""
