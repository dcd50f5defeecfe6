"""Property-based fuzzing of the API from its OpenAPI document (schemathesis), against
a real server: zero server errors, and every response matching the document.

    python tests/fuzz/run_schemathesis.py [--max-examples N] [--seed S]

Starts ``shiplane serve`` (development mode, a temporary SQLite database) on a free
port, mints an admin token, runs ``schemathesis run`` with the checks below, stops the
server by its pid and exits with schemathesis' status. Run by ``tox -e fuzz`` and
``.ci/run``; not collected by pytest.

Every check is on (``--checks all``): server errors, conformance of status codes,
content types, headers and bodies to the document, negative data rejected, positive
data accepted, authentication not ignored, unsupported methods, and the stateful
checks over the links schemathesis infers (use after free, resource availability).
The API's rules that an OpenAPI document cannot state (no NUL in any string, page or
cursor, references that resolve) are told to schemathesis by ``shiplane_hooks.py``,
for the cases it expects the server to accept; arguments after ``--`` go to
``schemathesis run``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx


def git_repository(directory: Path) -> Path:
    """A local git repository with the tag v1.0.0, for the fuzz server's git integration."""
    repo = directory / "fuzz-repo"
    repo.mkdir()
    env = {**os.environ, "GIT_AUTHOR_NAME": "f", "GIT_AUTHOR_EMAIL": "f@example.com"}
    env.update(GIT_COMMITTER_NAME="f", GIT_COMMITTER_EMAIL="f@example.com", GIT_CONFIG_GLOBAL="/dev/null")
    for args in (["init", "-q"], ["commit", "-q", "--allow-empty", "-m", "one"], ["tag", "v1.0.0"]):
        subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)
    return repo


def references(base: str, token: str, directory: Path) -> dict[str, str]:
    """An environment, an agent, a git integration, a component with a stored version and
    a release holding it (so the component and integration stay), for the positive cases
    to refer to (``shiplane_hooks.py``)."""
    headers = {"Authorization": f"Bearer {token}"}
    repo = str(git_repository(directory))
    integration = httpx.post(
        f"{base}/api/v1/integrations",
        json={"name": "fuzz-git", "typeId": "git", "config": {"url": repo}},
        headers=headers,
        timeout=10,
    ).json()["data"]
    component = httpx.post(
        f"{base}/api/v1/components",
        json={"name": "fuzz-component", "integrationId": integration["id"], "reference": "."},
        headers=headers,
        timeout=10,
    ).json()["data"]
    httpx.post(f"{base}/api/v1/components/{component['id']}/sync-versions", headers=headers, timeout=30)
    httpx.post(
        f"{base}/api/v1/releases",
        json={"name": "fuzz-anchor", "components": [{"componentId": component["id"], "version": "v1.0.0"}]},
        headers=headers,
        timeout=10,
    ).raise_for_status()
    # A sealed release and an approval policy: what promotions and environments refer to.
    sealed = httpx.post(
        f"{base}/api/v1/releases",
        json={
            "name": "fuzz-sealed",
            "components": [{"componentId": component["id"], "version": "v1.0.0"}],
            "state": "ready",
        },
        headers=headers,
        timeout=10,
    ).json()["data"]
    policy = httpx.post(
        f"{base}/api/v1/approval-policies", json={"name": "fuzz-policy"}, headers=headers, timeout=10
    ).json()["data"]
    # A second sealed release and an nginx traffic router instance (its config only: no
    # nginx runs here) for the A/B releases; a draft A/B release keeps all three from
    # being deleted by the stateful tests (409 RESOURCE_IN_USE).
    candidate = httpx.post(
        f"{base}/api/v1/releases",
        json={
            "name": "fuzz-sealed-b",
            "components": [{"componentId": component["id"], "version": "v1.0.0"}],
            "state": "ready",
        },
        headers=headers,
        timeout=10,
    ).json()["data"]
    httpx.post(f"{base}/api/v1/plugins/nginx/enable", headers=headers, timeout=10).raise_for_status()
    router = httpx.post(
        f"{base}/api/v1/plugin-instances",
        json={
            "name": "fuzz-router",
            "pluginId": "nginx",
            "capabilityKind": "traffic_router",
            "capabilityId": "nginx",
            "config": {
                "name": "fuzz",
                "includeFile": str(directory / "nginx" / "fuzz.conf"),
                "mainConfig": str(directory / "nginx" / "nginx.conf"),
                "controlServers": ["127.0.0.1:9"],
                "candidateServers": ["127.0.0.1:10"],
            },
        },
        headers=headers,
        timeout=10,
    ).json()["data"]
    flow = httpx.post(
        f"{base}/api/v1/workflow-templates",
        json={"name": "fuzz-flow", "nodes": [{"id": "pause", "type": "wait", "config": {"seconds": 3600}}]},
        headers=headers,
        timeout=10,
    ).json()["data"]
    # A run that stays active keeps the template from being deleted by the stateful tests.
    httpx.post(
        f"{base}/api/v1/workflow-runs", json={"templateId": flow["id"]}, headers=headers, timeout=10
    ).raise_for_status()
    env = httpx.post(f"{base}/api/v1/environments", json={"name": "fuzz-env"}, headers=headers, timeout=10)
    httpx.post(
        f"{base}/api/v1/ab-releases",
        json={
            "name": "fuzz-anchor-ab",
            "environmentId": env.json()["data"]["id"],
            "controlReleaseId": sealed["id"],
            "candidateReleaseId": candidate["id"],
            "routerInstanceId": router["id"],
        },
        headers=headers,
        timeout=10,
    ).raise_for_status()
    # A target keeps the environment from being deleted by the stateful tests (409 RESOURCE_IN_USE).
    httpx.post(
        f"{base}/api/v1/targets",
        json={
            "name": "fuzz-anchor-target",
            "environmentId": env.json()["data"]["id"],
            "type": "local",
            "config": {"directory": str(directory / "anchor-target")},
        },
        headers=headers,
        timeout=10,
    ).raise_for_status()
    agent = httpx.post(
        f"{base}/api/v1/agents/register",
        json={"name": "fuzz-agent", "hostname": "fuzz", "agentVersion": "0", "capabilities": ["local"]},
        headers=headers,
        timeout=10,
    )
    return {
        "SHIPLANE_FUZZ_ENVIRONMENT_ID": env.json()["data"]["id"],
        "SHIPLANE_FUZZ_AGENT_ID": agent.json()["data"]["agent"]["id"],
        "SHIPLANE_FUZZ_GIT_URL": repo,
        "SHIPLANE_FUZZ_INTEGRATION_ID": integration["id"],
        "SHIPLANE_FUZZ_COMPONENT_ID": component["id"],
        "SHIPLANE_FUZZ_TEMPLATE_ID": flow["id"],
        "SHIPLANE_FUZZ_RELEASE_ID": sealed["id"],
        "SHIPLANE_FUZZ_POLICY_ID": policy["id"],
        "SHIPLANE_FUZZ_CANDIDATE_ID": candidate["id"],
        "SHIPLANE_FUZZ_ROUTER_ID": router["id"],
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-examples", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1, help="fixed by default, so CI is repeatable")
    parser.add_argument("--checks", default="all")
    parser.add_argument("extra", nargs="*", help="passed to schemathesis run")
    args = parser.parse_args()
    shiplane = shutil.which("shiplane") or str(Path(sys.executable).with_name("shiplane"))
    schemathesis = shutil.which("schemathesis") or str(Path(sys.executable).with_name("schemathesis"))
    with tempfile.TemporaryDirectory(prefix="shiplane-fuzz-") as tmp:
        env = {
            **os.environ,
            "SHIPLANE_MODE": "development",
            "SHIPLANE_DATA_DIR": tmp,
            "SHIPLANE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/fuzz.db",
            "SHIPLANE_RATE_LIMIT_ENABLED": "false",
            "SHIPLANE_LOG_LEVEL": "WARNING",
        }
        hooks_env = {
            **os.environ,
            "SCHEMATHESIS_HOOKS": "shiplane_hooks",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).parent), os.environ.get("PYTHONPATH")])),
        }
        subprocess.run([shiplane, "db", "upgrade"], env=env, check=True, capture_output=True)
        token = (
            subprocess.run(
                [shiplane, "token", "create", "--user", "fuzzer", "--tenant", "fuzz", "--role", "admin"],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        port = free_port()
        log = open(Path(tmp) / "server.log", "wb")  # noqa: SIM115 - closed below
        server = subprocess.Popen(
            [shiplane, "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    print((Path(tmp) / "server.log").read_text(), file=sys.stderr)
                    return 2
                time.sleep(0.2)
            hooks_env.update(references(base, token, Path(tmp)))
            command = [
                schemathesis,
                "--config-file",
                str(Path(__file__).with_name("schemathesis.toml")),
                "run",
                f"{base}/api/openapi.json",
                "-H",
                f"Authorization: Bearer {token}",
                "--checks",
                args.checks,
                "--max-examples",
                str(args.max_examples),
                "--seed",
                str(args.seed),
                "--no-color",
                *args.extra,
            ]
            return subprocess.run(command, timeout=900, env=hooks_env).returncode
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
            log.close()


if __name__ == "__main__":
    raise SystemExit(main())
