"""The deployment-job state machine, as a table (DESIGN §5, DEPLOY).

    pending -> running -> succeeded | failed | partially_applied | cancelled | rolled_back
    pending -> failed | cancelled                  (it could not start)
    succeeded | partially_applied -> rolled_back  (a later rollback replaced it)

What a person may ask of a job: ``rollback`` (``POST /rollbacks`` with its ``jobId``),
once it has ended and deployed something. Anything else is 409 ``INVALID_STATE``.
"""

from __future__ import annotations

from shiplane.platform.errors import ApiError

STATES = ("pending", "running", "succeeded", "failed", "partially_applied", "cancelled", "rolled_back")
ENDED = frozenset({"succeeded", "failed", "partially_applied", "cancelled", "rolled_back"})

TRANSITIONS: dict[tuple[str, str], str] = {
    ("pending", "start"): "running",
    ("pending", "fail"): "failed",
    ("pending", "cancel"): "cancelled",
    ("running", "succeed"): "succeeded",
    ("running", "fail"): "failed",
    ("running", "partially_apply"): "partially_applied",
    ("running", "cancel"): "cancelled",
    ("running", "roll_back"): "rolled_back",  # its post-deployment checks failed: rolled back by itself
    ("succeeded", "roll_back"): "rolled_back",
    ("partially_applied", "roll_back"): "rolled_back",
}

#: What a person may ask of a job, and in which states.
PERSON_ACTIONS: dict[str, frozenset[str]] = {
    # Undo a job: what it changed goes back to the release before it.
    "rollback": frozenset({"succeeded", "partially_applied", "failed"}),
}


def allow(state: str, action: str) -> None:
    if state not in PERSON_ACTIONS.get(action, frozenset()):
        raise ApiError(
            "INVALID_STATE",
            f"a {state.replace('_', ' ')} deployment job cannot be asked to {action}",
            {"state": state, "action": action},
        )


#: The engine's action that leads to each final state.
ACTION_TO = {
    "succeeded": "succeed",
    "failed": "fail",
    "partially_applied": "partially_apply",
    "cancelled": "cancel",
    "rolled_back": "roll_back",
}


def transition(state: str, action: str) -> str:
    try:
        return TRANSITIONS[(state, action)]
    except KeyError:
        raise ApiError(
            "INVALID_STATE",
            f"a {state.replace('_', ' ')} deployment job cannot {action.replace('_', ' ')}",
            {"state": state, "action": action},
        ) from None
