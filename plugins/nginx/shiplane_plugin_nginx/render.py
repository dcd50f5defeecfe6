"""The include file: what the router writes for given weights, and reading its state back.

The file starts with two comment lines; the second carries the applied state as JSON::

    # Managed by Shiplane's nginx traffic router "app": every change is overwritten, do not edit.
    # shiplane-nginx: {"candidate": 10, "control": 90, "epoch": "3f9a0c1d", "format": 1, "name": "app"}

``epoch`` identifies the current split: the sticky cookie's value is ``<side>.<epoch>``,
so a cookie from an earlier split (an earlier release) is ignored. A new epoch starts
whenever a split starts, that is when the previous candidate weight was 0 or 100.

Every value rendered comes from a validated config (see :mod:`shiplane_plugin_nginx.config`);
map keys are written with nginx's ``\\`` escape so that none is read as ``default``,
``include`` or a regular expression.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from typing import TypeGuard

from shiplane_plugin_nginx.config import Settings

__all__ = [
    "FORMAT",
    "MARKER",
    "State",
    "http_snippet",
    "is_ours",
    "location_snippet",
    "new_epoch",
    "read_state",
    "render",
    "variable_names",
]

#: The first line's start: a file beginning otherwise is not the router's and is never overwritten.
MARKER = "# Managed by Shiplane's nginx traffic router"
_STATE_PREFIX = "# shiplane-nginx: "
FORMAT = 1
_EPOCH_PATTERN = re.compile(r"^[0-9a-f]{8}$")


@dataclass(frozen=True)
class State:
    """The state an include file records."""

    name: str
    control: int
    candidate: int
    epoch: str

    @property
    def weights(self) -> dict[str, int]:
        return {"control": self.control, "candidate": self.candidate}

    @property
    def splitting(self) -> bool:
        """Whether both sides get traffic (the sticky cookie is honoured only then)."""
        return 0 < self.candidate < 100


def new_epoch() -> str:
    return secrets.token_hex(4)


def variable_names(name: str) -> dict[str, str]:
    """The nginx names a router defines, keyed by role."""
    base = f"shiplane_{name}"
    return {
        "control_upstream": f"{base}_control",
        "candidate_upstream": f"{base}_candidate",
        "split": f"{base}_split",
        "by_header": f"{base}_by_header",
        "by_cookie": f"{base}_by_cookie",
        "variant": f"{base}_variant",
        "upstream": f"{base}_upstream",
        "set_cookie": f"{base}_set_cookie",
    }


def http_snippet(include_file: str) -> str:
    """The line the operator adds to the ``http`` block of the main configuration."""
    return f"include {include_file};"


def location_snippet(name: str, path: str = "/") -> str:
    """The ``location`` the operator adds to the ``server`` block (see docs/plugins/nginx.md)."""
    names = variable_names(name)
    return (
        f"location {path} {{\n"
        f"    proxy_pass http://${names['upstream']};\n"
        "    proxy_set_header Host $host;\n"
        f"    add_header Set-Cookie ${names['set_cookie']} always;\n"
        "}"
    )


def render(settings: Settings, state: State) -> str:
    """The include file for ``settings`` with ``state``'s weights and epoch."""
    n = variable_names(settings.name)
    header = json.dumps(
        {
            "candidate": state.candidate,
            "control": state.control,
            "epoch": state.epoch,
            "format": FORMAT,
            "name": settings.name,
        },
        sort_keys=True,
    )
    lines = [
        f'{MARKER} "{settings.name}": every change is overwritten, do not edit.',
        f"{_STATE_PREFIX}{header}",
        "#",
        "# In the server block:",
        *(f"#     {line}" for line in location_snippet(settings.name).splitlines()),
        "",
        f"upstream {n['control_upstream']} {{",
        *(f"    server {server};" for server in settings.control_servers),
        "}",
        "",
        f"upstream {n['candidate_upstream']} {{",
        *(f"    server {server};" for server in settings.candidate_servers),
        "}",
        "",
        f"# The side of a request nothing else decides: {state.candidate}% candidate, at random.",
    ]
    if state.candidate == 0:
        lines += [f'map "" ${n["split"]} {{', "    default control;", "}"]
    elif state.candidate == 100:
        lines += [f'map "" ${n["split"]} {{', "    default candidate;", "}"]
    else:
        lines += [
            f'split_clients "{n["split"]}${{request_id}}" ${n["split"]} {{',
            f"    {state.candidate}% candidate;",
            "    * control;",
            "}",
        ]
    lines.append("")
    if settings.header_name and settings.header_value:
        header_variable = "$http_" + settings.header_name.lower().replace("-", "_")
        lines += [
            f"# Header routing: {settings.header_name}: {settings.header_value} (any case) goes to the candidate.",
            f"map {header_variable} ${n['by_header']} {{",
            '    default "";',
            f"    {_key(settings.header_value)} candidate;",
            "}",
        ]
    else:
        lines += ["# No header routing.", f'map "" ${n["by_header"]} {{', '    default "";', "}"]
    lines.append("")
    sticky = settings.sticky and state.splitting
    if sticky:
        lines += [
            f"# Stickiness: the cookie {settings.cookie_name} of this split (epoch {state.epoch}).",
            f"map $cookie_{settings.cookie_name} ${n['by_cookie']} {{",
            '    default "";',
            f"    {_key('control.' + state.epoch)} control;",
            f"    {_key('candidate.' + state.epoch)} candidate;",
            "}",
        ]
    else:
        reason = "the weights send everything to one side" if settings.sticky else "stickiness is off"
        lines += [f"# No sticky cookie: {reason}.", f'map "" ${n["by_cookie"]} {{', '    default "";', "}"]
    lines += [
        "",
        "# The side of the request: the header, else the cookie, else the split.",
        f'map "s:${n["by_header"]}${n["by_cookie"]}${n["split"]}" ${n["variant"]} {{',
        "    default control;",
        "    ~^s:candidate candidate;",
        "}",
        "",
        f"map ${n['variant']} ${n['upstream']} {{",
        f"    default {n['control_upstream']};",
        f"    candidate {n['candidate_upstream']};",
        "}",
        "",
    ]
    if sticky:
        attributes = ["Path=/"]
        if settings.cookie_max_age:
            attributes.append(f"Max-Age={settings.cookie_max_age}")
        attributes += ["HttpOnly", "SameSite=Lax"]
        if settings.cookie_secure:
            attributes.append("Secure")
        cookie = f"{settings.cookie_name}=${{{n['variant']}}}.{state.epoch}; " + "; ".join(attributes)
        lines += [
            "# Set the cookie when the split decided (no header, no cookie of this split).",
            f'map "s:${n["by_header"]}${n["by_cookie"]}" ${n["set_cookie"]} {{',
            '    default "";',
            f'    s: "{cookie}";',
            "}",
        ]
    else:
        lines += ["# No cookie to set.", f'map "" ${n["set_cookie"]} {{', '    default "";', "}"]
    return "\n".join(lines) + "\n"


def _key(value: str) -> str:
    """``value`` as an exact map key: ``\\\\`` in the file, which nginx's parser reads as one ``\\``,
    which map drops, so the key is never taken for ``default``, ``include`` or a ``~`` regex."""
    return "\\\\" + value


def _percentage(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 100


def is_ours(text: str) -> bool:
    """Whether ``text`` (a file's content) was written by the router, or is empty."""
    return not text.strip() or text.startswith(MARKER)


def read_state(text: str) -> State | None:
    """The state recorded in an include file's text; ``None`` if it records none that is valid."""
    if not text.startswith(MARKER):
        return None
    for line in text.splitlines()[:5]:
        if not line.startswith(_STATE_PREFIX):
            continue
        try:
            data = json.loads(line[len(_STATE_PREFIX) :])
        except ValueError:
            return None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            return None
        control, candidate = data.get("control"), data.get("candidate")
        name, epoch = data.get("name"), data.get("epoch")
        if not (_percentage(control) and _percentage(candidate)) or not isinstance(name, str):
            return None
        if control + candidate != 100 or not isinstance(epoch, str):
            return None
        if not _EPOCH_PATTERN.fullmatch(epoch):
            return None
        return State(name=name, control=control, candidate=candidate, epoch=epoch)
    return None
