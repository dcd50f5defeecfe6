"""The ``shiplane`` command: serve, db upgrade, token create, agent run, audit verify."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from shiplane.platform.settings import InsecureSettingsError, Settings

DEMO_TENANT = "demo"
DEMO_USER = "dev-admin"


def _settings() -> Settings:
    try:
        return Settings().prepare()
    except InsecureSettingsError as exc:
        print(f"shiplane: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from shiplane.app import create_app
    from shiplane.platform.jwt import mint_token
    from shiplane.platform.logging import configure_logging
    from shiplane.platform.migrate import upgrade

    settings = _settings()
    if args.host:
        settings.host = args.host
    if args.port:
        settings.port = args.port
    configure_logging(settings.log_level)
    if settings.is_development or args.migrate:
        # The embedded default keeps itself current; production runs `shiplane db upgrade`.
        upgrade(settings.effective_database_url)
    if settings.is_development:
        token = mint_token(
            settings, user_id=DEMO_USER, tenant_id=DEMO_TENANT, roles=["admin"], lifetime_seconds=30 * 24 * 3600
        )
        print(
            f"\nShiplane (development mode) on http://{settings.host}:{settings.port}\n"
            f"database: {settings.effective_database_url}\n"
            f"development admin token for tenant {DEMO_TENANT!r} (valid 30 days):\n\n{token}\n\n"
            f"in another shell:\n\n"
            f"export SHIPLANE_TOKEN={token}\n"
            f'curl -H "Authorization: Bearer $SHIPLANE_TOKEN" http://{settings.host}:{settings.port}/api/v1/environments\n\n'
            f"stop the server with Ctrl-C\n",
            flush=True,
        )
    app = create_app(settings)
    loopback = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host  # noqa: S104 - a comparison
    app.state.shiplane.local_agent_url = f"http://{loopback}:{settings.port}"
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None, access_log=False)
    return 0


def cmd_db_upgrade(_args: argparse.Namespace) -> int:
    from shiplane.platform.migrate import upgrade

    settings = _settings()
    upgrade(settings.effective_database_url)
    print("database is at the newest migration")
    return 0


def cmd_token_create(args: argparse.Namespace) -> int:
    from shiplane.platform.jwt import mint_token

    settings = _settings()
    token = mint_token(
        settings,
        user_id=args.user,
        tenant_id=args.tenant,
        roles=args.role or [],
        permissions=args.permission or [],
        tier=args.tier,
        lifetime_seconds=args.lifetime,
    )
    print(token)
    return 0


def _load_checkpoints(path: str, signer: Any) -> list[dict[str, Any]]:
    """Signed checkpoints from a file written by ``audit checkpoint``; refuses a bad signature."""
    from shiplane.platform.audit import checkpoint_payload

    checkpoints = []
    for number, line in enumerate(open(path, encoding="utf-8").read().splitlines(), start=1):
        if not line.strip():
            continue
        entry = json.loads(line)
        payload = checkpoint_payload(entry["tenantId"], entry["sequence"], entry["hash"], entry["at"])
        if entry.get("keyId") != signer.key_id or not signer.verify(payload, entry.get("signature", "")):
            raise ValueError(f"{path}:{number}: the checkpoint's signature does not verify with key {signer.key_id}")
        checkpoints.append(entry)
    return checkpoints


def cmd_audit_checkpoint(args: argparse.Namespace) -> int:
    from shiplane.platform.audit import chain_heads, checkpoint_payload
    from shiplane.platform.database import Database, utcnow
    from shiplane.platform.envelope import rfc3339
    from shiplane.platform.signing import Signer, SigningKeyUnavailable

    settings = _settings()
    try:
        signer = Signer.from_settings(settings)
    except SigningKeyUnavailable as exc:
        print(f"shiplane: {exc}", file=sys.stderr)
        return 2

    async def run() -> list[str]:
        db = Database(settings.effective_database_url)
        try:
            async with db.session(None, write=False, snapshot=True) as session:
                heads = await chain_heads(session, args.tenant)
        finally:
            await db.dispose()
        at = rfc3339(utcnow())
        lines = []
        for head in heads:
            payload = checkpoint_payload(head.tenant_id, head.sequence, head.hash, at)
            entry = {
                "tenantId": head.tenant_id,
                "sequence": head.sequence,
                "hash": head.hash,
                "at": at,
                "keyId": signer.key_id,
                "signature": signer.sign(payload),
            }
            lines.append(json.dumps(entry, sort_keys=True))
        return lines

    lines = asyncio.run(run())
    text = "".join(line + "\n" for line in lines)
    if args.output:
        with open(args.output, "a", encoding="utf-8") as out:
            out.write(text)
    else:
        sys.stdout.write(text)
    print(f"signed {len(lines)} checkpoint(s) with key {signer.key_id}", file=sys.stderr)
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from shiplane.platform.audit import check_checkpoint, verify_chains
    from shiplane.platform.database import Database
    from shiplane.platform.signing import Signer, SigningKeyUnavailable

    settings = _settings()
    checkpoints: list[dict[str, Any]] = []
    if args.checkpoint:
        try:
            checkpoints = _load_checkpoints(args.checkpoint, Signer.from_settings(settings))
        except (OSError, ValueError, KeyError, SigningKeyUnavailable) as exc:
            print(f"shiplane: cannot use the checkpoints: {exc}", file=sys.stderr)
            return 2
        if args.tenant is not None:
            checkpoints = [c for c in checkpoints if c["tenantId"] == args.tenant]

    async def run() -> int:
        db = Database(settings.effective_database_url)
        try:
            async with db.session(None, write=False, snapshot=True) as session:
                report = await verify_chains(session, args.tenant)
                for checkpoint in checkpoints:
                    problem = await check_checkpoint(
                        session, checkpoint["tenantId"], checkpoint["sequence"], checkpoint["hash"]
                    )
                    if problem and not report.broken:
                        print(f"BROKEN: tenant {checkpoint['tenantId']}: {problem} (checkpoint of {checkpoint['at']})")
                        return 1
        except (SQLAlchemyError, OSError) as exc:
            # Exit 2, not 1: "could not check" must not read as "the chain is broken".
            reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
            print(f"shiplane: cannot read the audit trail: {reason}", file=sys.stderr)
            return 2
        finally:
            await db.dispose()
        if report.broken:
            print(f"BROKEN: {report.broken.describe()}")
            print(f"checked {report.tenants} tenant(s), {report.events} event(s) up to the break")
            return 1
        if args.tenant is not None and report.tenants == 0:
            print(f"OK: tenant {args.tenant!r} has no audit events (check the tenant id)")
            return 0
        print(f"OK: {report.tenants} tenant chain(s), {report.events} event(s) verified")
        return 0

    return asyncio.run(run())


def _verification_keys(paths: list[str]) -> list[dict[str, Any]]:
    """Published keys from files (a saved ``GET /signing-keys`` answer, or PEM public keys);
    without any, this machine's own signing key (development)."""
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    from shiplane.platform.signing import Signer, key_id

    found: list[dict[str, Any]] = []
    for path in paths:
        text = Path(path).read_text()
        if text.lstrip().startswith("-----BEGIN"):
            public = load_pem_public_key(text.encode())
            found.append({"keyId": key_id(public), "publicKey": text})  # type: ignore[arg-type]
            continue
        value = json.loads(text)
        entries = value.get("data", value) if isinstance(value, dict) else value
        if not isinstance(entries, list):
            raise ValueError(f"{path}: not a list of keys (save the answer of GET /api/v1/signing-keys)")
        found.extend(entries)
    if not paths:
        settings = _settings()
        local = settings.signing_key_path or settings.data_dir / "dev-signing-key.pem"
        if not Path(local).exists():
            raise ValueError("no --keys given and no local signing key: pass the published keys with --keys")
        signer = Signer.from_settings(settings)
        found.append({"keyId": signer.key_id, "publicKey": signer.public_pem})
    return found


def cmd_evidence_verify(args: argparse.Namespace) -> int:
    """Exit 0: the packet verifies; 1: it does not (the reason printed); 2: cannot check."""
    from shiplane.evidence.dsse import EvidenceInvalid, public_keys, verify_envelope

    try:
        keys = public_keys(_verification_keys(args.keys or []))
        raw = Path(args.file).read_bytes()
    except (OSError, ValueError, TypeError, EvidenceInvalid) as exc:
        print(f"shiplane: cannot check the packet: {exc}", file=sys.stderr)
        return 2
    try:
        try:
            envelope = json.loads(raw)
        except ValueError:
            raise EvidenceInvalid("the file is not JSON (a DSSE envelope was expected)") from None
        verified = verify_envelope(envelope, keys)
    except EvidenceInvalid as exc:
        print(f"INVALID: {args.file}: {exc}")
        return 1
    statement = verified.statement
    predicate = statement.get("predicate") or {}
    [subject, *_] = statement.get("subject") or [{}]
    print(
        f"OK: {args.file}: {statement.get('predicateType')} ({predicate.get('outcome')}) for "
        f"{subject.get('name')} {subject.get('digest')}, signed by key {verified.key_id}"
    )
    return 0


def cmd_agent_run(args: argparse.Namespace) -> int:
    from shiplane.agents.runtime import AgentRuntime
    from shiplane.platform.logging import configure_logging

    configure_logging(args.log_level)
    labels = {}
    for label in args.label or []:
        key, sep, value = label.partition("=")
        if not sep:
            raise SystemExit(f"--label takes key=value, not {label!r}")
        labels[key] = value
    runtime = AgentRuntime(
        args.server,
        Path(args.state_dir),
        token=args.token or os.environ.get("SHIPLANE_AGENT_TOKEN"),
        name=args.name,
        labels=labels,
        scripts=not args.no_scripts,
    )

    async def run() -> None:
        # SIGTERM ends the agent like Ctrl-C does: its running tasks are cancelled, so a
        # script (in a process group of its own) is stopped rather than left behind.
        import signal

        main = asyncio.create_task(runtime.run())
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, main.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await main

    asyncio.run(run())
    return 0


def cmd_worker(_args: argparse.Namespace) -> int:
    """The workflow engine without the API: claims workflow steps from the shared database."""
    import asyncio
    import signal

    from shiplane.platform.logging import configure_logging
    from shiplane.services import Services

    settings = _settings()
    configure_logging(settings.log_level)

    async def run() -> None:
        services = Services.build(settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        from shiplane.evidence.service import register_key

        await register_key(services.db, services.signer)
        await services.plugin_states.start()
        await services.plugins.startup()
        await services.queue.listen()
        await services.workflows.start()
        print("shiplane worker: running workflow steps (stop with SIGTERM)", flush=True)
        try:
            await stop.wait()
        finally:
            await services.close()

    asyncio.run(run())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="shiplane", description="Shiplane release orchestration control plane")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the API server")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    serve.add_argument("--migrate", action="store_true", help="apply migrations before serving (production)")
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser("worker", help="run the workflow engine without the API (same database)")
    worker.set_defaults(func=cmd_worker)

    db = sub.add_parser("db", help="database maintenance").add_subparsers(dest="db_command", required=True)
    db_up = db.add_parser("upgrade", help="apply every pending migration")
    db_up.set_defaults(func=cmd_db_upgrade)

    token = sub.add_parser("token", help="development authority").add_subparsers(dest="token_command", required=True)
    create = token.add_parser("create", help="mint a token signed with the local HS256 key")
    create.add_argument("--user", required=True)
    create.add_argument("--tenant", required=True)
    create.add_argument(
        "--role",
        action="append",
        help="repeatable: viewer, developer, release-manager, approver, admin, agent-registrar",
    )
    create.add_argument("--permission", action="append", help="repeatable: resource:action")
    create.add_argument("--tier", choices=["standard", "premium"], default=None)
    create.add_argument("--lifetime", type=int, default=3600, help="seconds (default 3600)")
    create.set_defaults(func=cmd_token_create)

    agent = sub.add_parser("agent", help="the host agent").add_subparsers(dest="agent_command", required=True)
    agent_run = agent.add_parser("run", help="register once, heartbeat, and run the tasks the server hands out")
    agent_run.add_argument("--server", required=True, help="the server's base URL, e.g. https://shiplane.example")
    agent_run.add_argument("--token", default=None, help="a registration token, needed once (or SHIPLANE_AGENT_TOKEN)")
    agent_run.add_argument("--state-dir", default=".shiplane-agent", help="where the credential and task records live")
    agent_run.add_argument("--name", default=None, help="the agent's name (default: the host name)")
    agent_run.add_argument("--label", action="append", help="repeatable: key=value")
    agent_run.add_argument("--log-level", default="INFO")
    agent_run.add_argument(
        "--no-scripts", action="store_true", help="refuse script tasks (commands a workflow runs on this host)"
    )
    agent_run.set_defaults(func=cmd_agent_run)

    audit = sub.add_parser("audit", help="audit trail").add_subparsers(dest="audit_command", required=True)
    verify = audit.add_parser(
        "verify", help="check every tenant's hash chain; exit 1 at the first broken link, 2 if it cannot be read"
    )
    verify.add_argument("--tenant", default=None)
    verify.add_argument(
        "--checkpoint", default=None, help="a file of signed checkpoints: also prove nothing was truncated since"
    )
    verify.set_defaults(func=cmd_audit_verify)
    checkpoint = audit.add_parser(
        "checkpoint", help="sign each tenant's chain head (keep the output outside the database)"
    )
    checkpoint.add_argument("--tenant", default=None)
    checkpoint.add_argument("--output", default=None, help="append the checkpoints to this file (default: stdout)")
    checkpoint.set_defaults(func=cmd_audit_checkpoint)

    evidence = sub.add_parser("evidence", help="signed evidence packets").add_subparsers(
        dest="evidence_command", required=True
    )
    check = evidence.add_parser(
        "verify",
        help="check a downloaded evidence packet offline (exit 0 valid, 1 invalid, 2 cannot check)",
    )
    check.add_argument("file", help="the DSSE envelope (GET /api/v1/evidence-packets/{id}/download)")
    check.add_argument(
        "--keys",
        action="append",
        help="the published keys: a saved GET /api/v1/signing-keys answer or a PEM public key (repeatable);"
        " default: this machine's signing key",
    )
    check.set_defaults(func=cmd_evidence_verify)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
