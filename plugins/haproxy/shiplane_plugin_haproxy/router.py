"""The ``haproxy`` traffic router: server weights through HAProxy's runtime API.

The operator's haproxy.cfg has one backend holding the control servers (A, the
current release) and the candidate servers (B). ``set_weights`` gives each server a
weight (``set server <backend>/<server> weight <n>``) so that the candidate servers
together hold the candidate's percentage of the backend's total weight, then reads
every weight back (``get weight``). Nothing is written to haproxy.cfg and HAProxy is
never reloaded. See docs/plugins/haproxy.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from math import gcd, lcm
from typing import Any, NoReturn

from shiplane_sdk import ConfigError, PluginError, TrafficRouter

from shiplane_plugin_haproxy.runtime_api import (
    ADMIN_DRAIN,
    ADMIN_MAINT,
    NAME_PATTERN,
    RuntimeApi,
    ServerState,
    excerpt,
    parse_address,
)

__all__ = ["CONFIG_SCHEMA", "MAX_SERVERS", "MAX_WEIGHT", "HaproxyRouter", "percentages", "server_weights"]

#: HAProxy's largest absolute server weight.
MAX_WEIGHT = 256
#: The most servers a side may list.
MAX_SERVERS = 32
SIDES = ("control", "candidate")

# JSON Schema patterns are ECMA-262, but jsonschema runs them with Python's re, whose
# "$" also matches before a final line break: "b1\n" matches ^...$ there. Every string
# that ends up in a runtime API command therefore also has to pass "no line break".
_NO_LINE_BREAK = {"pattern": "[\\r\\n]"}
_ADDRESS_PATTERN = r"^(?:/[^\x00-\x1f\x7f]{1,106}|(?:\[[0-9A-Fa-f:.]{2,45}\]|[A-Za-z0-9.-]{1,253}):[0-9]{1,5})$"
_NAME_MESSAGE = "must be 1 to 64 letters, digits, '_', '.', ':' or '-' (an HAProxy name; no space, ';' or line break)"
_ADDRESS_MESSAGE = (
    "must be the runtime API's UNIX socket path (absolute, at most 107 bytes) or host:port, "
    "with no line break (e.g. /run/haproxy/admin.sock or 127.0.0.1:9999)"
)


def _name_schema(title: str, description: str) -> dict[str, Any]:
    return {
        "type": "string",
        "title": title,
        "description": description,
        "minLength": 1,
        "maxLength": 64,
        "pattern": NAME_PATTERN,
        "not": _NO_LINE_BREAK,
    }


def _servers_schema(title: str, description: str) -> dict[str, Any]:
    return {
        "type": "array",
        "title": title,
        "description": description,
        "minItems": 1,
        "maxItems": MAX_SERVERS,
        "uniqueItems": True,
        "items": _name_schema("Server", "A server name of the backend, as in haproxy.cfg."),
    }


CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "HAProxy traffic router",
    "properties": {
        "runtimeApi": {
            "type": "string",
            "title": "Runtime API",
            "description": (
                "HAProxy's stats socket at level admin: a UNIX socket path (/run/haproxy/admin.sock) "
                "or host:port of a TCP stats socket (127.0.0.1:9999)."
            ),
            "minLength": 2,
            "maxLength": 260,
            "pattern": _ADDRESS_PATTERN,
            "not": _NO_LINE_BREAK,
        },
        "backend": _name_schema("Backend", "The HAProxy backend holding the control and candidate servers."),
        "controlServers": _servers_schema(
            "Control servers", "The servers of the backend running the current release (A): 1 to 32."
        ),
        "candidateServers": _servers_schema(
            "Candidate servers", "The servers of the backend running the new release (B): 1 to 32."
        ),
        "zeroShareMode": {
            "type": "string",
            "title": "A side at 0 %",
            "description": (
                "drain: weight 0 only, so users with the side's sticky cookie and header-routed requests still "
                "reach it; maintenance: weight 0 and maintenance state, so nobody reaches it (sticky users move)."
            ),
            "enum": ["drain", "maintenance"],
            "default": "drain",
        },
        "timeoutSeconds": {
            "type": "integer",
            "title": "Timeout (seconds)",
            "description": (
                "The deadline of one get_weights or set_weights call, every command included "
                "(undoing a set_weights that failed half-way gets as long again)."
            ),
            "minimum": 1,
            "maximum": 60,
            "default": 5,
        },
    },
    "required": ["runtimeApi", "backend", "controlServers", "candidateServers"],
    "additionalProperties": False,
}


# ---------------------------------------------------------------------------
# Weights: percentages <-> HAProxy server weights
# ---------------------------------------------------------------------------


def percentages(control_total: int, candidate_total: int) -> dict[str, int]:
    """The sides' shares, in whole percent, of the summed weights of their servers.

    Rounded half up; a side holding any weight gets at least 1 %, so 0 % always means
    "no new traffic". Both totals 0 is a ``ValueError`` (there is no share).
    """
    total = control_total + candidate_total
    if control_total < 0 or candidate_total < 0 or total == 0:
        raise ValueError("no weight on either side")
    candidate = (200 * candidate_total + total) // (2 * total)
    if candidate_total and control_total:
        candidate = min(max(candidate, 1), 99)
    return {"control": 100 - candidate, "candidate": candidate}


def _spread(total: int, servers: list[str]) -> dict[str, int]:
    share, rest = divmod(total, len(servers))
    return {server: share + (1 if index < rest else 0) for index, server in enumerate(servers)}


def server_weights(candidate_percent: int, control: list[str], candidate: list[str]) -> dict[str, int]:
    """The weight (0..256) of every server so that the candidate servers hold exactly
    ``candidate_percent`` % of the backend's total weight.

    0 % gives the candidate servers 0 and the control servers 1 (100 %: the reverse).
    Otherwise the sides' totals are the smallest exact ratio whose totals split evenly
    over each side's servers with every weight at most 256; when no such ratio fits (many
    servers on a side), the largest exact totals that fit, spread over the side's servers
    as evenly as integers allow (weights differing by at most 1, the first servers
    listed getting the extra unit). The ratio is exact in every case: with 1 to 32
    servers a side, ``percentages`` of the result is ``candidate_percent``.
    """
    if not control or not candidate:
        raise ValueError("each side needs at least one server")
    if not 0 <= candidate_percent <= 100:
        raise ValueError("a percentage is from 0 to 100")
    if candidate_percent in (0, 100):
        to_candidate = candidate_percent == 100
        return {**dict.fromkeys(control, int(not to_candidate)), **dict.fromkeys(candidate, int(to_candidate))}
    divisor = gcd(candidate_percent, 100 - candidate_percent)
    control_unit, candidate_unit = (100 - candidate_percent) // divisor, candidate_percent // divisor
    # The smallest multiple of the ratio that divides evenly over both sides' servers.
    multiple = lcm(
        len(control) // gcd(len(control), control_unit), len(candidate) // gcd(len(candidate), candidate_unit)
    )
    if control_unit * multiple > MAX_WEIGHT * len(control) or candidate_unit * multiple > MAX_WEIGHT * len(candidate):
        multiple = min(MAX_WEIGHT * len(control) // control_unit, MAX_WEIGHT * len(candidate) // candidate_unit)
    return {**_spread(control_unit * multiple, control), **_spread(candidate_unit * multiple, candidate)}


def _requested_candidate_share(weights: Any) -> int:
    valid = (
        isinstance(weights, dict)
        and set(weights) == set(SIDES)
        and all(type(value) is int and 0 <= value <= 100 for value in weights.values())
        and sum(weights.values()) == 100
    )
    if not valid:
        raise PluginError(
            "weights must be whole percentages from 0 to 100 for exactly 'control' and 'candidate', "
            f"summing to 100, not {excerpt(repr(weights), 120)}.",
            details={"weights": excerpt(repr(weights), 300)},
        )
    return int(weights["candidate"])


# ---------------------------------------------------------------------------
# The capability
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Settings:
    runtime_api: str
    backend: str
    control: list[str]
    candidate: list[str]
    zero_share_mode: str
    timeout: int

    def side(self, name: str) -> list[str]:
        return self.control if name == "control" else self.candidate


@dataclass(frozen=True)
class _Change:
    """One runtime API command of a set_weights call, and the command undoing it."""

    command: str
    undo: str
    text: str


def _admin_state_word(state: ServerState) -> str:
    if state.admin_state & 0x01:
        return "maint"
    if state.admin_state & 0x08:
        return "drain"
    return "ready"


class HaproxyRouter(TrafficRouter):
    """Splits a backend's new traffic between its control and candidate servers by weight."""

    id = "haproxy"
    display_name = "HAProxy"
    description = (
        "Shifts traffic between the control and candidate servers of an HAProxy backend by setting server "
        "weights through HAProxy's runtime API (stats socket at level admin); no reload."
    )
    config_schema = CONFIG_SCHEMA

    # -- configuration ------------------------------------------------------

    def validate_config(self, config: Any) -> list[ConfigError]:
        """The schema's errors, friendlier, plus what a schema can't say: a valid port
        and socket path length, and no server on both sides."""
        errors: list[ConfigError] = []
        for error in super().validate_config(config):
            if error.code in ("pattern", "not", "minLength", "maxLength"):
                if error.field == "backend" or re.fullmatch(r"(?:control|candidate)Servers\.[0-9]+", error.field):
                    error = ConfigError(field=error.field, message=_NAME_MESSAGE, code=error.code)
                elif error.field == "runtimeApi":
                    error = ConfigError(field=error.field, message=_ADDRESS_MESSAGE, code=error.code)
            if not any((error.field, error.message) == (seen.field, seen.message) for seen in errors):
                errors.append(error)
        if not isinstance(config, dict):
            return errors
        address = config.get("runtimeApi")
        if isinstance(address, str) and not any(error.field == "runtimeApi" for error in errors):
            try:
                parse_address(address)
            except ValueError as exc:
                errors.append(ConfigError(field="runtimeApi", message=f"the address {exc}", code="format"))
        control, candidate = config.get("controlServers"), config.get("candidateServers")
        if isinstance(control, list) and isinstance(candidate, list):
            for index, name in enumerate(candidate):
                if isinstance(name, str) and name in control:
                    errors.append(
                        ConfigError(
                            field=f"candidateServers.{index}",
                            message=f"server {name!r} is listed as a control server too; a server is on one side",
                            code="disjoint",
                        )
                    )
        return errors

    def _settings(self, config: Any) -> _Settings:
        errors = self.validate_config(config)
        if errors:
            described = "; ".join(f"{error.field or '<config>'}: {error.message}" for error in errors[:5])
            raise PluginError(
                f"the haproxy router's configuration is not valid: {described}.",
                details={"validationErrors": [error.model_dump() for error in errors]},
            )
        return _Settings(
            runtime_api=config["runtimeApi"],
            backend=config["backend"],
            control=list(config["controlServers"]),
            candidate=list(config["candidateServers"]),
            zero_share_mode=config.get("zeroShareMode", "drain"),
            timeout=int(config.get("timeoutSeconds", 5)),
        )

    @staticmethod
    def _current(api: RuntimeApi, settings: _Settings) -> dict[str, ServerState]:
        """The configured servers' states; PluginError naming any the backend lacks."""
        servers = api.servers(settings.backend)
        missing = [name for name in settings.control + settings.candidate if name not in servers]
        if missing:
            known = ", ".join(sorted(servers)[:40]) or "none"
            raise PluginError(
                f"HAProxy backend {settings.backend!r} has no server named {', '.join(map(repr, missing))} "
                f"(its servers: {known}).",
                details={"backend": settings.backend, "missing": missing, "servers": sorted(servers)[:100]},
            )
        return servers

    # -- get_weights ----------------------------------------------------------

    def get_weights(self, config: dict[str, Any]) -> dict[str, int]:
        """The sides' shares of the backend's total weight, as HAProxy has them now."""
        settings = self._settings(config)
        servers = self._current(RuntimeApi(settings.runtime_api, settings.timeout), settings)
        control = sum(servers[name].weight for name in settings.control)
        candidate = sum(servers[name].weight for name in settings.candidate)
        if control + candidate == 0:
            raise PluginError(
                f"every control and candidate server of HAProxy backend {settings.backend!r} has weight 0, "
                "so there is no traffic split to report.",
                details={"backend": settings.backend},
            )
        return percentages(control, candidate)

    # -- set_weights ----------------------------------------------------------

    def set_weights(self, config: dict[str, Any], weights: dict[str, int]) -> None:
        """Give the servers weights matching ``weights``, verify them, check both sides can serve.

        Weights that go up are set before weights that go down, so the backend never
        has all its weight at 0 in between. A refused command stops the call: the
        changes already made are undone and the error says what HAProxy answered.
        """
        settings = self._settings(config)
        candidate_share = _requested_candidate_share(weights)
        share = {"control": 100 - candidate_share, "candidate": candidate_share}
        api = RuntimeApi(settings.runtime_api, settings.timeout)
        before = self._current(api, settings)
        targets = server_weights(candidate_share, settings.control, settings.candidate)
        plan = self._plan(settings, before, targets, share)
        self._apply(api, settings, plan)
        self._verify(api, settings, targets)
        self._check_serving(api, settings, targets, share)

    @staticmethod
    def _plan(
        settings: _Settings, before: dict[str, ServerState], targets: dict[str, int], share: dict[str, int]
    ) -> list[_Change]:
        backend = settings.backend
        maintenance = settings.zero_share_mode == "maintenance"
        plan: list[_Change] = []
        if maintenance:
            for side in SIDES:
                for name in settings.side(side) if share[side] > 0 else []:
                    if before[name].admin_state & (ADMIN_MAINT | ADMIN_DRAIN):
                        previous = _admin_state_word(before[name])
                        plan.append(
                            _Change(
                                f"set server {backend}/{name} state ready",
                                f"set server {backend}/{name} state {previous}",
                                f"{name} state {previous} -> ready",
                            )
                        )
        raised = [name for name, weight in targets.items() if weight > before[name].weight]
        lowered = [name for name, weight in targets.items() if weight < before[name].weight]
        for name in raised + lowered:
            plan.append(
                _Change(
                    f"set server {backend}/{name} weight {targets[name]}",
                    f"set server {backend}/{name} weight {before[name].weight}",
                    f"{name} weight {before[name].weight} -> {targets[name]}",
                )
            )
        if maintenance:
            for side in SIDES:
                for name in settings.side(side) if share[side] == 0 else []:
                    if not before[name].admin_state & 0x01:
                        previous = _admin_state_word(before[name])
                        plan.append(
                            _Change(
                                f"set server {backend}/{name} state maint",
                                f"set server {backend}/{name} state {previous}",
                                f"{name} state {previous} -> maint",
                            )
                        )
        return plan

    def _apply(self, api: RuntimeApi, settings: _Settings, plan: list[_Change]) -> None:
        done: list[_Change] = []
        for change in plan:
            try:
                answer = api.command(change.command)
            except PluginError as exc:
                # No answer: the command may or may not have been applied, so undo it too.
                self._fail(settings, change, exc.message.rstrip("."), [*done, change], "")
            if answer.strip():
                self._fail(settings, change, f"HAProxy refused {change.command!r}: {excerpt(answer)}", done, answer)
            done.append(change)

    @staticmethod
    def _fail(settings: _Settings, change: _Change, problem: str, done: list[_Change], answer: str) -> NoReturn:
        details: dict[str, Any] = {
            "backend": settings.backend,
            "command": change.command,
            "changed": [item.text for item in done],
        }
        if answer:
            details["haproxy"] = excerpt(answer)
        if not done:
            raise PluginError(f"{problem}; nothing was changed.", details=details)
        undo_api = RuntimeApi(settings.runtime_api, settings.timeout)  # a deadline of its own
        failure = ""
        for item in reversed(done):
            try:
                undo_answer = undo_api.command(item.undo)
            except PluginError as exc:
                failure = exc.message.rstrip(".")
                break
            if undo_answer.strip():
                failure = f"HAProxy refused {item.undo!r}: {excerpt(undo_answer)}"
                break
        changed = ", ".join(item.text for item in done)
        details["undone"] = not failure
        if failure:
            raise PluginError(
                f"{problem}; undoing the changes already made ({changed}) failed too ({failure}), "
                "so some of them may still be in place.",
                details=details,
            )
        raise PluginError(f"{problem}; the changes already made were undone ({changed}).", details=details)

    @staticmethod
    def _verify(api: RuntimeApi, settings: _Settings, targets: dict[str, int]) -> None:
        wrong: list[str] = []
        for name, expected in targets.items():
            try:
                actual = api.weight(settings.backend, name)
            except PluginError as exc:
                raise PluginError(
                    f"the weights were set but could not be read back: {exc.message.rstrip('.')}.",
                    details={"backend": settings.backend, **exc.details},
                ) from None
            if actual != expected:
                wrong.append(f"{name} has {actual}, not {expected}")
        if wrong:
            raise PluginError(
                f"HAProxy backend {settings.backend!r} does not have the weights just set ({'; '.join(wrong)}); "
                "did something else change them at the same time?",
                details={"backend": settings.backend, "expected": targets},
            )

    def _check_serving(
        self, api: RuntimeApi, settings: _Settings, targets: dict[str, int], share: dict[str, int]
    ) -> None:
        """A side that should get traffic needs a server HAProxy may pick, or its share goes elsewhere."""
        try:
            servers = self._current(api, settings)
        except PluginError as exc:
            raise PluginError(
                f"the weights were set but the servers' states could not be read: {exc.message.rstrip('.')}.",
                details={"backend": settings.backend, **exc.details},
            ) from None
        for side in SIDES:
            names = [name for name in settings.side(side) if targets[name] > 0]
            if share[side] == 0 or any(servers[name].takes_new_traffic for name in names):
                continue
            reasons = ", ".join(f"{name} is {servers[name].why_not()}" for name in names)
            other = "candidate" if side == "control" else "control"
            raise PluginError(
                f"the weights were set, but no {side} server of HAProxy backend {settings.backend!r} can take new "
                f"traffic ({reasons}), so HAProxy sends the {side} share to the {other} servers.",
                details={"backend": settings.backend, "side": side, "weights": targets},
            )
