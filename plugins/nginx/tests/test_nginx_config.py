"""The router's config schema: nothing from a config can inject nginx syntax; and the rendered file."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
from shiplane_plugin_nginx.config import Settings
from shiplane_plugin_nginx.render import State, read_state, render
from shiplane_plugin_nginx.router import NginxRouter

router = NginxRouter()

BASE: dict[str, Any] = {
    "name": "app",
    "includeFile": "/etc/nginx/shiplane/app.conf",
    "mainConfig": "/etc/nginx/nginx.conf",
    "controlServers": ["10.0.0.5:8080"],
    "candidateServers": ["10.0.0.6:8080"],
    "headerRouting": {"name": "X-Shiplane-Variant", "value": "candidate"},
}

#: What ends a directive, opens or closes a block, starts a comment, quotes, expands or escapes in nginx.
INJECTIONS = [
    ";",
    "; }",
    "}",
    "{",
    "\n",
    "\r\n",
    "\nserver evil.example:80",
    " ",
    "\t",
    '"',
    "'",
    "$host",
    "#",
    "\\",
]


def with_value(path: str, value: Any) -> dict[str, Any]:
    config = copy.deepcopy(BASE)
    *parents, last = path.split(".")
    node: Any = config
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return config


FIELDS = {
    # field path: a valid value each injection is appended to (and prepended where it matters)
    "name": "app",
    "includeFile": "/etc/nginx/shiplane/app.conf",
    "mainConfig": "/etc/nginx/nginx.conf",
    "prefix": "/usr/local/nginx",
    "nginxBinary": "/usr/sbin/nginx",
    "pidFile": "/run/nginx.pid",
    "controlServers.0": "10.0.0.5:8080",
    "candidateServers.0": "app-2.internal:8080",
    "cookieName": "shiplane_variant",
    "headerRouting.name": "X-Shiplane-Variant",
    "headerRouting.value": "candidate",
}


def test_the_base_config_is_valid() -> None:
    assert router.validate_config(BASE) == []
    for path, value in FIELDS.items():
        assert router.validate_config(with_value(path, value)) == [], path


@pytest.mark.parametrize("path", list(FIELDS))
@pytest.mark.parametrize("injection", INJECTIONS)
def test_injection_attempts_are_refused_by_the_schema(path: str, injection: str) -> None:
    valid = FIELDS[path]
    for attempt in (valid + injection, injection + valid, valid[:2] + injection + valid[2:]):
        errors = router.validate_config(with_value(path, attempt))
        assert [error.field for error in errors] == [path], f"{attempt!r} in {path}: {errors}"
        assert attempt not in errors[0].message  # the plain message never quotes the value


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("controlServers.0", "10.0.0.5"),  # no port
        ("controlServers.0", "10.0.0.5:0"),
        ("controlServers.0", "10.0.0.5:65536"),
        ("controlServers.0", "10.0.0.5:8080 backup"),
        ("controlServers.0", "unix:/run/app.sock"),
        ("controlServers.0", "http://10.0.0.5:8080"),
        ("controlServers.0", "-bad.example:80"),
        ("name", "App"),
        ("name", "1app"),
        ("name", "a" * 64),
        ("name", "my-app"),
        ("includeFile", "relative/app.conf"),
        ("includeFile", "/etc/nginx/app.txt"),
        ("includeFile", "/etc/nginx/../app.conf"),
        ("includeFile", "/etc/nginx/./app.conf"),
        ("mainConfig", "/etc/shadow"),
        ("nginxBinary", "/bin/sh"),
        ("nginxBinary", "sh"),
        ("nginxBinary", "/usr/sbin/../../bin/nginx"),
        ("pidFile", "run/nginx.pid"),
        ("cookieName", "Variant"),
        ("cookieName", "shiplane-variant"),
        ("headerRouting.name", "X_Variant"),
        ("headerRouting.value", "~^candidate"),
        ("headerRouting.value", "a" * 41),
    ],
)
def test_other_bad_values_are_refused(path: str, value: str) -> None:
    errors = router.validate_config(with_value(path, value))
    assert [error.field for error in errors] == [path], errors


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"controlServers": []}, "controlServers"),
        ({"controlServers": [f"10.0.0.{i}:80" for i in range(33)]}, "controlServers"),
        ({"controlServers": ["10.0.0.5:80", "10.0.0.5:80"]}, "controlServers"),
        ({"candidateServers": ["10.0.0.5:8080"]}, "candidateServers"),  # also a control server
        ({"includeFile": "/etc/nginx/nginx.conf"}, "includeFile"),  # the main config
        ({"cookieMaxAgeSeconds": -1}, "cookieMaxAgeSeconds"),
        ({"cookieMaxAgeSeconds": 31_536_001}, "cookieMaxAgeSeconds"),
        ({"timeoutSeconds": 0}, "timeoutSeconds"),
        ({"timeoutSeconds": 121}, "timeoutSeconds"),
        ({"sticky": "yes"}, "sticky"),
        ({"headerRouting": {"name": "X-A"}}, "headerRouting.value"),
        ({"headerRouting": {"name": "X-A", "value": "b", "regex": True}}, "headerRouting.regex"),
        ({"upstreamOptions": "keepalive 16"}, "upstreamOptions"),
    ],
)
def test_structural_problems_name_their_field(change: dict[str, Any], field: str) -> None:
    errors = router.validate_config({**BASE, **change})
    assert field in [error.field for error in errors], errors


def test_every_string_and_array_is_bounded() -> None:
    def walk(schema: dict[str, Any], path: str) -> None:
        if schema.get("type") == "string":
            assert "maxLength" in schema and ("pattern" in schema or "enum" in schema), path
        if schema.get("type") == "array":
            assert "maxItems" in schema, path
            walk(schema["items"], path + ".*")
        if schema.get("type") == "object":
            assert schema.get("additionalProperties") is False, path
            for name, sub in schema.get("properties", {}).items():
                walk(sub, f"{path}.{name}".lstrip("."))

    walk(router.config_schema, "")


@pytest.mark.parametrize("candidate", [0, 1, 10, 50, 99, 100])
def test_the_rendered_file_records_its_state_and_only_validated_values(candidate: int) -> None:
    settings = Settings.from_config(BASE)
    state = State(name="app", control=100 - candidate, candidate=candidate, epoch="0badcafe")
    text = render(settings, state)
    assert read_state(text) == state
    directives = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    # Every directive line ends a statement or opens/closes a block: one statement per line.
    assert all(re.search(r"[;{}]$", line) for line in directives)
    assert text.count("{") == text.count("}")
    if candidate in (0, 100):
        assert "split_clients" not in text
        assert "$cookie_" not in text  # the cookie is not honoured when one side gets everything
    else:
        assert f"    {candidate}% candidate;" in text
        assert "map $cookie_shiplane_variant $shiplane_app_by_cookie {" in text
        assert "    \\\\candidate.0badcafe candidate;" in text
