"""The ``shiplane`` command: serve, db upgrade, token create, audit verify."""

from __future__ import annotations

import argparse
import asyncio
import sys

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
            f"try: curl -H 'Authorization: Bearer {token[:16]}...' http://{settings.host}:{settings.port}/api/v1/environments\n",
            flush=True,
        )
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None, access_log=False)
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


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from shiplane.platform.audit import verify_chains
    from shiplane.platform.database import Database

    settings = _settings()

    async def run() -> int:
        db = Database(settings.effective_database_url)
        try:
            async with db.session(None, write=False) as session:
                report = await verify_chains(session, args.tenant)
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="shiplane", description="Shiplane release orchestration control plane")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the API server")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    serve.add_argument("--migrate", action="store_true", help="apply migrations before serving (production)")
    serve.set_defaults(func=cmd_serve)

    db = sub.add_parser("db", help="database maintenance").add_subparsers(dest="db_command", required=True)
    db_up = db.add_parser("upgrade", help="apply every pending migration")
    db_up.set_defaults(func=cmd_db_upgrade)

    token = sub.add_parser("token", help="development authority").add_subparsers(dest="token_command", required=True)
    create = token.add_parser("create", help="mint a token signed with the local HS256 key")
    create.add_argument("--user", required=True)
    create.add_argument("--tenant", required=True)
    create.add_argument(
        "--role", action="append", help="repeatable: viewer, developer, release-manager, approver, admin, agent"
    )
    create.add_argument("--permission", action="append", help="repeatable: resource:action")
    create.add_argument("--tier", choices=["standard", "premium"], default=None)
    create.add_argument("--lifetime", type=int, default=3600, help="seconds (default 3600)")
    create.set_defaults(func=cmd_token_create)

    audit = sub.add_parser("audit", help="audit trail").add_subparsers(dest="audit_command", required=True)
    verify = audit.add_parser(
        "verify", help="check every tenant's hash chain; exit 1 at the first broken link, 2 if it cannot be read"
    )
    verify.add_argument("--tenant", default=None)
    verify.set_defaults(func=cmd_audit_verify)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
