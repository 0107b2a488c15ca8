"""`GET /healthz` and `GET /readyz`: what a load balancer, compose or Kubernetes asks of a gateway.

Liveness says only that the process serves HTTP (restarting it would not help otherwise); readiness
also needs NATS connected and the database answering, since without either no request can be taken.
Neither needs a token: they name no user's data.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from .state import Gateway, gateway

router = APIRouter(tags=["health"])

CHECK_TIMEOUT = 2.0  # seconds: a probe that waits longer than its caller's own timeout tells nothing


class Health(BaseModel):
    """The IETF health-check form, reduced: pass or fail, and each dependency's word."""

    status: Literal["pass", "fail"]
    checks: dict[str, str] = {}


def _described(description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": Health.model_json_schema()}}}


@router.get("/healthz", summary="Liveness: the gateway serves HTTP", responses={200: _described("Alive")},
            response_class=JSONResponse)
async def healthz() -> JSONResponse:
    return JSONResponse(Health(status="pass").model_dump())


@router.get("/readyz", summary="Readiness: NATS connected and the database answering",
            responses={200: _described("Ready"), 503: _described("Not ready: the failing check is named")},
            response_class=JSONResponse)
async def readyz(gw: Annotated[Gateway, Depends(gateway)]) -> JSONResponse:
    checks = {"nats": "pass" if gw.broker.connection.is_connected else "fail: not connected"}
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            await gw.store.ping()
        checks["database"] = "pass"
    except Exception as exc:  # any failure to reach it is the answer, never a 500
        checks["database"] = f"fail: {type(exc).__name__}"
    ready = all(word == "pass" for word in checks.values())
    return JSONResponse(Health(status="pass" if ready else "fail", checks=checks).model_dump(),
                        status_code=200 if ready else 503)
