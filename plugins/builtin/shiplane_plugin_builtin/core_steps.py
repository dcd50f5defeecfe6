"""Built-in step types that act through the core: people (``approval``, ``manual``),
notifications (``notify``), gates (``gate``), targets (``health-check``) and agents
(``script``). They use only the SDK's step context, like any vendor's step type."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from shiplane_sdk import PluginError, StepCancelled, StepContext, StepResult, StepType, StepWait

_NAMES = {"type": "array", "maxItems": 50, "items": {"type": "string", "minLength": 1, "maxLength": 255}}
_OUTPUT_KEEP = 4096


def _by(decisions: list[dict[str, Any]], action: str) -> list[dict[str, Any]]:
    return [d for d in decisions if d.get("action") == action]


def _said(decision: dict[str, Any]) -> str:
    comment = str(decision.get("comment") or "")
    return f"{decision.get('by')}" + (f": {comment}" if comment else "")


async def _pause(ctx: StepContext, seconds: float) -> None:
    """Sleep ``seconds``, cancellable."""
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        if ctx.is_cancelled():
            raise StepCancelled("cancelled")
        await asyncio.sleep(min(left, 0.5))


class Approval(StepType):
    id = "approval"
    display_name = "Approval"
    description = (
        "The run waits here until enough people approve (or one rejects). Deciding takes the "
        "permission workflows:approve, and one of `roles` or `users` when given; the person who "
        "started the run may not approve unless allowSelfApproval; one person counts once."
    )
    idempotent = True  # its outcome is a function of the decisions recorded
    config_schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "approvals": {"type": "integer", "minimum": 1, "maximum": 20, "default": 1},
            "roles": _NAMES,
            "users": _NAMES,
            "allowSelfApproval": {"type": "boolean", "default": False},
            "message": {"type": "string", "maxLength": 5000},
        },
    }

    def run(self, ctx: StepContext, config: dict[str, Any]) -> StepResult:
        wanted = int(config.get("approvals", 1))
        rejected = _by(ctx.decisions, "reject")
        approved = _by(ctx.decisions, "approve")
        if rejected:
            return StepResult(
                status="failed",
                outputs={"rejectedBy": rejected[0]["by"]},
                message=f"rejected by {_said(rejected[0])}",
            )
        if len(approved) >= wanted:
            who = [d["by"] for d in approved]
            ctx.log(f"approved by {', '.join(who)}")
            return StepResult(
                status="succeeded",
                outputs={"approvedBy": who, "approvals": len(who)},
                message=f"approved by {', '.join(who)}",
            )
        return StepResult(
            status="waiting",
            message=f"waiting for approval: {len(approved)} of {wanted}",
            wait=StepWait(
                kind="approval",
                actions=["approve", "reject"],
                instructions=str(config.get("message", "")),
                roles=list(config.get("roles", [])),
                users=list(config.get("users", [])),
                allow_self=bool(config.get("allowSelfApproval", False)),
            ),
        )


class Manual(StepType):
    id = "manual"
    display_name = "Manual intervention"
    description = (
        "Shows instructions to the people with the permission workflows:approve (and the roles or "
        "users given); the run waits until one of them continues or aborts it."
    )
    idempotent = True
    config_schema = {
        "type": "object",
        "additionalProperties": False,
        "required": ["instructions"],
        "properties": {
            "instructions": {"type": "string", "minLength": 1, "maxLength": 20000},
            "roles": _NAMES,
            "users": _NAMES,
            "allowSelf": {"type": "boolean", "default": True},
        },
    }

    def run(self, ctx: StepContext, config: dict[str, Any]) -> StepResult:
        for decision in ctx.decisions:
            if decision.get("action") == "continue":
                return StepResult(
                    status="succeeded",
                    outputs={"continuedBy": decision["by"], "comment": str(decision.get("comment") or "")},
                    message=f"continued by {_said(decision)}",
                )
            if decision.get("action") == "abort":
                return StepResult(status="failed", message=f"aborted by {_said(decision)}")
        return StepResult(
            status="waiting",
            message="waiting for someone to continue or abort",
            wait=StepWait(
                kind="manual",
                actions=["continue", "abort"],
                instructions=str(config["instructions"]),
                roles=list(config.get("roles", [])),
                users=list(config.get("users", [])),
                allow_self=bool(config.get("allowSelf", True)),
            ),
        )


class Notify(StepType):
    id = "notify"
    display_name = "Notify"
    description = "Send a message through one of the tenant's notification integrations (webhook, email...)."
    idempotent = False  # run twice, the message arrives twice
    config_schema = {
        "type": "object",
        "additionalProperties": False,
        "required": ["integration", "subject"],
        "properties": {
            "integration": {"type": "string", "minLength": 1, "maxLength": 100},
            "subject": {"type": "string", "minLength": 1, "maxLength": 1000},
            "body": {"type": "string", "maxLength": 20000},
            "severity": {"enum": ["info", "warning", "error", "critical"], "default": "info"},
            "data": {"type": "object", "maxProperties": 50},
        },
    }

    async def run(self, ctx: StepContext, config: dict[str, Any]) -> StepResult:
        try:
            await ctx.notify(
                config["integration"],
                config["subject"],
                config.get("body", ""),
                severity=config.get("severity", "info"),
                data=config.get("data") or {},
            )
        except KeyError as exc:
            return StepResult(status="failed", message=str(exc.args[0]) if exc.args else "no such integration")
        except PluginError as exc:
            return StepResult(status="failed", message=str(exc))
        ctx.log(f"sent {config['subject']!r} through {config['integration']!r}")
        return StepResult(
            status="succeeded", outputs={"integration": config["integration"]}, message="notification sent"
        )


class GateStep(StepType):
    id = "gate"
    display_name = "Gate"
    description = (
        "Evaluate a gate (freeze-window, policy, a plugin's...) for a release and an environment "
        "(default: the run's context). `until: pass` evaluates again every `recheckSeconds` until it "
        "passes (e.g. until a freeze window closes), within the step's timeout."
    )
    idempotent = True
    config_schema = {
        "type": "object",
        "additionalProperties": False,
        "required": ["gate"],
        "properties": {
            "gate": {"type": "string", "minLength": 1, "maxLength": 128},
            "config": {"type": "object"},
            "release": {"type": "string", "maxLength": 100},
            "environment": {"type": "string", "maxLength": 100},
            "until": {"enum": ["evaluated", "pass"], "default": "evaluated"},
            "recheckSeconds": {"type": "number", "minimum": 1, "maximum": 3600, "default": 30},
        },
    }

    async def run(self, ctx: StepContext, config: dict[str, Any]) -> StepResult:
        while True:
            try:
                result = await ctx.evaluate_gate(
                    config["gate"],
                    config.get("config") or {},
                    release=config.get("release"),
                    environment=config.get("environment"),
                )
            except KeyError as exc:
                return StepResult(status="failed", message=str(exc.args[0]) if exc.args else "not found")
            for line in result.get("log") or []:
                ctx.log(f"{config['gate']}: {line}")
            status = result.get("status")
            outputs = {"status": status, "message": result.get("message", ""), "details": result.get("details", {})}
            if status in ("pass", "warn"):
                return StepResult(status="succeeded", outputs=outputs, message=f"{config['gate']}: {status}")
            if config.get("until", "evaluated") != "pass":
                return StepResult(
                    status="failed", outputs=outputs, message=f"{config['gate']}: {status}: {result.get('message', '')}"
                )
            ctx.log(f"{config['gate']}: {status}: {result.get('message', '')}; evaluating again later")
            await _pause(ctx, float(config.get("recheckSeconds", 30)))


class HealthCheck(StepType):
    id = "health-check"
    display_name = "Health check"
    description = (
        "Run a target's health check now on its agent. Succeeds when the target's health is one of "
        "`expect` (default healthy); with `withinSeconds`, checks again every `intervalSeconds` until it is."
    )
    idempotent = True
    runs_on = "agent"
    config_schema = {
        "type": "object",
        "additionalProperties": False,
        "required": ["target"],
        "properties": {
            "target": {"type": "string", "minLength": 1, "maxLength": 100},
            "expect": {
                "type": "array",
                "minItems": 1,
                "items": {"enum": ["healthy", "degraded", "unhealthy", "unreachable"]},
                "default": ["healthy"],
            },
            "withinSeconds": {"type": "number", "minimum": 0, "maximum": 86400, "default": 0},
            "intervalSeconds": {"type": "number", "minimum": 1, "maximum": 3600, "default": 5},
        },
    }

    async def run(self, ctx: StepContext, config: dict[str, Any]) -> StepResult:
        expect = list(config.get("expect") or ["healthy"])
        deadline = time.monotonic() + float(config.get("withinSeconds", 0))
        while True:
            try:
                result = await ctx.check_target(config["target"])
            except KeyError as exc:
                return StepResult(status="failed", message=str(exc.args[0]) if exc.args else "no such target")
            except PluginError as exc:
                return StepResult(status="failed", message=str(exc))
            if result.get("state") == "cancelled" or ctx.is_cancelled():
                raise StepCancelled("cancelled")
            status = result.get("status")
            health = result.get("health") or {}
            detail = health.get("message") or result.get("error") or ""
            ctx.log(f"{config['target']}: {status}" + (f" ({detail})" if detail else ""))
            outputs = {"targetId": result.get("targetId"), "status": status, "health": health}
            if status in expect:
                return StepResult(status="succeeded", outputs=outputs, message=f"{config['target']} is {status}")
            if time.monotonic() >= deadline:
                return StepResult(
                    status="failed",
                    outputs=outputs,
                    message=f"{config['target']} is {status}, expected {' or '.join(expect)}"
                    + (f": {detail}" if detail else ""),
                )
            await _pause(ctx, min(float(config.get("intervalSeconds", 5)), max(deadline - time.monotonic(), 0.1)))


class Script(StepType):
    id = "script"
    display_name = "Script"
    description = (
        "Run a command on an agent (by name, by labels, or the local agent): succeeds when it exits "
        "with one of `successExitCodes` (default 0). Its output is logged when it ends, with the "
        "`secretEnv` values masked; cancelling the run stops it."
    )
    idempotent = False  # a command may not be safe to run twice
    runs_on = "agent"
    config_schema = {
        "type": "object",
        "additionalProperties": False,
        "required": ["command"],
        "properties": {
            "command": {
                "oneOf": [
                    {"type": "string", "minLength": 1, "maxLength": 65536},
                    {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": 1000,
                        "items": {"type": "string", "maxLength": 65536},
                    },
                ]
            },
            "agent": {"type": "string", "minLength": 1, "maxLength": 100},
            "agentLabels": {
                "type": "object",
                "maxProperties": 20,
                "additionalProperties": {"type": "string", "maxLength": 255},
            },
            "env": {
                "type": "object",
                "maxProperties": 100,
                "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_]{0,127}$(?!\\n)"},
                "additionalProperties": {"type": "string", "maxLength": 32768},
            },
            "secretEnv": {
                "type": "object",
                "maxProperties": 50,
                "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_]{0,127}$(?!\\n)"},
                "additionalProperties": {"type": "string", "maxLength": 32768, "writeOnly": True},
            },
            "timeoutSeconds": {"type": "number", "exclusiveMinimum": 0, "maximum": 86400, "default": 600},
            "workingDirectory": {"type": "string", "minLength": 1, "maxLength": 4096},
            "successExitCodes": {
                "type": "array",
                "minItems": 1,
                "maxItems": 50,
                "items": {"type": "integer", "minimum": 0, "maximum": 255},
                "default": [0],
            },
        },
    }

    async def run(self, ctx: StepContext, config: dict[str, Any]) -> StepResult:
        secrets = [v for v in (config.get("secretEnv") or {}).values() if v]

        def masked(text: str) -> str:
            for value in sorted(secrets, key=len, reverse=True):
                text = text.replace(value, "***")
            return text

        try:
            result = await ctx.run_command(
                config["command"],
                agent=config.get("agent"),
                agent_labels=config.get("agentLabels"),
                env=dict(config.get("env") or {}),
                secret_env=dict(config.get("secretEnv") or {}),
                timeout_seconds=float(config.get("timeoutSeconds", 600)),
                working_directory=config.get("workingDirectory"),
            )
        except KeyError as exc:
            return StepResult(status="failed", message=str(exc.args[0]) if exc.args else "no such agent")
        except PluginError as exc:
            return StepResult(status="failed", message=masked(str(exc)))
        if result.get("state") == "cancelled" or ctx.is_cancelled():
            raise StepCancelled("cancelled: the command was stopped")
        output = masked(str(result.get("output") or ""))
        for line in output.splitlines():
            ctx.log(line)
        code = result.get("exitCode")
        outputs = {
            "exitCode": code,
            "output": output[-_OUTPUT_KEEP:],
            "truncated": bool(result.get("truncated")) or len(output) > _OUTPUT_KEEP,
            "timedOut": bool(result.get("timedOut")),
            "agentId": result.get("agentId"),
            "durationSeconds": result.get("durationSeconds"),
        }
        if outputs["timedOut"]:
            return StepResult(
                status="failed", outputs=outputs, message=f"timed out after {config.get('timeoutSeconds', 600):g}s"
            )
        if code is None:
            error = masked(str(result.get("error") or "the agent did not run the command"))
            return StepResult(status="failed", outputs=outputs, message=error)
        if code not in list(config.get("successExitCodes") or [0]):
            return StepResult(status="failed", outputs=outputs, message=f"exit code {code}")
        return StepResult(status="succeeded", outputs=outputs, message=f"exit code {code}")


class Deploy(StepType):
    id = "deploy"
    display_name = "Deploy"
    description = (
        "Deploy the run's release to its environment (the run's context: a promotion's deployment "
        "workflow has them): a deployment job whose rollout strategy plans batches of the "
        "environment's targets, each run by its agent. Fails unless the job succeeded."
    )
    idempotent = False  # a deployment interrupted mid-way is not repeated blindly
    runs_on = "agent"
    config_schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "strategy": {"type": "string", "minLength": 1, "maxLength": 128, "default": "all-at-once"},
            "strategyConfig": {"type": "object", "maxProperties": 50},
        },
    }

    async def run(self, ctx: StepContext, config: dict[str, Any]) -> StepResult:
        try:
            job = await ctx.deploy(config.get("strategy", "all-at-once"), config.get("strategyConfig") or {})
        except PluginError as exc:
            return StepResult(status="failed", message=str(exc))
        if ctx.is_cancelled() or job.get("state") == "cancelled":
            raise StepCancelled("the deployment was cancelled")
        outputs = {"jobId": job.get("jobId"), "state": job.get("state"), "tasks": job.get("tasks") or {}}
        status = "succeeded" if job.get("state") == "succeeded" else "failed"
        return StepResult(
            status=status, outputs=outputs, message=f"deployment {job.get('state')}: {job.get('message')}"
        )
