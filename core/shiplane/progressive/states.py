"""The A/B release state machine (DESIGN §5), as a table: what may follow what.

    draft -start-> running (step 0)
    draft -deploy-> deploying (the candidate to its targets first) -deployed-> running (step 0)
    running -advance-> running (the next step)      paused -advance-> running (a person resumes)
    running -pause-> paused (an inconclusive analysis, by itself)
    running | paused -promote-> promoted (100% candidate; the environment's release is B)
    running | paused -rollback-> rolled_back (100% control; by a person, or a failing analysis)
    running | paused -abort-> aborted (its environment, a release or its router is gone)
    deploying -abort-> aborted (the candidate's deployment failed); deploying -rollback-> rolled_back

A change is a compare-and-set on the row's version. An action the table does not allow
is 409 ``INVALID_STATE``.
"""

from __future__ import annotations

from shiplane.platform.errors import ApiError

STATES = ("draft", "deploying", "running", "paused", "promoted", "rolled_back", "aborted")
TERMINAL = frozenset({"promoted", "rolled_back", "aborted"})

TRANSITIONS: dict[tuple[str, str], str] = {
    ("draft", "start"): "running",
    ("draft", "deploy"): "deploying",
    ("deploying", "deployed"): "running",
    ("deploying", "rollback"): "rolled_back",
    ("deploying", "abort"): "aborted",
    ("running", "advance"): "running",
    ("paused", "advance"): "running",
    ("running", "pause"): "paused",
    ("running", "promote"): "promoted",
    ("paused", "promote"): "promoted",
    ("running", "rollback"): "rolled_back",
    ("paused", "rollback"): "rolled_back",
    ("running", "abort"): "aborted",
    ("paused", "abort"): "aborted",
}

#: What a person may ask (the rest, pause and abort, is the driver's).
PERSON_ACTIONS = ("start", "advance", "promote", "rollback")


def transition(state: str, action: str) -> str:
    try:
        return TRANSITIONS[(state, action)]
    except KeyError:
        raise ApiError(
            "INVALID_STATE",
            f"a {state.replace('_', ' ')} A/B release cannot {action}",
            {"state": state, "action": action},
        ) from None
