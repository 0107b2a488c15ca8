"""`GET /accounting`: usage per user, site and platform over a period (operator role only)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from srcnet_eb.shared.model.values import parse_instant
from srcnet_eb.shared.store.accounting import Accounting

from .auth import Operator
from .body import response_media
from .openapi import answer
from .problems import ErrorResponse, Problem
from .respond import reply
from .state import Gateway, gateway

router = APIRouter(tags=["accounting"])
DEFAULT_PERIOD = timedelta(days=30)


def _instant(field: str, text: str | None, default: datetime) -> datetime:
    if text is None or not text.strip():
        return default
    try:
        return parse_instant(text.strip())
    except ValueError as exc:
        raise Problem.field(422, "The request is not valid", field, str(exc)) from exc


@router.get(
    "/accounting",
    summary="Usage per user, site and platform over a period (operator role)",
    description="Core-hours and GPU-hours (the session's cores/GPUs times the time it was AVAILABLE or RUNNING, "
                "clipped to the period), sessions alive in the period, and bytes of data staged for them. "
                "Callers without the operator role get 403: this is not a uuid, nothing can be probed.",
    responses={200: answer(Accounting, "Usage over the period"),
               401: answer(ErrorResponse, "No valid bearer token"),
               403: answer(ErrorResponse, "Not an operator"),
               406: answer(ErrorResponse, "No acceptable media type"),
               422: answer(ErrorResponse, "start or end is not an ISO 8601 instant, or start is not before end")},
    response_class=Response,
)
async def get_accounting(
    request: Request,
    gw: Annotated[Gateway, Depends(gateway)],
    _operator: Operator,
    start: Annotated[str | None, Query(description="ISO 8601 instant; default 30 days before end")] = None,
    end: Annotated[str | None, Query(description="ISO 8601 instant; default now")] = None,
) -> Response:
    response_media(request)
    until = _instant("end", end, datetime.now(UTC))
    since = _instant("start", start, until - DEFAULT_PERIOD)
    if since >= until:
        raise Problem.field(422, "The request is not valid", "start", "must be before end")
    return reply(request, await gw.store.accounts.usage(since, until), "accounting")
