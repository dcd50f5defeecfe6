"""The router's configuration: its JSON Schema, friendlier messages, and :class:`Settings`.

Every string that reaches the include file (the router name, the servers, the cookie
name, the routing header's name and value) is checked against a pattern that admits no
whitespace, quote, ``;``, ``{``, ``}``, ``$``, ``#`` or backslash: nothing in a valid
config can end an nginx directive or open a block. The renderer relies on it and
:meth:`Settings.from_config` refuses a config the schema refuses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from shiplane_sdk import ConfigError

__all__ = [
    "COOKIE_NAME_PATTERN",
    "DEFAULT_COOKIE_MAX_AGE",
    "DEFAULT_COOKIE_NAME",
    "DEFAULT_NGINX_BINARY",
    "DEFAULT_PID_FILE",
    "DEFAULT_TIMEOUT_SECONDS",
    "HEADER_NAME_PATTERN",
    "HEADER_VALUE_PATTERN",
    "MAX_SERVERS",
    "NAME_PATTERN",
    "SERVER_PATTERN",
    "CONFIG_SCHEMA",
    "Settings",
    "friendlier",
]

#: The end of the string. Not ``$``: Python's ``re`` (which jsonschema uses) lets ``$`` match before a
#: final newline, so ``"app\n"`` would pass ``^[a-z]+$``. This works in Python and ECMA-262 alike.
_END = r"(?![\s\S])"
#: The router's name: it names the upstreams and variables (``$shiplane_<name>_upstream``).
NAME_PATTERN = rf"^[a-z][a-z0-9_]{{0,62}}{_END}"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_PORT = r"(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})"
#: One upstream server: ``host:port``, the host a DNS name, an IPv4 address or a bracketed IPv6 address.
SERVER_PATTERN = rf"^(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9A-Fa-f:.]{{2,45}}\]):{_PORT}{_END}"
#: An absolute path: segments of letters, digits and ``. _ + -``, never ``.`` or ``..``.
_PATH_BODY = r"(?!.*/\.\.?(?:/|$))(?:/[A-Za-z0-9._+-]+)+"
_PATH_PATTERN = rf"^{_PATH_BODY}{_END}"
_CONF_PATH_PATTERN = rf"^{_PATH_BODY}\.conf{_END}"
#: ``nginx`` (looked up on PATH, then in the usual sbin directories) or an absolute path to a file named nginx.
_BINARY_PATTERN = rf"^(?:nginx|(?!.*/\.\.?(?:/|$))(?:/[A-Za-z0-9._+-]+)*/nginx){_END}"
#: A cookie name nginx can read as ``$cookie_<name>``.
COOKIE_NAME_PATTERN = rf"^[a-z][a-z0-9_]{{0,63}}{_END}"
#: An HTTP header name nginx can read as ``$http_<name>`` (no ``_``: nginx drops such headers by default).
HEADER_NAME_PATTERN = rf"^[A-Za-z][A-Za-z0-9-]{{0,63}}{_END}"
#: The routing header's value: a token (nginx's map keys are bounded by ``map_hash_bucket_size``).
HEADER_VALUE_PATTERN = rf"^[A-Za-z0-9][A-Za-z0-9._~+/=-]{{0,39}}{_END}"
MAX_SERVERS = 32

DEFAULT_NGINX_BINARY = "nginx"
DEFAULT_PID_FILE = "/run/nginx.pid"
DEFAULT_COOKIE_NAME = "shiplane_variant"
DEFAULT_COOKIE_MAX_AGE = 86400
DEFAULT_TIMEOUT_SECONDS = 20
MAX_COOKIE_MAX_AGE = 31_536_000


def _servers(side: str) -> dict[str, Any]:
    return {
        "type": "array",
        "title": f"{side.capitalize()} servers",
        "description": (
            f"The {side} side's servers, host:port (app-1.internal:8080, 10.0.0.5:8080, [2001:db8::5]:8080); "
            f"1 to {MAX_SERVERS}, nginx balances round-robin between them."
        ),
        "items": {"type": "string", "minLength": 3, "maxLength": 260, "pattern": SERVER_PATTERN},
        "minItems": 1,
        "maxItems": MAX_SERVERS,
        "uniqueItems": True,
    }


CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {
            "type": "string",
            "title": "Name",
            "description": (
                "Names the upstreams and variables of this router: the server block uses "
                "$shiplane_<name>_upstream and $shiplane_<name>_set_cookie."
            ),
            "minLength": 1,
            "maxLength": 63,
            "pattern": NAME_PATTERN,
        },
        "includeFile": {
            "type": "string",
            "title": "Include file",
            "description": (
                "The file the router owns and rewrites (absolute path ending in .conf), included in the http "
                "block of the main configuration."
            ),
            "minLength": 7,
            "maxLength": 1024,
            "pattern": _CONF_PATH_PATTERN,
        },
        "mainConfig": {
            "type": "string",
            "title": "Main configuration",
            "description": "nginx's main configuration file, as nginx runs it (-c), e.g. /etc/nginx/nginx.conf.",
            "minLength": 7,
            "maxLength": 1024,
            "pattern": _CONF_PATH_PATTERN,
        },
        "prefix": {
            "type": "string",
            "title": "Prefix",
            "description": "nginx's prefix (-p) when it runs with one; default: the one nginx was built with.",
            "minLength": 2,
            "maxLength": 1024,
            "pattern": _PATH_PATTERN,
        },
        "nginxBinary": {
            "type": "string",
            "title": "nginx binary",
            "description": "nginx, found on PATH or in /usr/sbin, /usr/local/sbin, /usr/local/nginx/sbin; "
            "or the absolute path of a file named nginx.",
            "minLength": 5,
            "maxLength": 1024,
            "pattern": _BINARY_PATTERN,
            "default": DEFAULT_NGINX_BINARY,
        },
        "pidFile": {
            "type": "string",
            "title": "pid file",
            "description": f"The pid file of nginx's master process (its pid directive); default {DEFAULT_PID_FILE}.",
            "minLength": 2,
            "maxLength": 1024,
            "pattern": _PATH_PATTERN,
            "default": DEFAULT_PID_FILE,
        },
        "controlServers": _servers("control"),
        "candidateServers": _servers("candidate"),
        "sticky": {
            "type": "boolean",
            "title": "Sticky",
            "description": "Keep a client on the side it was first sent to (a cookie) while the split lasts. "
            "Default true.",
            "default": True,
        },
        "cookieName": {
            "type": "string",
            "title": "Cookie name",
            "description": f"The sticky cookie's name (lowercase letters, digits, _); default {DEFAULT_COOKIE_NAME}.",
            "minLength": 1,
            "maxLength": 64,
            "pattern": COOKIE_NAME_PATTERN,
            "default": DEFAULT_COOKIE_NAME,
        },
        "cookieMaxAgeSeconds": {
            "type": "integer",
            "title": "Cookie lifetime (seconds)",
            "description": f"Max-Age of the sticky cookie; 0 for a session cookie. Default {DEFAULT_COOKIE_MAX_AGE}.",
            "minimum": 0,
            "maximum": MAX_COOKIE_MAX_AGE,
            "default": DEFAULT_COOKIE_MAX_AGE,
        },
        "cookieSecure": {
            "type": "boolean",
            "title": "Secure cookie",
            "description": "Mark the sticky cookie Secure (HTTPS only). Default false.",
            "default": False,
        },
        "headerRouting": {
            "type": "object",
            "title": "Header routing",
            "description": (
                "Send every request whose header <name> equals <value> (compared ignoring case) to the candidate, "
                "whatever the weights: for testers and A/B tests. Not an access control."
            ),
            "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": HEADER_NAME_PATTERN},
                "value": {"type": "string", "minLength": 1, "maxLength": 40, "pattern": HEADER_VALUE_PATTERN},
            },
            "required": ["name", "value"],
            "additionalProperties": False,
        },
        "timeoutSeconds": {
            "type": "integer",
            "title": "Timeout (seconds)",
            "description": (f"The deadline of nginx -T and of the reload each (default {DEFAULT_TIMEOUT_SECONDS})."),
            "minimum": 1,
            "maximum": 120,
            "default": DEFAULT_TIMEOUT_SECONDS,
        },
    },
    "required": ["name", "includeFile", "mainConfig", "controlServers", "candidateServers"],
    "additionalProperties": False,
}

_SERVER_MESSAGE = (
    "must be host:port: a host name, an IPv4 address or a bracketed IPv6 address, then a port 1-65535, nothing else"
)
_PATH_MESSAGE = "must be an absolute path of letters, digits and . _ + - (no . or .. segments)"
#: ``(field regex, codes, message)``: plain messages instead of jsonschema's (which quote the whole pattern).
MESSAGES: list[tuple[str, tuple[str, ...], str]] = [
    (r"name", ("pattern", "maxLength", "minLength"), "must be a letter then lowercase letters, digits or _ (max 63)"),
    (r"(?:control|candidate)Servers\.\d+", ("pattern", "minLength", "maxLength"), _SERVER_MESSAGE),
    (r"(?:control|candidate)Servers", ("uniqueItems",), "lists a server twice"),
    (r"(?:control|candidate)Servers", ("minItems",), "must list at least one server"),
    (r"(?:control|candidate)Servers", ("maxItems",), f"may list at most {MAX_SERVERS} servers"),
    (r"includeFile|mainConfig", ("pattern", "minLength"), _PATH_MESSAGE + ", ending in .conf"),
    (r"pidFile|prefix", ("pattern", "minLength"), _PATH_MESSAGE),
    (r"nginxBinary", ("pattern", "minLength"), "must be nginx or the absolute path of a file named nginx"),
    (r"cookieName", ("pattern", "maxLength"), "must be a lowercase letter then lowercase letters, digits or _"),
    (r"headerRouting\.name", ("pattern", "maxLength"), "must be an HTTP header name: letters, digits and -"),
    (
        r"headerRouting\.value",
        ("pattern", "maxLength"),
        "must be a token of letters, digits and . _ ~ + / = - (at most 40, starting with a letter or digit)",
    ),
]


def friendlier(errors: list[ConfigError]) -> list[ConfigError]:
    """``errors`` with the plain messages of :data:`MESSAGES` (never quoting the value), each once."""
    result: list[ConfigError] = []
    seen: set[tuple[str, str]] = set()
    for error in errors:
        for pattern, codes, text in MESSAGES:
            if error.code in codes and re.fullmatch(pattern, error.field):
                error = ConfigError(field=error.field, message=text, code=error.code)
                break
        if (error.field, error.message) not in seen:
            seen.add((error.field, error.message))
            result.append(error)
    return result


def extra_errors(config: Any) -> list[ConfigError]:
    """What the schema can't say: the include file is not the main config, no server on both sides."""
    if not isinstance(config, dict):
        return []
    errors: list[ConfigError] = []
    include, main = config.get("includeFile"), config.get("mainConfig")
    if isinstance(include, str) and include == main:
        errors.append(ConfigError(field="includeFile", message="must not be the main configuration", code="not"))
    control, candidate = config.get("controlServers"), config.get("candidateServers")
    if isinstance(control, list) and isinstance(candidate, list):
        both = sorted({s for s in control if isinstance(s, str)} & {s for s in candidate if isinstance(s, str)})
        if both:
            errors.append(
                ConfigError(
                    field="candidateServers",
                    message=f"a server can't be on both sides: {', '.join(both)}",
                    code="not",
                )
            )
    return errors


@dataclass(frozen=True)
class Settings:
    """A valid config with its defaults applied."""

    name: str
    include_file: str
    main_config: str
    prefix: str | None
    nginx_binary: str
    pid_file: str
    control_servers: tuple[str, ...]
    candidate_servers: tuple[str, ...]
    sticky: bool
    cookie_name: str
    cookie_max_age: int
    cookie_secure: bool
    header_name: str | None
    header_value: str | None
    timeout: float

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Settings:
        """The settings of ``config``, which the caller has validated."""
        header = config.get("headerRouting") or {}
        return cls(
            name=config["name"],
            include_file=config["includeFile"],
            main_config=config["mainConfig"],
            prefix=config.get("prefix"),
            nginx_binary=config.get("nginxBinary", DEFAULT_NGINX_BINARY),
            pid_file=config.get("pidFile", DEFAULT_PID_FILE),
            control_servers=tuple(config["controlServers"]),
            candidate_servers=tuple(config["candidateServers"]),
            sticky=bool(config.get("sticky", True)),
            cookie_name=config.get("cookieName", DEFAULT_COOKIE_NAME),
            cookie_max_age=int(config.get("cookieMaxAgeSeconds", DEFAULT_COOKIE_MAX_AGE)),
            cookie_secure=bool(config.get("cookieSecure", False)),
            header_name=header.get("name"),
            header_value=header.get("value"),
            timeout=float(config.get("timeoutSeconds", DEFAULT_TIMEOUT_SECONDS)),
        )
