"""Assembles a service's FastAPI application the same way for every service."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from starlette.concurrency import run_in_threadpool

from bunri.metrics.exposition import CONTENT_TYPE as METRICS_CONTENT_TYPE
from bunri.metrics.exposition import render_metrics
from bunri.settings import BunriSettings
from bunri.web.collector import opt_in_for_this_server, settle_after_startup
from bunri.web.errors import install_error_handlers
from bunri.web.headers import SecurityHeadersMiddleware
from bunri.web.health import health_router
from bunri.web.middleware import BodyLimit, BodySizeLimitMiddleware, RequestContextMiddleware
from bunri.web.resources import Resources


def create_service_app(
    *,
    settings: BunriSettings,
    title: str,
    description: str,
    docs_prefix: str,
    routers: Sequence[APIRouter],
    lifespan: Any,
    body_limit_for_path: Callable[[str], BodyLimit] | None = None,
) -> FastAPI:
    """`docs_prefix` puts the docs under the service's own path (e.g. /api/v1/auth/docs), where
    the gateway routes them."""
    app = FastAPI(
        title=title,
        description=description,
        version="1.0.0",
        lifespan=_settling_after(lifespan),
        openapi_url=f"{docs_prefix}/openapi.json",
        docs_url=f"{docs_prefix}/docs",
        redoc_url=None,
    )
    app.state.settings = settings
    install_error_handlers(app)
    for router in routers:
        app.include_router(router)
    app.include_router(health_router(_readiness_checks))
    # Not routed by the gateway (path routing sends only /api/... there): Prometheus scrapes
    # each service's own port.
    app.add_route("/metrics", _metrics, include_in_schema=False)
    app.add_middleware(
        BodySizeLimitMiddleware,
        limit_for_path=body_limit_for_path or (lambda _: BodyLimit(settings.max_body_bytes)),
    )
    app.add_middleware(RequestContextMiddleware)
    # Outermost: the 500 that RequestContextMiddleware answers for a bug carries them too.
    app.add_middleware(SecurityHeadersMiddleware, docs_path=f"{docs_prefix}/docs")
    return app


def _settling_after(lifespan: Any) -> Any:
    @asynccontextmanager
    async def settled(app: FastAPI) -> AsyncIterator[Any]:
        async with lifespan(app) as state:
            settle_after_startup()
            yield state

    return settled


def _readiness_checks(request: Request) -> Any:
    resources: Resources = request.app.state.resources
    return resources.readiness_checks()


async def _metrics(request: Request) -> Response:
    # Off the event loop: rendering every histogram takes a millisecond or two.
    body = await run_in_threadpool(render_metrics)
    return Response(body, media_type=METRICS_CONTENT_TYPE)


def attach_resources(app: FastAPI, resources: Resources) -> None:
    """What the shared dependencies (`SessionDep`, `CurrentUser`, ...) read from app.state."""
    app.state.resources = resources
    app.state.token_verifier = resources.verifier


def serve(
    app_factory: str,
    settings: BunriSettings,
    *,
    host: str,
    port: int,
    workers: int,
    **uvicorn_options: Any,
) -> None:
    """Run an app factory ("package.module:create_app") under uvicorn, logging as JSON."""
    import uvicorn

    from bunri.logging import configure_logging

    configure_logging(
        service=settings.service_name, level=settings.log_level, json=settings.log_json
    )
    opt_in_for_this_server()
    if workers > 1:
        # Each worker process observes; whichever answers a scrape reports them all.
        from bunri.metrics.multiprocess import prepare_multiprocess_dir

        prepare_multiprocess_dir(settings.state_dir / "metrics" / f"{settings.service_name}-{port}")
    uvicorn.run(
        app_factory,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        access_log=False,  # RequestContextMiddleware logs each request with its id
        log_config=None,  # keep the JSON logging configured above
        server_header=False,
        # A worker process starting on a busy node (imports, the first connections) can take
        # longer than uvicorn's 5 s before it answers its supervisor's first check; killed
        # for that, it would be restarted into the same wait forever.
        timeout_worker_healthcheck=30,
        ws_max_size=settings.ws_max_bytes,
        **uvicorn_options,
    )


def resources_lifespan(settings: BunriSettings) -> Any:
    """A lifespan that opens the shared resources (database, Redis, token verifier)."""
    from bunri.web.resources import open_resources

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_resources(settings) as resources:
            attach_resources(app, resources)
            yield

    return lifespan
