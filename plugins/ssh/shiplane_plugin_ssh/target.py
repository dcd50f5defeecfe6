"""The ``ssh`` target type: the ``local`` type's model on a host reached over SSH.

Deploy runs the configured argv (each argument shell-quoted for the remote shell) in
the target's directory with the release in placeholders and environment variables,
then records ``<component>.version`` files; ``inspect`` reads them back; the sticker is
``.shiplane-sticker.json``; every file is written to a temporary name and renamed.

Host keys are always verified: against the key the target's config pins
(``hostKey``), or else the agent's known-hosts file (``knownHostsFile``, default
``~/.ssh/known_hosts``). An unknown or changed key refuses the connection; nothing is
trusted on first use. Authentication is by private key (``privateKey``, a secret).
"""

from __future__ import annotations

import asyncio
import json
import re
import shlex
from pathlib import Path
from typing import Any

import asyncssh
from shiplane_sdk import DeployResult, HealthReport, PluginError, TargetContext, TargetType

STICKER = ".shiplane-sticker.json"
VERSION_SUFFIX = ".version"
_COMPONENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_PLACEHOLDER = re.compile(r"\{(release\.(?:id|name)|components\.([A-Za-z0-9._-]+)\.(version|digest))\}")
_ARGV = {"type": "array", "minItems": 1, "maxItems": 64, "items": {"type": "string", "minLength": 1, "maxLength": 4096}}
_OUTPUT_TAIL = 2000


class Ssh(TargetType):
    id = "ssh"
    display_name = "SSH host"
    description = "A directory on a host reached over SSH (key auth, verified host key)."
    config_schema = {
        "type": "object",
        "additionalProperties": False,
        "required": ["host", "username", "privateKey", "directory"],
        "properties": {
            "host": {"type": "string", "minLength": 1, "maxLength": 255, "format": "hostname"},
            "port": {"type": "integer", "minimum": 1, "maximum": 65535, "default": 22},
            "username": {"type": "string", "minLength": 1, "maxLength": 64},
            "privateKey": {"type": "string", "minLength": 1, "maxLength": 16384, "writeOnly": True},
            "passphrase": {"type": "string", "maxLength": 1024, "writeOnly": True},
            "hostKey": {
                "type": "string",
                "maxLength": 16384,
                "description": "Pin the host's public key (OpenSSH format, e.g. 'ssh-ed25519 AAAA...')",
            },
            "knownHostsFile": {"type": "string", "maxLength": 1024, "pattern": "^/"},
            "directory": {"type": "string", "minLength": 1, "maxLength": 1024, "pattern": "^/"},
            "deployCommand": _ARGV,
            "deployTimeoutSeconds": {"type": "number", "minimum": 1, "maximum": 86400, "default": 600},
            "inspectCommand": _ARGV,
            "healthCommand": _ARGV,
            "connectTimeoutSeconds": {"type": "number", "minimum": 1, "maximum": 120, "default": 10},
        },
    }
    # The key goes where host and port say: changing either means entering it again.
    secret_destinations = ["port"]

    async def _connect(self, config: dict[str, Any]) -> asyncssh.SSHClientConnection:
        if config.get("hostKey"):
            known_hosts: Any = ([asyncssh.import_public_key(config["hostKey"])], [], [])
        else:
            path = Path(config.get("knownHostsFile") or Path.home() / ".ssh" / "known_hosts")
            if not path.is_file():  # noqa: ASYNC240 - one stat; asyncssh reads the file synchronously too
                raise PluginError(f"no pinned hostKey and no known-hosts file at {path}: the host cannot be verified")
            known_hosts = str(path)
        try:
            key = asyncssh.import_private_key(config["privateKey"], config.get("passphrase") or None)
        except (asyncssh.KeyImportError, ValueError) as exc:
            raise PluginError(f"privateKey cannot be read: {type(exc).__name__}") from None
        try:
            return await asyncssh.connect(
                config["host"],
                port=int(config.get("port", 22)),
                username=config["username"],
                client_keys=[key],
                known_hosts=known_hosts,
                agent_path=None,
                config=None,
                connect_timeout=float(config.get("connectTimeoutSeconds", 10)),
            )
        except asyncssh.HostKeyNotVerifiable as exc:
            raise PluginError(
                f"the host key of {config['host']} is unknown or changed: refused ({exc.reason})"
            ) from None
        except asyncssh.PermissionDenied:
            raise PluginError(f"{config['username']}@{config['host']} refused the key") from None
        except (TimeoutError, OSError, asyncssh.Error) as exc:
            raise PluginError(f"cannot reach {config['host']}:{config.get('port', 22)}: {type(exc).__name__}") from None
        except Exception as exc:  # noqa: BLE001 - e.g. a known-hosts file that does not parse
            # Only the type: asyncssh quotes the offending line, and the file is the agent's.
            raise PluginError(f"cannot connect to {config['host']}: {type(exc).__name__}") from None

    @staticmethod
    async def _write(conn: asyncssh.SSHClientConnection, path: str, text: str) -> None:
        temporary = f"{path}.shiplane-tmp"
        command = f"cat > {shlex.quote(temporary)} && mv -f {shlex.quote(temporary)} {shlex.quote(path)}"
        result = await conn.run(command, input=text, check=False)
        if result.exit_status != 0:
            raise PluginError(f"cannot write {path}: {str(result.stderr)[-500:]}")

    # -- deploy ----------------------------------------------------------------------------------

    async def deploy(self, ctx: TargetContext, manifest: dict[str, Any]) -> DeployResult:
        config = ctx.target["config"]
        directory = config["directory"]
        components = [c for c in manifest.get("components", []) if isinstance(c, dict)]
        bad = [str(c.get("name")) for c in components if not _COMPONENT_NAME.match(str(c.get("name", "")))]
        if bad:
            return DeployResult(ok=False, message=f"component names a file cannot carry: {', '.join(bad)}")
        async with await self._connect(config) as conn:
            await conn.run(f"mkdir -p {shlex.quote(directory)}", check=False)
            outputs: dict[str, Any] = {}
            command = config.get("deployCommand")
            if command:
                release = manifest.get("release") or {}
                values = {f"release.{key}": str(release.get(key, "")) for key in ("id", "name")}
                for component in components:
                    for field in ("version", "digest"):
                        values[f"components.{component['name']}.{field}"] = str(component.get(field) or "")
                argv = [_PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), part) for part in command]
                env = {
                    "SHIPLANE_RELEASE_ID": values["release.id"],
                    "SHIPLANE_RELEASE_NAME": values["release.name"],
                    "SHIPLANE_COMPONENTS": json.dumps(components, sort_keys=True),
                }
                exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
                remote = f"cd {shlex.quote(directory)} && env {exports} {shlex.join(argv)}"
                ctx.log(f"running {argv[0]} on {config['host']}")
                try:
                    result = await asyncio.wait_for(
                        conn.run(remote, check=False), float(config.get("deployTimeoutSeconds", 600))
                    )
                except TimeoutError:
                    return DeployResult(ok=False, message=f"the deploy command did not finish in time: {argv[0]}")
                stdout, stderr = str(result.stdout or ""), str(result.stderr or "")
                outputs = {
                    "exitCode": result.exit_status,
                    "stdout": stdout[-_OUTPUT_TAIL:],
                    "stderr": stderr[-_OUTPUT_TAIL:],
                }
                for line in stdout.splitlines()[-50:]:
                    ctx.log(line)
                if result.exit_status != 0:
                    return DeployResult(
                        ok=False, message=f"the deploy command exited with {result.exit_status}", outputs=outputs
                    )
            for component in components:
                line = f"{component.get('version') or ''} {component.get('digest') or ''}\n"
                await self._write(conn, f"{directory}/{component['name']}{VERSION_SUFFIX}", line)
        return DeployResult(ok=True, message=f"{len(components)} component(s) deployed", outputs=outputs)

    # -- state -----------------------------------------------------------------------------------

    async def read_sticker(self, ctx: TargetContext) -> dict[str, Any] | None:
        config = ctx.target["config"]
        async with await self._connect(config) as conn:
            result = await conn.run(f"cat {shlex.quote(config['directory'] + '/' + STICKER)}", check=False)
        if result.exit_status != 0:
            return None
        try:
            sticker = json.loads(str(result.stdout))
        except ValueError:
            return {"unreadable": True}
        return sticker if isinstance(sticker, dict) else {"unreadable": True}

    async def write_sticker(self, ctx: TargetContext, sticker: dict[str, Any]) -> None:
        config = ctx.target["config"]
        async with await self._connect(config) as conn:
            await conn.run(f"mkdir -p {shlex.quote(config['directory'])}", check=False)
            await self._write(
                conn, f"{config['directory']}/{STICKER}", json.dumps(sticker, sort_keys=True, indent=2) + "\n"
            )

    async def inspect(self, ctx: TargetContext) -> dict[str, Any]:
        config = ctx.target["config"]
        directory = config["directory"]
        async with await self._connect(config) as conn:
            if config.get("inspectCommand"):
                result = await conn.run(
                    f"cd {shlex.quote(directory)} && {shlex.join(config['inspectCommand'])}", check=False
                )
                try:
                    state = json.loads(str(result.stdout))
                except ValueError:
                    return {"error": "inspectCommand did not print JSON"}
                return state if isinstance(state, dict) else {"error": "inspectCommand did not print a JSON object"}
            listing = await conn.run(
                f"cd {shlex.quote(directory)} 2>/dev/null && for f in *{VERSION_SUFFIX}; do "
                f'[ -f "$f" ] && printf "%s %s\\n" "$f" "$(head -c 4096 "$f" | tr -d "\\n")"; done',
                check=False,
            )
        components = []
        for line in str(listing.stdout or "").splitlines():
            file_name, _, content = line.partition(" ")
            version, _, digest = content.strip().partition(" ")
            components.append({"name": file_name[: -len(VERSION_SUFFIX)], "version": version, "digest": digest or None})
        return {
            "host": config["host"],
            "directory": directory,
            "components": sorted(components, key=lambda c: c["name"]),
        }

    async def health_check(self, ctx: TargetContext) -> HealthReport:
        config = ctx.target["config"]
        directory = shlex.quote(config["directory"])
        try:
            async with await self._connect(config) as conn:
                if config.get("healthCommand"):
                    result = await conn.run(f"cd {directory} && {shlex.join(config['healthCommand'])}", check=False)
                else:
                    result = await conn.run(f"test -d {directory} && test -w {directory}", check=False)
        except PluginError as exc:
            return HealthReport(status="failing", message=str(exc))
        details = {
            "exitCode": result.exit_status,
            "output": (str(result.stdout or "") + str(result.stderr or ""))[-_OUTPUT_TAIL:],
        }
        if result.exit_status == 0:
            return HealthReport(status="ok", message=f"{config['host']} answers; the check passed", details=details)
        return HealthReport(
            status="failing", message=f"the check on {config['host']} exited {result.exit_status}", details=details
        )
