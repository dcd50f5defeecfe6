"""shiplanectl: Shiplane from the command line and from CI pipelines.

Exit codes (docs/cli.md):

    0  OK
    1  FAILED: the operation failed or was refused (a promotion failed, was rejected or
       cancelled; a request the server refused: 400, 409, 422; evidence that does not verify)
    2  USAGE: bad arguments, or no server / an unreadable configuration
    3  BLOCKED: a gate blocked the promotion (PROMOTION_BLOCKED, or it became blocked while waiting)
    4  TIMEOUT: --wait / --follow did not see the end in time
    5  AUTH: the token is missing, invalid or expired (401), or lacks the permission (403)
    6  NOT_FOUND: the resource does not exist in the tenant (404)
    7  UNAVAILABLE: the server could not be reached, kept answering 429, or failed (5xx)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from shiplane_sdk._version import __version__
from shiplane_sdk.client import (
    ForbiddenError,
    NotFoundError,
    PromotionBlockedError,
    RateLimitedError,
    RetryPolicy,
    ServerError,
    ShiplaneClient,
    ShiplaneConnectionError,
    ShiplaneError,
    StreamError,
    UnauthorizedError,
)
from shiplane_sdk.ctl import config as configuration
from shiplane_sdk.ctl import output

OK, FAILED, USAGE, BLOCKED, TIMEOUT, AUTH, NOT_FOUND, UNAVAILABLE = range(8)
EXIT_CODES = {
    OK: "OK",
    FAILED: "the operation failed or was refused (rejected, cancelled, 400/409/422, invalid evidence)",
    USAGE: "usage: bad arguments or configuration",
    BLOCKED: "blocked by a gate (PROMOTION_BLOCKED)",
    TIMEOUT: "timed out waiting",
    AUTH: "authentication or permission (401/403)",
    NOT_FOUND: "not found (404)",
    UNAVAILABLE: "server unreachable, rate limited after retries, or a server error (5xx)",
}
PROMOTION_DONE = {"succeeded": OK, "failed": FAILED, "rejected": FAILED, "cancelled": FAILED, "rolled_back": FAILED}
JOB_DONE = {"succeeded": OK, "failed": FAILED, "partially_applied": FAILED, "cancelled": FAILED, "rolled_back": FAILED}

Handler = Callable[[ShiplaneClient, argparse.Namespace], int]


class Exit(Exception):
    def __init__(self, code: int, message: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Context:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.fmt: str = getattr(args, "output", None) or "table"
        self.quiet: bool = bool(getattr(args, "quiet", False))

    def out(self, value: Any, columns: Sequence[str] | None = None) -> None:
        output.emit(value, self.fmt, sys.stdout, columns)

    def progress(self, text: str) -> None:
        if not self.quiet:
            print(text, file=sys.stderr, flush=True)


CTX: Context


def _json_arg(text: str) -> Any:
    """A JSON value given inline or as ``@file`` (``@-`` is stdin)."""
    if text.startswith("@"):
        source = sys.stdin.read() if text == "@-" else Path(text[1:]).read_text()
    else:
        source = text
    try:
        return json.loads(source)
    except ValueError as exc:
        raise Exit(USAGE, f"not JSON: {exc}") from None


def _resolve(client: ShiplaneClient, kind: str, value: str) -> str:
    """An id for ``value``: the id itself, or the name of a resource of ``kind`` (names are unique per tenant)."""
    group = {"environment": client.environments, "release": client.releases, "component": client.components}[kind]
    matches = list(group.list(filter={"name": value}, page_size=2))
    if len(matches) == 1:
        return str(matches[0]["id"])
    return value


# --- releases and components -------------------------------------------------------------


def releases_list(client: ShiplaneClient, args: argparse.Namespace) -> int:
    filter_ = {"state": args.state} if args.state else None
    rows = list(client.releases.list(sort=args.sort, filter=filter_))
    CTX.out(rows[: args.limit] if args.limit else rows, ["id", "name", "state", "manifestDigest", "createdAt"])
    return OK


def releases_get(client: ShiplaneClient, args: argparse.Namespace) -> int:
    CTX.out(client.releases.get(_resolve(client, "release", args.release)))
    return OK


def _components(client: ShiplaneClient, entries: list[str]) -> list[dict[str, Any]]:
    out = []
    for entry in entries:
        component, sep, version = entry.partition("=")
        if not sep or not version:
            raise Exit(USAGE, f"--component {entry!r}: expected COMPONENT=VERSION[@DIGEST]")
        version, _, digest = version.partition("@")
        item = {"componentId": _resolve(client, "component", component), "version": version}
        if digest:
            item["digest"] = digest
        out.append(item)
    return out


def releases_create(client: ShiplaneClient, args: argparse.Namespace) -> int:
    body: dict[str, Any] = {
        "name": args.name,
        "description": args.description or "",
        "components": _components(client, args.component),
        "state": "draft" if args.draft else "ready",
    }
    CTX.out(client.releases.create(body, idempotency_key=args.idempotency_key))
    return OK


def releases_from_latest(client: ShiplaneClient, args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"componentIds": [_resolve(client, "component", c) for c in args.component]}
    if args.name:
        body["name"] = args.name
    if args.description:
        body["description"] = args.description
    CTX.out(client.releases.from_latest(body, idempotency_key=args.idempotency_key))
    return OK


def releases_compare(client: ShiplaneClient, args: argparse.Namespace) -> int:
    base, other = (_resolve(client, "release", r) for r in (args.base, args.other))
    result = client.releases.compare(base, other)
    if CTX.fmt == "table":
        rows = [
            {
                "component": c.get("componentName"),
                "from": c["from"].get("version"),
                "to": c["to"].get("version"),
                "digestChanged": c.get("digestChanged"),
            }
            for c in result.get("changed", [])
        ]
        print(
            "identical"
            if result.get("identical")
            else f"{len(rows)} changed, {len(result.get('added', []))} added, {len(result.get('removed', []))} removed"
        )
        if rows:
            CTX.out(rows)
    else:
        CTX.out(result)
    return OK


def releases_deprecate(client: ShiplaneClient, args: argparse.Namespace) -> int:
    CTX.out(client.releases.deprecate(_resolve(client, "release", args.release), args.reason))
    return OK


def releases_state(client: ShiplaneClient, args: argparse.Namespace) -> int:
    CTX.out(client.releases.state(_resolve(client, "release", args.release)))
    return OK


def releases_delete(client: ShiplaneClient, args: argparse.Namespace) -> int:
    client.releases.delete(_resolve(client, "release", args.release))
    return OK


def components_list(client: ShiplaneClient, args: argparse.Namespace) -> int:
    CTX.out(list(client.components.list()), ["id", "name", "integrationId", "reference", "version"])
    return OK


def components_get(client: ShiplaneClient, args: argparse.Namespace) -> int:
    CTX.out(client.components.get(_resolve(client, "component", args.component)))
    return OK


def components_create(client: ShiplaneClient, args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"name": args.name, "integrationId": args.integration, "reference": args.reference}
    if args.version_pattern:
        body["versionPattern"] = args.version_pattern
        body["versionPatternType"] = args.pattern_type
    CTX.out(client.components.create(body, idempotency_key=args.idempotency_key))
    return OK


def components_sync(client: ShiplaneClient, args: argparse.Namespace) -> int:
    result = client.components.sync_versions(_resolve(client, "component", args.component))
    if CTX.fmt == "table":
        print(
            f"added {len(result.get('added', []))}, updated {len(result.get('updated', []))}, "
            f"removed {len(result.get('removed', []))}, unchanged {result.get('unchanged')}"
        )
    else:
        CTX.out(result)
    return OK


def components_versions(client: ShiplaneClient, args: argparse.Namespace) -> int:
    rows = list(client.components.list_versions(_resolve(client, "component", args.component)))
    CTX.out(rows, ["tag", "digest", "createdAt", "discoveredAt"])
    return OK


def integrations_list(client: ShiplaneClient, args: argparse.Namespace) -> int:
    CTX.out(list(client.integrations.list()), ["id", "name", "typeId", "status", "healthStatus"])
    return OK


def integrations_create(client: ShiplaneClient, args: argparse.Namespace) -> int:
    body = {"name": args.name, "typeId": args.type, "config": _json_arg(args.data), "description": ""}
    CTX.out(client.integrations.create(body, idempotency_key=args.idempotency_key))
    return OK


# --- promotions ---------------------------------------------------------------------------------


def _job_of(client: ShiplaneClient, promotion_id: str) -> dict[str, Any] | None:
    jobs = list(client.deployments.list(filter={"promotionId": promotion_id}, sort="-createdAt", page_size=1))
    return jobs[0] if jobs else None


def _describe_job(job: dict[str, Any]) -> str:
    tasks = job.get("tasks")
    counts = ""
    if isinstance(tasks, dict) and tasks:
        counts = " (" + ", ".join(f"{k} {v}" for k, v in sorted(tasks.items())) + ")"
    return f"deployment {job['id']}: {job.get('state')}{counts}"


def follow_promotion(client: ShiplaneClient, promotion: dict[str, Any], args: argparse.Namespace) -> int:
    """Poll the promotion (and its deployment job) until it ends; print each change on stderr."""
    deadline = time.monotonic() + args.timeout
    started = time.monotonic()
    seen: tuple[Any, ...] = ()
    pid = promotion["id"]
    while True:
        state = promotion.get("state")
        job = _job_of(client, pid) if state in ("deploying", "succeeded", "failed", "rolled_back") else None
        shown = (state, promotion.get("message"), job and job.get("state"), job and json.dumps(job.get("tasks")))
        if shown != seen:
            seen = shown
            text = f"[{time.monotonic() - started:5.1f}s] promotion {pid}: {state}"
            if promotion.get("message"):
                text += f" ({promotion['message']})"
            if job is not None:
                text += f"; {_describe_job(job)}"
            CTX.progress(text)
        if state in PROMOTION_DONE:
            CTX.out(promotion, ["id", "state", "releaseId", "environmentId", "message"])
            return PROMOTION_DONE[str(state)]
        if state == "blocked" and not getattr(args, "wait_blocked", False):
            CTX.out(promotion, ["id", "state", "releaseId", "environmentId", "message"])
            return BLOCKED
        if time.monotonic() >= deadline:
            CTX.progress(f"timed out after {args.timeout:g}s: promotion {pid} is {state}")
            CTX.out(promotion, ["id", "state", "releaseId", "environmentId", "message"])
            return TIMEOUT
        time.sleep(args.poll)
        promotion = client.promotions.get(pid)


def promote(client: ShiplaneClient, args: argparse.Namespace) -> int:
    body: dict[str, Any] = {
        "releaseId": _resolve(client, "release", args.release),
        "environmentId": _resolve(client, "environment", args.environment),
        "reason": args.reason or "",
    }
    if args.freeze_override:
        body["freezeOverride"] = {"reason": args.freeze_override}
    try:
        promotion = client.promotions.create(body, idempotency_key=args.idempotency_key)
    except PromotionBlockedError as blocked:
        gates = blocked.details.get("gates") or []
        for gate in gates:
            CTX.progress(f"blocked by gate {gate.get('name') or gate.get('type')}: {gate.get('message')}")
        if not (args.wait and args.wait_blocked) or not blocked.promotion_id:
            CTX.out(
                {
                    "promotionId": blocked.promotion_id,
                    "state": "blocked",
                    "gates": gates,
                    "recheckAt": blocked.details.get("recheckAt"),
                }
            )
            return BLOCKED
        promotion = client.promotions.get(blocked.promotion_id)
    if not args.wait:
        CTX.out(promotion, ["id", "state", "releaseId", "environmentId", "message"])
        return OK
    return follow_promotion(client, promotion, args)


def promotions_wait(client: ShiplaneClient, args: argparse.Namespace) -> int:
    return follow_promotion(client, client.promotions.get(args.promotion), args)


def promotions_list(client: ShiplaneClient, args: argparse.Namespace) -> int:
    filter_: dict[str, Any] = {}
    if args.state:
        filter_["state"] = args.state
    if args.environment:
        filter_["environmentId"] = _resolve(client, "environment", args.environment)
    rows = list(client.promotions.list(filter=filter_ or None))
    CTX.out(rows, ["id", "state", "releaseId", "environmentId", "requestedBy", "createdAt"])
    return OK


def promotions_get(client: ShiplaneClient, args: argparse.Namespace) -> int:
    CTX.out(client.promotions.get(args.promotion))
    return OK


def promotions_decision(client: ShiplaneClient, args: argparse.Namespace) -> int:
    decision = client.promotions.decision(args.promotion)
    if CTX.fmt == "table":
        print(f"{decision.get('state')}: {decision.get('message') or ''}")
        CTX.out(decision.get("gates") or [], ["type", "name", "status", "message", "evaluatedAt"])
    else:
        CTX.out(decision)
    return OK


def promotions_cancel(client: ShiplaneClient, args: argparse.Namespace) -> int:
    CTX.out(client.promotions.cancel(args.promotion, args.comment or ""), ["id", "state", "message"])
    return OK


def approve(client: ShiplaneClient, args: argparse.Namespace) -> int:
    promotion = client.promotions.approve(args.promotion, args.comment or "")
    if getattr(args, "wait", False):
        return follow_promotion(client, promotion, args)
    CTX.out(promotion, ["id", "state", "message"])
    return OK


def reject(client: ShiplaneClient, args: argparse.Namespace) -> int:
    CTX.out(client.promotions.reject(args.promotion, args.comment or ""), ["id", "state", "message"])
    return OK


def pending(client: ShiplaneClient, args: argparse.Namespace) -> int:
    CTX.out(list(client.promotions.pending_approvals()), ["id", "state", "releaseId", "environmentId", "requestedBy"])
    return OK


def rollback(client: ShiplaneClient, args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"environmentId": _resolve(client, "environment", args.environment), "reason": args.reason}
    if args.release:
        body["releaseId"] = _resolve(client, "release", args.release)
    job = client.deployments.rollback(body, idempotency_key=args.idempotency_key)
    if not args.wait:
        CTX.out(job, ["id", "kind", "state", "releaseId", "environmentId"])
        return OK
    return follow_job(client, job, args)


def follow_job(client: ShiplaneClient, job: dict[str, Any], args: argparse.Namespace) -> int:
    deadline = time.monotonic() + args.timeout
    started = time.monotonic()
    last = None
    while True:
        text = _describe_job(job)
        if text != last:
            last = text
            CTX.progress(f"[{time.monotonic() - started:5.1f}s] {text}")
        if job.get("state") in JOB_DONE:
            CTX.out(job, ["id", "kind", "state", "releaseId", "environmentId", "message"])
            return JOB_DONE[str(job["state"])]
        if time.monotonic() >= deadline:
            CTX.progress(f"timed out after {args.timeout:g}s")
            return TIMEOUT
        time.sleep(args.poll)
        job = client.deployments.get(job["id"])


# --- runs and jobs -------------------------------------------------------------------------------


def runs_list(client: ShiplaneClient, args: argparse.Namespace) -> int:
    CTX.out(
        list(client.runs.list(filter={"state": args.state} if args.state else None)),
        ["id", "templateId", "state", "createdAt"],
    )
    return OK


def runs_get(client: ShiplaneClient, args: argparse.Namespace) -> int:
    CTX.out(client.runs.get(args.run))
    return OK


def runs_cancel(client: ShiplaneClient, args: argparse.Namespace) -> int:
    CTX.out(client.runs.cancel(args.run), ["id", "state"])
    return OK


def _print_line(prefix: str, line: str) -> None:
    print(f"{prefix}{line}" if prefix else line, flush=True)


def runs_logs(client: ShiplaneClient, args: argparse.Namespace) -> int:
    if args.follow:
        deadline = time.monotonic() + args.timeout
        end_state = None
        for message in client.runs.stream(args.run, since=args.since):
            if message.get("type") == "end":
                end_state = message.get("state")
                break
            if message.get("kind") == "log" and (not args.step or message.get("nodeId") == args.step):
                _print_line("" if args.step else f"[{message.get('nodeId')}] ", str(message.get("line", "")))
            elif message.get("kind") in ("run", "step") and message.get("state"):
                where = f"step {message.get('nodeId')}" if message.get("kind") == "step" else "run"
                CTX.progress(f"{where}: {message.get('state')}")
            if time.monotonic() > deadline:
                CTX.progress(f"timed out after {args.timeout:g}s")
                return TIMEOUT
        CTX.progress(f"run {args.run}: {end_state}")
        return OK if end_state == "succeeded" else FAILED
    steps = [args.step] if args.step else [str(step["nodeId"]) for step in client.runs.steps(args.run)]
    for node in steps:
        offset = 0
        while True:
            page = client.runs.step_logs(args.run, node, offset=offset, limit=1000)
            for line in page.get("lines", []):
                _print_line("" if args.step else f"[{node}] ", str(line.get("line", "")))
            if not page.get("hasMore"):
                break
            offset += len(page.get("lines", []))
    return OK


def jobs_list(client: ShiplaneClient, args: argparse.Namespace) -> int:
    filter_: dict[str, Any] = {}
    if args.promotion:
        filter_["promotionId"] = args.promotion
    if args.state:
        filter_["state"] = args.state
    CTX.out(
        list(client.deployments.list(filter=filter_ or None)),
        ["id", "kind", "state", "releaseId", "environmentId", "createdAt"],
    )
    return OK


def jobs_get(client: ShiplaneClient, args: argparse.Namespace) -> int:
    CTX.out(client.deployments.get(args.job))
    return OK


def jobs_logs(client: ShiplaneClient, args: argparse.Namespace) -> int:
    if args.follow:
        deadline = time.monotonic() + args.timeout
        end_state = None
        for message in client.deployments.stream(args.job, since=args.since):
            if message.get("type") == "end":
                end_state = message.get("state")
                break
            if message.get("kind") == "log":
                _print_line(f"[{message.get('targetId') or 'job'}] ", str(message.get("line", "")))
            elif message.get("state"):
                CTX.progress(f"{message.get('kind')} {message.get('targetId') or ''}: {message.get('state')}".strip())
            if time.monotonic() > deadline:
                CTX.progress(f"timed out after {args.timeout:g}s")
                return TIMEOUT
        CTX.progress(f"job {args.job}: {end_state}")
        return JOB_DONE.get(str(end_state), FAILED)
    for task in client.deployments.tasks(args.job):
        offset = 0
        while True:
            page = client.deployments.task_logs(args.job, task["id"], offset=offset, limit=1000)
            for line in page.get("lines", []):
                _print_line(f"[{task.get('targetName') or task.get('targetId')}] ", str(line.get("line", "")))
            if not page.get("hasMore"):
                break
            offset += len(page.get("lines", []))
    return OK


# --- evidence -------------------------------------------------------------------------------------


def evidence_list(client: ShiplaneClient, args: argparse.Namespace) -> int:
    filter_: dict[str, Any] = {}
    if args.promotion:
        filter_["promotionId"] = args.promotion
    if args.release:
        filter_["releaseId"] = _resolve(client, "release", args.release)
    rows = list(client.evidence.list(filter=filter_ or None))
    CTX.out(rows, ["id", "kind", "outcome", "releaseId", "environmentId", "keyId", "createdAt"])
    return OK


def evidence_get(client: ShiplaneClient, args: argparse.Namespace) -> int:
    CTX.out(client.evidence.get(args.packet))
    return OK


def _write(path: str | None, data: bytes) -> None:
    if path in (None, "-"):
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        Path(str(path)).write_bytes(data)


def evidence_download(client: ShiplaneClient, args: argparse.Namespace) -> int:
    if args.promotion:
        packets = client.promotions.evidence(args.promotion)
        directory = Path(args.output_file or ".")
        directory.mkdir(parents=True, exist_ok=True)
        for packet in packets:
            target = directory / f"evidence-{packet['id']}.dsse.json"
            target.write_bytes(client.evidence.download(packet["id"]))
            CTX.progress(f"{packet['kind']} ({packet['outcome']}): {target}")
        return OK
    if not args.packet:
        raise Exit(USAGE, "give a packet id or --promotion")
    _write(args.output_file or f"evidence-{args.packet}.dsse.json", client.evidence.download(args.packet))
    return OK


def evidence_keys(client: ShiplaneClient, args: argparse.Namespace) -> int:
    keys = client.evidence.signing_keys()
    if args.output_file:
        Path(args.output_file).write_text(json.dumps(keys, indent=2) + "\n")
    else:
        CTX.out(keys, ["keyId", "algorithm", "current", "createdAt"])
    return OK


def evidence_verify(args: argparse.Namespace) -> int:
    """Offline: no server, no token."""
    from shiplane_sdk.evidence import EvidenceInvalid, verify_file

    code = OK
    for packet in args.packets:
        path = Path(packet)
        try:
            verified = verify_file(path, [Path(k) for k in args.keys])
        except OSError as exc:
            print(f"ERROR: {path}: {exc}", file=sys.stderr)
            return USAGE
        except EvidenceInvalid as exc:
            print(f"INVALID: {path}: {exc}")
            code = FAILED
            continue
        print(f"OK: {path}: {verified.summary()}")
    return code


# --- inventory -------------------------------------------------------------------------------------


def environments_list(client: ShiplaneClient, args: argparse.Namespace) -> int:
    CTX.out(
        list(client.environments.list(sort="order")),
        ["id", "name", "order", "isProduction", "currentReleaseId", "version"],
    )
    return OK


def environments_get(client: ShiplaneClient, args: argparse.Namespace) -> int:
    CTX.out(client.environments.get(_resolve(client, "environment", args.environment)))
    return OK


def environments_create(client: ShiplaneClient, args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"name": args.name, "isProduction": args.production}
    if args.display_name:
        body["displayName"] = args.display_name
    if args.order is not None:
        body["order"] = args.order
    if args.gate:
        body["gates"] = [_gate(g) for g in args.gate]
    if args.approval_policy:
        body["approvalPolicyId"] = args.approval_policy
    if args.workflow_template:
        body["deploymentWorkflowTemplateId"] = args.workflow_template
    if args.body:
        body.update(_json_arg(args.body))
    CTX.out(client.environments.create(body, idempotency_key=args.idempotency_key))
    return OK


def _gate(text: str) -> dict[str, Any]:
    kind, sep, config = text.partition(":")
    gate: dict[str, Any] = {"type": kind}
    if sep:
        gate["config"] = _json_arg(config)
    return gate


def environments_delete(client: ShiplaneClient, args: argparse.Namespace) -> int:
    client.environments.delete(_resolve(client, "environment", args.environment))
    return OK


def freeze_create(client: ShiplaneClient, args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"reason": args.reason or ""}
    if args.rrule:
        body.update({"rrule": args.rrule, "duration": args.duration, "timeZone": args.time_zone})
    else:
        body.update({"startsAt": args.starts, "endsAt": args.ends})
    if args.override_role:
        body["overrideRoles"] = args.override_role
    env = _resolve(client, "environment", args.environment)
    CTX.out(client.environments.create_freeze_window(env, body, idempotency_key=args.idempotency_key))
    return OK


def freeze_list(client: ShiplaneClient, args: argparse.Namespace) -> int:
    env = _resolve(client, "environment", args.environment)
    CTX.out(
        list(client.environments.list_freeze_windows(env)),
        ["id", "kind", "active", "startsAt", "endsAt", "nextStart", "reason"],
    )
    return OK


def freeze_delete(client: ShiplaneClient, args: argparse.Namespace) -> int:
    client.environments.delete_freeze_window(_resolve(client, "environment", args.environment), args.window)
    return OK


def policies_create(client: ShiplaneClient, args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"name": args.name, "requiredApprovals": args.required}
    if args.role:
        body["approverRoles"] = args.role
    if args.user:
        body["approverUsers"] = args.user
    if args.allow_self_approval:
        body["allowSelfApproval"] = True
    CTX.out(client.promotions.create_approval_policy(body, idempotency_key=args.idempotency_key))
    return OK


def policies_list(client: ShiplaneClient, args: argparse.Namespace) -> int:
    CTX.out(list(client.promotions.list_approval_policies()), ["id", "name", "requiredApprovals", "approverRoles"])
    return OK


def targets_list(client: ShiplaneClient, args: argparse.Namespace) -> int:
    filter_ = {"environmentId": _resolve(client, "environment", args.environment)} if args.environment else None
    CTX.out(list(client.targets.list(filter=filter_)), ["id", "name", "type", "environmentId", "agentId"])
    return OK


def targets_get(client: ShiplaneClient, args: argparse.Namespace) -> int:
    CTX.out(client.targets.get(args.target))
    return OK


def targets_drift(client: ShiplaneClient, args: argparse.Namespace) -> int:
    CTX.out(client.targets.drift(args.target))
    return OK


def targets_sticker(client: ShiplaneClient, args: argparse.Namespace) -> int:
    CTX.out(client.targets.sticker(args.target))
    return OK


def targets_check(client: ShiplaneClient, args: argparse.Namespace) -> int:
    result = client.targets.health_check(args.target, wait=args.wait_seconds)
    if CTX.fmt == "table":
        # The verdict on one line: the table below cuts its nested cells short.
        health = result.get("health") or {}
        if health:
            print(f"{result.get('targetId')}: {health.get('status')}: {health.get('message') or ''}")
        else:
            print(f"{result.get('targetId')}: check {result.get('taskId')} {result.get('state')}")
    CTX.out(result)
    return OK


def agents_list(client: ShiplaneClient, args: argparse.Namespace) -> int:
    CTX.out(list(client.agents.list()), ["id", "name", "status", "hostname", "agentVersion", "lastHeartbeatAt"])
    return OK


def agents_get(client: ShiplaneClient, args: argparse.Namespace) -> int:
    CTX.out(client.agents.get(args.agent))
    return OK


def plugins_list(client: ShiplaneClient, args: argparse.Namespace) -> int:
    CTX.out(list(client.plugins.list()), ["id", "name", "version", "state", "vendor"])
    return OK


def plugins_get(client: ShiplaneClient, args: argparse.Namespace) -> int:
    CTX.out(client.plugins.get(args.plugin))
    return OK


def plugins_enable(client: ShiplaneClient, args: argparse.Namespace) -> int:
    CTX.out(client.plugins.enable(args.plugin))
    return OK


def plugins_disable(client: ShiplaneClient, args: argparse.Namespace) -> int:
    CTX.out(client.plugins.disable(args.plugin))
    return OK


def accounts_create(client: ShiplaneClient, args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"name": args.name, "roles": args.role, "description": args.description or ""}
    created = client.service_accounts.create(body, idempotency_key=args.idempotency_key)
    _secret_out(created, args)
    return OK


def _secret_out(answer: dict[str, Any], args: argparse.Namespace) -> None:
    """The secret is shown once: into --secret-file when given (then not printed)."""
    if args.secret_file and answer.get("clientSecret"):
        path = Path(args.secret_file)
        path.touch(mode=0o600)
        path.write_text(str(answer["clientSecret"]) + "\n")
        answer = {**answer, "clientSecret": f"(written to {path})"}
    CTX.out(answer)


def accounts_list(client: ShiplaneClient, args: argparse.Namespace) -> int:
    CTX.out(list(client.service_accounts.list()), ["id", "name", "roles", "revokedAt", "lastTokenAt", "version"])
    return OK


def accounts_rotate(client: ShiplaneClient, args: argparse.Namespace) -> int:
    _secret_out(client.service_accounts.rotate_secret(args.account), args)
    return OK


def accounts_revoke(client: ShiplaneClient, args: argparse.Namespace) -> int:
    CTX.out(client.service_accounts.revoke(args.account))
    return OK


def api(client: ShiplaneClient, args: argparse.Namespace) -> int:
    params = {}
    for pair in args.param or []:
        key, sep, value = pair.partition("=")
        if not sep:
            raise Exit(USAGE, f"--param {pair!r}: expected KEY=VALUE")
        params[key] = value
    body = _json_arg(args.data) if args.data else None
    answer = client.request(args.method, args.path, params=params, body=body, idempotency_key=args.idempotency_key)
    CTX.out(answer.data)
    return OK


# --- the parser ---------------------------------------------------------------------------------


def _common() -> argparse.ArgumentParser:
    """Options every command takes, before or after the command's name."""
    common = argparse.ArgumentParser(add_help=False)
    s = argparse.SUPPRESS
    common.add_argument("--server", default=s, help="the Shiplane URL (else SHIPLANE_SERVER, else the profile)")
    common.add_argument("--token", default=s, help="a bearer token (else SHIPLANE_TOKEN, else the profile)")
    common.add_argument("--token-file", default=s, help="read the token from this file")
    common.add_argument("--client-id", default=s, help="a service account's id (else SHIPLANE_CLIENT_ID)")
    common.add_argument("--client-secret-file", default=s, help="the file holding its secret")
    common.add_argument("--profile", default=s, help="a profile of the config file (else SHIPLANE_PROFILE, current)")
    common.add_argument("--config", default=s, help="the config file (default ~/.config/shiplane/config.yaml)")
    common.add_argument("-o", "--output", choices=output.FORMATS, default=s, help="table (default), json or yaml")
    common.add_argument("--request-timeout", type=float, default=s, help="seconds per HTTP request (default 60)")
    common.add_argument(
        "--retries",
        type=int,
        default=s,
        help="attempts per request after the first, on 429 and connection errors (default 3)",
    )
    common.add_argument("-q", "--quiet", action="store_true", default=s, help="no progress on stderr")
    return common


def build_parser() -> argparse.ArgumentParser:
    common = _common()
    parser = argparse.ArgumentParser(
        prog="shiplanectl",
        description="Shiplane from the command line and CI pipelines.",
        epilog="exit codes: " + "; ".join(f"{k} {v}" for k, v in EXIT_CODES.items()),
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"shiplanectl {__version__}")
    top = parser.add_subparsers(dest="command", metavar="COMMAND")
    top.required = True

    def group(name: str, help_: str) -> argparse._SubParsersAction[argparse.ArgumentParser]:
        sub = top.add_parser(name, help=help_, parents=[common])
        actions = sub.add_subparsers(dest="action", metavar="ACTION")
        actions.required = True
        return actions

    def leaf(actions: Any, name: str, handler: Handler, help_: str) -> argparse.ArgumentParser:
        command: argparse.ArgumentParser = actions.add_parser(name, help=help_, parents=[common])
        command.set_defaults(handler=handler)
        return command

    def writes(command: argparse.ArgumentParser) -> None:
        command.add_argument("--idempotency-key", help="reuse this key (e.g. the CI job id) to make a retry a replay")

    def waits(command: argparse.ArgumentParser, default: float = 1800) -> None:
        command.add_argument("--timeout", type=float, default=default, help=f"seconds to wait (default {default:g})")
        command.add_argument("--poll", type=float, default=1.0, help="seconds between checks (default 1)")

    def approves(command: argparse.ArgumentParser) -> None:
        command.add_argument(
            "--wait", action="store_true", help="then follow the promotion and its deployment to the end"
        )
        command.add_argument(
            "--wait-blocked", action="store_true", help="with --wait: keep waiting while a gate blocks it"
        )
        waits(command)

    # releases
    releases = group("releases", "sealed sets of component versions")
    c = leaf(releases, "list", releases_list, "list releases (newest first)")
    c.add_argument("--state", choices=["draft", "ready", "deprecated"])
    c.add_argument("--sort", default=None)
    c.add_argument("--limit", type=int, default=0)
    leaf(releases, "get", releases_get, "show a release").add_argument("release", help="id or name")
    c = leaf(releases, "create", releases_create, "create a release (sealed unless --draft)")
    c.add_argument("--name", required=True)
    c.add_argument("--description")
    c.add_argument("--component", action="append", required=True, metavar="COMPONENT=VERSION[@DIGEST]")
    c.add_argument("--draft", action="store_true")
    writes(c)
    c = leaf(releases, "from-latest", releases_from_latest, "seal the newest version of each component")
    c.add_argument("--component", action="append", required=True, metavar="COMPONENT", help="id or name")
    c.add_argument("--name")
    c.add_argument("--description")
    writes(c)
    c = leaf(releases, "compare", releases_compare, "what changed from one release to another")
    c.add_argument("base")
    c.add_argument("other")
    c = leaf(releases, "deprecate", releases_deprecate, "quarantine a release (promotions refuse it)")
    c.add_argument("release")
    c.add_argument("--reason", required=True)
    leaf(releases, "state", releases_state, "where a release runs").add_argument("release")
    leaf(releases, "delete", releases_delete, "delete a never-promoted release").add_argument("release")

    components = group("components", "what releases are made of")
    leaf(components, "list", components_list, "list components")
    leaf(components, "get", components_get, "show a component").add_argument("component")
    c = leaf(components, "create", components_create, "create a component")
    c.add_argument("--name", required=True)
    c.add_argument("--integration", required=True, help="integration id")
    c.add_argument("--reference", required=True, help="image repository, '.' for a git repository")
    c.add_argument("--version-pattern")
    c.add_argument("--pattern-type", choices=["regex", "semver"], default="regex")
    writes(c)
    leaf(components, "sync", components_sync, "sync versions from the integration").add_argument("component")
    leaf(components, "versions", components_versions, "stored versions, newest first").add_argument("component")

    integrations = group("integrations", "registries, repositories, notifications")
    leaf(integrations, "list", integrations_list, "list integrations")
    c = leaf(integrations, "create", integrations_create, "create an integration")
    c.add_argument("--name", required=True)
    c.add_argument("--type", required=True, help="integration type id (oci-registry, git, ...)")
    c.add_argument("--data", required=True, help="the configuration as JSON, or @file")
    writes(c)

    # promotions
    c = top.add_parser("promote", help="promote a release into an environment", parents=[common])
    c.set_defaults(handler=promote)
    c.add_argument("release", help="release id or name")
    c.add_argument("environment", help="environment id or name")
    c.add_argument("--reason")
    c.add_argument("--freeze-override", metavar="REASON", help="promote through a freeze window (override roles)")
    c.add_argument("--wait", action="store_true", help="follow the promotion and its deployment to the end")
    c.add_argument(
        "--wait-blocked",
        action="store_true",
        help="with --wait: keep waiting while a gate blocks it (the server re-evaluates)",
    )
    writes(c)
    waits(c)

    promotions = group("promotions", "promotion requests")
    c = leaf(promotions, "list", promotions_list, "list promotions")
    c.add_argument("--state")
    c.add_argument("--environment")
    leaf(promotions, "get", promotions_get, "show a promotion").add_argument("promotion")
    leaf(promotions, "decision", promotions_decision, "the gates and their inputs").add_argument("promotion")
    c = leaf(promotions, "wait", promotions_wait, "follow a promotion to its end (exit code as promote --wait)")
    c.add_argument("promotion")
    c.add_argument("--wait-blocked", action="store_true")
    waits(c)
    c = leaf(promotions, "cancel", promotions_cancel, "cancel a promotion not deploying yet")
    c.add_argument("promotion")
    c.add_argument("--comment")
    leaf(promotions, "pending", pending, "what you may approve now")
    c = leaf(promotions, "approve", approve, "approve a promotion")
    c.add_argument("promotion")
    c.add_argument("--comment")
    approves(c)
    c = leaf(promotions, "reject", reject, "reject a promotion")
    c.add_argument("promotion")
    c.add_argument("--comment")

    for name, handler, help_ in (("approve", approve, "approve a promotion"), ("reject", reject, "reject a promotion")):
        c = top.add_parser(name, help=help_, parents=[common])
        c.set_defaults(handler=handler)
        c.add_argument("promotion")
        c.add_argument("--comment")
        if handler is approve:
            approves(c)

    policies = group("approval-policies", "who must approve")
    c = leaf(policies, "create", policies_create, "create an approval policy")
    c.add_argument("--name", required=True)
    c.add_argument("--required", type=int, default=1)
    c.add_argument("--role", action="append")
    c.add_argument("--user", action="append")
    c.add_argument("--allow-self-approval", action="store_true")
    writes(c)
    leaf(policies, "list", policies_list, "list approval policies")

    c = top.add_parser("rollback", help="roll an environment back", parents=[common])
    c.set_defaults(handler=rollback)
    c.add_argument("environment")
    c.add_argument("--reason", required=True)
    c.add_argument("--release", help="the release to return to (default: the one before)")
    c.add_argument("--wait", action="store_true")
    writes(c)
    waits(c)

    # runs and jobs
    runs = group("runs", "workflow runs")
    c = leaf(runs, "list", runs_list, "list runs")
    c.add_argument("--state")
    leaf(runs, "get", runs_get, "show a run").add_argument("run")
    leaf(runs, "cancel", runs_cancel, "cancel a run").add_argument("run")
    c = leaf(runs, "logs", runs_logs, "a run's log lines")
    c.add_argument("run")
    c.add_argument("--step", help="one step's lines only")
    c.add_argument("-f", "--follow", action="store_true", help="stream until the run ends (exit 1 if it failed)")
    c.add_argument("--since", type=int, default=0, help="with --follow: events after this seq")
    c.add_argument("--timeout", type=float, default=3600)

    jobs = group("jobs", "deployment jobs")
    c = leaf(jobs, "list", jobs_list, "list deployment jobs")
    c.add_argument("--promotion")
    c.add_argument("--state")
    leaf(jobs, "get", jobs_get, "show a job").add_argument("job")
    c = leaf(jobs, "logs", jobs_logs, "a job's task logs")
    c.add_argument("job")
    c.add_argument("-f", "--follow", action="store_true", help="stream until the job ends (exit 1 unless it succeeded)")
    c.add_argument("--since", type=int, default=0)
    c.add_argument("--timeout", type=float, default=3600)

    # evidence
    evidence = group("evidence", "signed evidence packets")
    c = leaf(evidence, "list", evidence_list, "list packets")
    c.add_argument("--promotion")
    c.add_argument("--release")
    leaf(evidence, "get", evidence_get, "a packet with its decoded statement").add_argument("packet")
    c = leaf(evidence, "download", evidence_download, "save a packet's DSSE envelope (or a promotion's packets)")
    c.add_argument("packet", nargs="?")
    c.add_argument("--promotion", help="every packet of this promotion, into the directory -f names")
    c.add_argument("-f", "--file", dest="output_file", help="file (or directory with --promotion); '-' is stdout")
    c = leaf(evidence, "keys", evidence_keys, "the published signing keys (save them for verify)")
    c.add_argument("-f", "--file", dest="output_file")
    c = evidence.add_parser("verify", help="verify packets OFFLINE against saved keys (no server)", parents=[common])
    c.set_defaults(offline=evidence_verify)
    c.add_argument("packets", nargs="+", metavar="PACKET")
    c.add_argument(
        "--keys",
        action="append",
        required=True,
        help="the saved answer of GET /signing-keys, or a PEM public key (repeatable)",
    )

    # inventory
    environments = group("environments", "the pipeline's environments")
    leaf(environments, "list", environments_list, "list environments in pipeline order")
    leaf(environments, "get", environments_get, "show an environment").add_argument("environment")
    c = leaf(environments, "create", environments_create, "create an environment")
    c.add_argument("--name", required=True)
    c.add_argument("--display-name")
    c.add_argument("--order", type=int)
    c.add_argument("--production", action="store_true")
    c.add_argument("--gate", action="append", metavar="TYPE[:CONFIG_JSON]")
    c.add_argument("--approval-policy")
    c.add_argument("--workflow-template", help="deployment workflow template id")
    c.add_argument("--body", help="more fields as JSON (or @file)")
    writes(c)
    leaf(environments, "delete", environments_delete, "delete an environment").add_argument("environment")
    c = leaf(environments, "freeze", freeze_create, "add a freeze window")
    c.add_argument("environment")
    c.add_argument("--starts", help="RFC 3339 with offset")
    c.add_argument("--ends")
    c.add_argument("--rrule")
    c.add_argument("--duration")
    c.add_argument("--time-zone", default="UTC")
    c.add_argument("--reason")
    c.add_argument("--override-role", action="append")
    writes(c)
    leaf(environments, "freezes", freeze_list, "list freeze windows").add_argument("environment")
    c = leaf(environments, "unfreeze", freeze_delete, "delete a freeze window")
    c.add_argument("environment")
    c.add_argument("window")

    targets = group("targets", "where releases are deployed")
    leaf(targets, "list", targets_list, "list targets").add_argument("--environment")
    leaf(targets, "get", targets_get, "show a target").add_argument("target")
    leaf(targets, "drift", targets_drift, "expected vs actual").add_argument("target")
    leaf(targets, "sticker", targets_sticker, "the version sticker last read").add_argument("target")
    c = leaf(targets, "check", targets_check, "run a health check through the target's agent")
    c.add_argument("target")
    c.add_argument("--wait-seconds", type=int, default=30)

    agents = group("agents", "host agents")
    leaf(agents, "list", agents_list, "list agents")
    leaf(agents, "get", agents_get, "show an agent").add_argument("agent")

    plugins = group("plugins", "installed plugins")
    leaf(plugins, "list", plugins_list, "list plugins")
    leaf(plugins, "get", plugins_get, "show a plugin").add_argument("plugin")
    leaf(plugins, "enable", plugins_enable, "enable a plugin for the tenant").add_argument("plugin")
    leaf(plugins, "disable", plugins_disable, "disable a plugin for the tenant").add_argument("plugin")

    accounts = group("service-accounts", "machine identities for pipelines (admins)")
    c = leaf(accounts, "create", accounts_create, "create a service account (its secret is shown once)")
    c.add_argument("--name", required=True)
    c.add_argument("--role", action="append", required=True)
    c.add_argument("--description")
    c.add_argument("--secret-file", help="write the secret here (mode 600) instead of printing it")
    writes(c)
    leaf(accounts, "list", accounts_list, "list service accounts")
    c = leaf(accounts, "rotate-secret", accounts_rotate, "a new secret (the old one stops working)")
    c.add_argument("account")
    c.add_argument("--secret-file")
    leaf(accounts, "revoke", accounts_revoke, "revoke: its tokens stop working").add_argument("account")

    c = top.add_parser("api", help="any API call: shiplanectl api GET environments", parents=[common])
    c.set_defaults(handler=api)
    c.add_argument("method", type=str.upper, choices=["GET", "POST", "PUT", "DELETE"])
    c.add_argument("path", help="absolute (/api/v1/...) or relative to /api/v1")
    c.add_argument("-d", "--data", help="a JSON body, or @file, @- for stdin")
    c.add_argument("-p", "--param", action="append", metavar="KEY=VALUE")
    writes(c)

    c = top.add_parser("completion", help="print a shell completion script", parents=[common])
    c.add_argument("shell", choices=["bash", "zsh", "tcsh"])
    c.set_defaults(offline=_completion)
    return parser


def _completion(args: argparse.Namespace) -> int:
    import shtab

    print(shtab.complete(build_parser(), shell=args.shell))
    return OK


def _exit_code_for(error: ShiplaneError) -> int:
    if isinstance(error, PromotionBlockedError):
        return BLOCKED
    if isinstance(error, UnauthorizedError | ForbiddenError):
        return AUTH
    if isinstance(error, NotFoundError):
        return NOT_FOUND
    if isinstance(error, ShiplaneConnectionError | RateLimitedError | ServerError | StreamError):
        return UNAVAILABLE
    return FAILED


def main(argv: Sequence[str] | None = None) -> int:
    global CTX
    parser = build_parser()
    args = parser.parse_args(argv)
    CTX = Context(args)
    try:
        offline = getattr(args, "offline", None)
        if offline is not None:
            return int(offline(args))
        settings = configuration.resolve(
            server=getattr(args, "server", None),
            token=getattr(args, "token", None),
            token_file=getattr(args, "token_file", None),
            profile=getattr(args, "profile", None),
            config=getattr(args, "config", None),
            timeout=getattr(args, "request_timeout", None),
            client_id=getattr(args, "client_id", None),
            client_secret_file=getattr(args, "client_secret_file", None),
        )
        retries = getattr(args, "retries", None)
        retry = RetryPolicy(max_attempts=max(retries, 0) + 1) if retries is not None else None
        credentials: dict[str, Any] = (
            {"client_id": settings.client_id, "client_secret": settings.client_secret}
            if settings.client_id
            else {"token": settings.token or ""}
        )
        # JSON as it came: the tool prints it (json, yaml, tables) and never needs the models,
        # whose import would cost every command ~0.3 s.
        with ShiplaneClient(
            settings.server, timeout=settings.timeout, retry=retry, typed=False, **credentials
        ) as client:
            return int(args.handler(client, args))
    except configuration.ConfigError as exc:
        print(f"shiplanectl: {exc}", file=sys.stderr)
        return USAGE
    except Exit as exc:
        if exc.message:
            print(f"shiplanectl: {exc.message}", file=sys.stderr)
        return exc.code
    except ShiplaneError as exc:
        code = _exit_code_for(exc)
        if CTX.fmt in ("json", "yaml") and code != UNAVAILABLE:
            output.emit({"error": exc.to_dict()}, CTX.fmt, sys.stdout)
        print(f"shiplanectl: {exc}", file=sys.stderr)
        return code
    except KeyboardInterrupt:
        return 130


def run() -> None:
    """The console script."""
    raise SystemExit(main())
