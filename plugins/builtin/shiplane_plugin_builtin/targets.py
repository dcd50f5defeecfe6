"""The ``local`` target type: a directory on the agent's own machine.

Deploy runs the configured command (an argv list, never a shell) in the target's
directory with the release in its environment and in ``{placeholders}``, then records
what it deployed: one ``<component>.version`` file per component (``<version>
<digest>``). ``inspect`` reads those files back (or runs ``inspectCommand``), so a file
changed by hand shows as drift. The version sticker is ``.shiplane-sticker.json``,
written atomically. Health: an HTTP GET, a TCP connect, a command, or (by default) the
directory being there and writable.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from shiplane_sdk import DeployResult, HealthReport, TargetContext, TargetType

STICKER = ".shiplane-sticker.json"
VERSION_SUFFIX = ".version"
_COMPONENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_PLACEHOLDER = re.compile(r"\{(release\.(?:id|name)|components\.([A-Za-z0-9._-]+)\.(version|digest))\}")
_ARGV = {"type": "array", "minItems": 1, "maxItems": 64, "items": {"type": "string", "minLength": 1, "maxLength": 4096}}
_OUTPUT_TAIL = 2000


def _env_name(component: str) -> str:
    return re.sub(r"[^A-Z0-9]", "_", component.upper())


def _tail(text: str) -> str:
    return text[-_OUTPUT_TAIL:]


class Local(TargetType):
    id = "local"
    display_name = "Local directory"
    description = "A directory on the agent's machine: a deploy command, version files, a sticker."
    config_schema = {
        "type": "object",
        "additionalProperties": False,
        "required": ["directory"],
        "properties": {
            "directory": {"type": "string", "minLength": 1, "maxLength": 1024, "pattern": "^/"},
            "deployCommand": {
                **_ARGV,
                "description": "argv run in the directory; {release.name}, "
                "{components.<name>.version} and {components.<name>.digest} are replaced",
            },
            "deployTimeoutSeconds": {"type": "number", "minimum": 1, "maximum": 86400, "default": 600},
            "inspectCommand": {**_ARGV, "description": "argv printing the actual state as a JSON object"},
            "healthCheck": {
                "type": "object",
                "additionalProperties": False,
                "minProperties": 1,
                "maxProperties": 1,
                "properties": {
                    "http": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["url"],
                        "properties": {
                            "url": {"type": "string", "pattern": "^https?://", "maxLength": 2048},
                            "expectStatus": {"type": "integer", "minimum": 100, "maximum": 599, "default": 200},
                        },
                    },
                    "tcp": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["host", "port"],
                        "properties": {
                            "host": {"type": "string", "minLength": 1, "maxLength": 255},
                            "port": {"type": "integer", "minimum": 1, "maximum": 65535},
                        },
                    },
                    "command": _ARGV,
                },
            },
            "healthTimeoutSeconds": {"type": "number", "minimum": 0.1, "maximum": 300, "default": 5},
        },
    }

    # -- deploy ----------------------------------------------------------------------------------

    def deploy(self, ctx: TargetContext, manifest: dict[str, Any]) -> DeployResult:
        config = ctx.target["config"]
        directory = Path(config["directory"])
        components = [c for c in manifest.get("components", []) if isinstance(c, dict)]
        bad = [str(c.get("name")) for c in components if not _COMPONENT_NAME.match(str(c.get("name", "")))]
        if bad:
            return DeployResult(ok=False, message=f"component names a file cannot carry: {', '.join(bad)}")
        directory.mkdir(parents=True, exist_ok=True)
        command = config.get("deployCommand")
        outputs: dict[str, Any] = {}
        if command:
            release = manifest.get("release") or {}
            values = {f"release.{key}": str(release.get(key, "")) for key in ("id", "name")}
            for component in components:
                for field in ("version", "digest"):
                    values[f"components.{component['name']}.{field}"] = str(component.get(field) or "")
            argv = [_PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), part) for part in command]
            env = {
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "HOME": str(directory),
                "SHIPLANE_TARGET_ID": str(ctx.target.get("id", "")),
                "SHIPLANE_TARGET_NAME": str(ctx.target.get("name", "")),
                "SHIPLANE_RELEASE_ID": values["release.id"],
                "SHIPLANE_RELEASE_NAME": values["release.name"],
                "SHIPLANE_COMPONENTS": json.dumps(components, sort_keys=True),
            }
            variables = manifest.get("variables") if isinstance(manifest.get("variables"), dict) else {}
            for name, value in variables.items():
                # The deployment's variables (secrets too: in the environment, never in argv).
                env[f"SHIPLANE_VAR_{_env_name(str(name))}"] = str(value)
            for component in components:
                prefix = f"SHIPLANE_COMPONENT_{_env_name(component['name'])}"
                env[f"{prefix}_VERSION"] = str(component.get("version") or "")
                env[f"{prefix}_DIGEST"] = str(component.get("digest") or "")
            ctx.log(f"running {argv[0]} in {directory}")
            started = time.monotonic()
            try:
                completed = subprocess.run(  # noqa: S603 - an argv the tenant configured, no shell
                    argv,
                    cwd=directory,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=float(config.get("deployTimeoutSeconds", 600)),
                )
            except subprocess.TimeoutExpired:
                return DeployResult(ok=False, message=f"the deploy command did not finish in time: {argv[0]}")
            except OSError as exc:
                return DeployResult(ok=False, message=f"the deploy command could not start: {exc.strerror}")
            outputs = {
                "exitCode": completed.returncode,
                "seconds": round(time.monotonic() - started, 3),
                "stdout": _tail(completed.stdout),
                "stderr": _tail(completed.stderr),
            }
            for line in completed.stdout.splitlines()[-50:]:
                ctx.log(line)
            if completed.returncode != 0:
                return DeployResult(
                    ok=False, message=f"the deploy command exited with {completed.returncode}", outputs=outputs
                )
        for component in components:
            _write_atomically(
                directory / f"{component['name']}{VERSION_SUFFIX}",
                f"{component.get('version') or ''} {component.get('digest') or ''}\n",
            )
        return DeployResult(ok=True, message=f"{len(components)} component(s) deployed", outputs=outputs)

    # -- state -----------------------------------------------------------------------------------

    def read_sticker(self, ctx: TargetContext) -> dict[str, Any] | None:
        path = Path(ctx.target["config"]["directory"]) / STICKER
        try:
            sticker = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {"unreadable": True}
        return sticker if isinstance(sticker, dict) else {"unreadable": True}

    def write_sticker(self, ctx: TargetContext, sticker: dict[str, Any]) -> None:
        directory = Path(ctx.target["config"]["directory"])
        directory.mkdir(parents=True, exist_ok=True)
        _write_atomically(directory / STICKER, json.dumps(sticker, sort_keys=True, indent=2) + "\n")

    def inspect(self, ctx: TargetContext) -> dict[str, Any]:
        config = ctx.target["config"]
        directory = Path(config["directory"])
        command = config.get("inspectCommand")
        if command:
            try:
                completed = subprocess.run(  # noqa: S603 - an argv the tenant configured, no shell
                    command, cwd=directory, capture_output=True, text=True, timeout=60, check=True
                )
                state = json.loads(completed.stdout)
            except (OSError, subprocess.SubprocessError, ValueError) as exc:
                return {"error": f"inspectCommand failed: {type(exc).__name__}"}
            return state if isinstance(state, dict) else {"error": "inspectCommand did not print a JSON object"}
        components = []
        if directory.is_dir():
            for path in sorted(directory.glob(f"*{VERSION_SUFFIX}")):
                version, _, digest = path.read_text(errors="replace").strip().partition(" ")
                name = path.name[: -len(VERSION_SUFFIX)]
                components.append({"name": name, "version": version, "digest": digest or None})
        return {"directory": str(directory), "exists": directory.is_dir(), "components": components}

    # -- health ----------------------------------------------------------------------------------

    def health_check(self, ctx: TargetContext) -> HealthReport:
        config = ctx.target["config"]
        check = config.get("healthCheck") or {}
        timeout = float(config.get("healthTimeoutSeconds", 5))
        started = time.monotonic()
        if "http" in check:
            report = _http_check(check["http"], timeout)
        elif "tcp" in check:
            report = _tcp_check(check["tcp"], timeout)
        elif "command" in check:
            report = _command_check(check["command"], Path(config["directory"]), timeout)
        else:
            directory = Path(config["directory"])
            if directory.is_dir() and os.access(directory, os.W_OK):
                report = HealthReport(status="ok", message=f"{directory} is there and writable")
            else:
                report = HealthReport(status="failing", message=f"{directory} is missing or not writable")
        report.details["latencyMs"] = round((time.monotonic() - started) * 1000, 1)
        return report


def _write_atomically(path: Path, text: str) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _http_check(check: dict[str, Any], timeout: float) -> HealthReport:
    expected = int(check.get("expectStatus", 200))
    request = urllib.request.Request(check["url"], method="GET")  # noqa: S310 - http(s) only (schema pattern)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (urllib.error.URLError, OSError) as exc:
        return HealthReport(status="failing", message=f"GET {check['url']}: {getattr(exc, 'reason', exc)}")
    if status == expected:
        return HealthReport(status="ok", message=f"GET {check['url']}: {status}", details={"status": status})
    return HealthReport(
        status="failing", message=f"GET {check['url']}: {status}, expected {expected}", details={"status": status}
    )


def _tcp_check(check: dict[str, Any], timeout: float) -> HealthReport:
    address = f"{check['host']}:{check['port']}"
    try:
        with socket.create_connection((check["host"], int(check["port"])), timeout=timeout):
            return HealthReport(status="ok", message=f"{address} accepts connections")
    except OSError as exc:
        return HealthReport(status="failing", message=f"{address}: {exc.strerror or exc}")


def _command_check(argv: list[str], directory: Path, timeout: float) -> HealthReport:
    try:
        completed = subprocess.run(  # noqa: S603 - an argv the tenant configured, no shell
            argv, cwd=directory if directory.is_dir() else None, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return HealthReport(status="failing", message=f"{argv[0]} did not finish in {timeout:g}s")
    except OSError as exc:
        return HealthReport(status="failing", message=f"{argv[0]} could not start: {exc.strerror}")
    details = {"exitCode": completed.returncode, "output": _tail(completed.stdout + completed.stderr)}
    if completed.returncode == 0:
        return HealthReport(status="ok", message=f"{argv[0]} exited 0", details=details)
    return HealthReport(status="failing", message=f"{argv[0]} exited {completed.returncode}", details=details)
