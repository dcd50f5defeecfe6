"""The FastAPI application: the pipeline, error handlers and every module's router."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse
from swagger_ui_bundle import swagger_ui_path

from shiplane import __version__
from shiplane.agents.api import router as agents_router
from shiplane.agents.stream import router as agent_stream_router
from shiplane.audit.api import reports as audit_reports_router
from shiplane.audit.api import router as audit_router
from shiplane.components.api import router as components_router
from shiplane.console import mount_console
from shiplane.deployments.api import rollbacks as rollbacks_router
from shiplane.deployments.api import router as deployment_jobs_router
from shiplane.deployments.stream import router as deployment_stream_router
from shiplane.environments.api import router as environments_router
from shiplane.evidence import api as evidence_api
from shiplane.integrations.api import router as integrations_router
from shiplane.integrations.api import types_router as integration_types_router
from shiplane.ops import router as ops_router
from shiplane.platform.http import RequestPipeline, install_error_handlers
from shiplane.platform.openapi import install_openapi
from shiplane.platform.settings import Settings, get_settings
from shiplane.plugins.api import router as plugins_router
from shiplane.progressive.api import releases as ab_releases_router
from shiplane.progressive.api import router as rollout_strategies_router
from shiplane.promotions.api import mine as my_router
from shiplane.promotions.api import policies as approval_policies_router
from shiplane.promotions.api import router as promotions_router
from shiplane.releases.api import router as releases_router
from shiplane.retention.api import router as retention_router
from shiplane.serviceaccounts import api as service_accounts_api
from shiplane.services import Services
from shiplane.targets.api import router as targets_router
from shiplane.variables.api import router as variable_sets_router
from shiplane.workflows.api import router as step_types_router
from shiplane.workflows.api import runs as workflow_runs_router
from shiplane.workflows.api import templates as workflow_templates_router
from shiplane.workflows.stream import router as workflow_stream_router


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    services = Services.build(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await services.start()
        yield
        await services.close()

    # The interactive docs are served from the package, not a CDN: they work offline.
    app = FastAPI(
        title="Shiplane",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.mount("/api/docs/assets", StaticFiles(directory=swagger_ui_path), name="docs-assets")

    @app.get("/api/docs", include_in_schema=False)
    async def api_docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/api/openapi.json",
            title="Shiplane API",
            swagger_js_url="/api/docs/assets/swagger-ui-bundle.js",
            swagger_css_url="/api/docs/assets/swagger-ui.css",
            swagger_favicon_url="/api/docs/assets/favicon-32x32.png",
        )

    app.state.shiplane = services
    install_error_handlers(app)
    app.add_middleware(RequestPipeline, fastapi_app=app)
    for router in (
        ops_router,
        environments_router,
        agents_router,
        agent_stream_router,
        targets_router,
        audit_router,
        plugins_router,
        integration_types_router,
        integrations_router,
        components_router,
        releases_router,
        step_types_router,
        workflow_templates_router,
        workflow_runs_router,
        workflow_stream_router,
        rollout_strategies_router,
        promotions_router,
        approval_policies_router,
        my_router,
        deployment_jobs_router,
        rollbacks_router,
        variable_sets_router,
        deployment_stream_router,
        evidence_api.packets,
        evidence_api.promotion_evidence,
        evidence_api.stickers,
        evidence_api.keys,
        ab_releases_router,
        audit_reports_router,
        retention_router,
        service_accounts_api.router,
        service_accounts_api.oauth,
    ):
        app.include_router(router)
    mount_console(app)
    install_openapi(app)
    return app
