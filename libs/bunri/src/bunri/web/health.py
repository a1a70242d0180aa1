"""Liveness (`/healthz`: the process answers) and readiness (`/readyz`: its dependencies answer)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from bunri.web.errors import error_body

ReadinessCheck = Callable[[], Awaitable[object]]
READINESS_TIMEOUT_SECONDS = 2.0


async def _run_check(check: ReadinessCheck) -> str:
    try:
        await asyncio.wait_for(check(), READINESS_TIMEOUT_SECONDS)
    except TimeoutError:
        return "timeout"
    except Exception as exc:  # any failure means "not ready"; its kind is what an operator needs
        return f"error: {type(exc).__name__}"
    return "ok"


async def run_readiness_checks(checks: Mapping[str, ReadinessCheck]) -> dict[str, str]:
    results = await asyncio.gather(*(_run_check(check) for check in checks.values()))
    return dict(zip(checks, results, strict=True))


def health_router(checks: Callable[[Request], Mapping[str, ReadinessCheck]]) -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz", summary="Liveness: the process is up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get(
        "/readyz",
        summary="Readiness: every dependency answers",
        responses={503: {"description": "A dependency does not answer"}},
    )
    async def readyz(request: Request) -> JSONResponse:
        results = await run_readiness_checks(checks(request))
        if all(result == "ok" for result in results.values()):
            return JSONResponse({"status": "ready", "checks": results})
        failing = ", ".join(name for name, result in results.items() if result != "ok")
        body = error_body("not_ready", f"Not ready: {failing} unavailable.", checks=results)
        return JSONResponse(body, status_code=503, headers={"Retry-After": "5"})

    return router
