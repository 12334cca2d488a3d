"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from maintbot.deps import LifespanStateDep
from maintbot.readiness import check_readiness
from maintbot.schemas import Liveness, Readiness

router = APIRouter(prefix="/health", tags=["health"])


@router.get("/live", summary="Liveness")
async def live() -> Liveness:
    """The process is up (no I/O: a slow database must not get the process restarted)."""
    return Liveness()


@router.get(
    "/ready",
    summary="Readiness",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "A component is down."}},
)
async def ready(state: LifespanStateDep) -> JSONResponse:
    """Each component's state; 503 while any of them is down, so no traffic is sent here."""
    report = await check_readiness(
        settings=state["settings"], executor=state["executor"], state_engine=state["state_engine"]
    )
    return JSONResponse(report.model_dump(), status_code=200 if report.status == "ok" else 503)
