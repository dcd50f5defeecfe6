"""The state machines of runs and steps, as tables: what may follow what.

Every change of a run's or step's state goes through :func:`run_transition` /
:func:`step_transition` and is written as a compare-and-set on the state read
(``UPDATE ... WHERE state = <read>``), so two processes can never both move the same
run or step. An action the table does not allow is 409 ``INVALID_STATE``.
"""

from __future__ import annotations

from shiplane.platform.errors import ApiError

RUN_STATES = ("running", "paused", "cancelling", "succeeded", "failed", "cancelled")
RUN_TERMINAL = frozenset({"succeeded", "failed", "cancelled"})

# (state, action) -> next state. Actions: what a person asks (pause, resume, cancel) and
# what the engine decides (succeed, fail, finish_cancel).
RUN_TRANSITIONS: dict[tuple[str, str], str] = {
    ("running", "pause"): "paused",
    ("paused", "resume"): "running",
    ("running", "cancel"): "cancelling",
    ("paused", "cancel"): "cancelling",
    ("running", "succeed"): "succeeded",
    ("running", "fail"): "failed",
    ("cancelling", "finish_cancel"): "cancelled",
}

STEP_STATES = ("pending", "queued", "running", "waiting", "succeeded", "failed", "skipped", "cancelled")
STEP_TERMINAL = frozenset({"succeeded", "failed", "skipped", "cancelled"})

STEP_TRANSITIONS: dict[tuple[str, str], str] = {
    ("pending", "queue"): "queued",
    ("pending", "skip"): "skipped",
    ("pending", "cancel"): "cancelled",
    ("queued", "start"): "running",
    ("queued", "hold"): "pending",  # the run was paused before the step started
    ("queued", "cancel"): "cancelled",
    ("running", "succeed"): "succeeded",
    ("running", "fail"): "failed",
    ("running", "skip"): "skipped",  # its `when` was false
    ("running", "retry"): "queued",
    ("running", "cancel"): "cancelled",
    ("running", "restart"): "running",  # an idempotent step whose holder died runs again
    ("running", "ask"): "waiting",  # failed with onFailure: ask: a person decides
    ("waiting", "retry"): "queued",
    ("waiting", "skip"): "skipped",
    ("waiting", "abort"): "failed",
    ("waiting", "cancel"): "cancelled",
    # A step waiting for people (StepResult "waiting": approval, manual) runs again with each
    # decision, and says what follows.
    ("running", "wait"): "waiting",
    ("waiting", "decide"): "queued",
}

#: What a person may decide for a step waiting after a failure (onFailure: ask).
DECISIONS = ("retry", "skip", "abort")


def run_transition(state: str, action: str) -> str:
    try:
        return RUN_TRANSITIONS[(state, action)]
    except KeyError:
        raise ApiError(
            "INVALID_STATE",
            f"a {state} run cannot {action.replace('_', ' ')}",
            {"state": state, "action": action},
        ) from None


def step_transition(state: str, action: str) -> str:
    try:
        return STEP_TRANSITIONS[(state, action)]
    except KeyError:
        raise ApiError("INVALID_STATE", f"a {state} step cannot {action}", {"state": state, "action": action}) from None
