"""The promotion state machine (DESIGN §5), as a table: what may follow what.

    pending -> evaluating -> blocked | awaiting_approval | approved
    blocked -> evaluating (re-evaluated: by itself when its cause can end, or on request)
    awaiting_approval -> approved (enough approvals, the gates still pass) | blocked | rejected
    approved -> deploying -> succeeded | failed | rolled_back
    pending | evaluating | blocked | awaiting_approval | approved -cancel-> cancelled
    awaiting_approval -expire-> cancelled (the approval policy's expiry)

A change is written with the row's version as a compare-and-set (the ORM's version
counter), so two processes never both move one promotion. An action the table does not
allow is 409 ``INVALID_STATE``.
"""

from __future__ import annotations

from typing import Literal, get_args

from shiplane.platform.errors import ApiError

#: Every state of the machine (the API's ``state`` field names them in the document too).
PromotionState = Literal[
    "pending",
    "evaluating",
    "blocked",
    "awaiting_approval",
    "approved",
    "deploying",
    "succeeded",
    "failed",
    "rolled_back",
    "rejected",
    "cancelled",
]
STATES: tuple[str, ...] = get_args(PromotionState)
TERMINAL = frozenset({"succeeded", "failed", "rolled_back", "rejected", "cancelled"})
#: Still deciding: what `my/pending-approvals` and the sweep look at.
OPEN = frozenset({"pending", "evaluating", "blocked", "awaiting_approval"})

TRANSITIONS: dict[tuple[str, str], str] = {
    ("pending", "evaluate"): "evaluating",
    ("evaluating", "block"): "blocked",
    ("evaluating", "await_approval"): "awaiting_approval",
    ("evaluating", "approve"): "approved",
    ("evaluating", "reject"): "rejected",
    ("blocked", "evaluate"): "evaluating",
    ("awaiting_approval", "evaluate"): "evaluating",
    ("awaiting_approval", "decide"): "awaiting_approval",  # an approval that does not yet reach N
    ("awaiting_approval", "expire"): "cancelled",
    ("approved", "deploy"): "deploying",
    ("deploying", "succeed"): "succeeded",
    ("deploying", "fail"): "failed",
    ("deploying", "roll_back"): "rolled_back",
    ("succeeded", "roll_back"): "rolled_back",
    ("pending", "cancel"): "cancelled",
    ("evaluating", "cancel"): "cancelled",
    ("blocked", "cancel"): "cancelled",
    ("awaiting_approval", "cancel"): "cancelled",
    ("approved", "cancel"): "cancelled",
}

#: What a person may ask of a promotion, and in which states (the rest is the service's).
PERSON_ACTIONS: dict[str, frozenset[str]] = {
    # Approvals are collected while another gate blocks too (a freeze): they count when it ends.
    "approve": frozenset({"awaiting_approval", "blocked"}),
    "reject": frozenset({"awaiting_approval", "blocked"}),
    "cancel": frozenset({"pending", "evaluating", "blocked", "awaiting_approval", "approved"}),
    "evaluate": frozenset({"blocked", "awaiting_approval"}),
}


def allow(state: str, action: str) -> None:
    """409 INVALID_STATE unless a person may ``action`` a promotion in ``state``."""
    if state not in PERSON_ACTIONS.get(action, frozenset()):
        raise ApiError(
            "INVALID_STATE",
            f"a {state.replace('_', ' ')} promotion cannot be asked to {action}",
            {"state": state, "action": action},
        )


def transition(state: str, action: str) -> str:
    try:
        return TRANSITIONS[(state, action)]
    except KeyError:
        raise ApiError(
            "INVALID_STATE",
            f"a {state.replace('_', ' ')} promotion cannot {action.replace('_', ' ')}",
            {"state": state, "action": action},
        ) from None
