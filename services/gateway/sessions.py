"""`GET /sessions/{uuid}`."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from shared.model import ExecutionSession

from .openapi import answer
from .problems import ErrorResponse, Problem
from .respond import reply
from .state import Gateway, gateway

router = APIRouter(tags=["sessions"])


@router.get(
    "/sessions/{uuid}",
    summary="Read an ExecutionSession (an offer, or an accepted session)",
    responses={200: answer(ExecutionSession, "The session"), 404: answer(ErrorResponse, "No such session"),
               406: answer(ErrorResponse, "No acceptable media type"), 422: answer(ErrorResponse, "Not a UUID")},
    response_class=Response,
)
async def get_session(uuid: UUID, request: Request, gw: Annotated[Gateway, Depends(gateway)]) -> Response:
    session = await gw.store.session_document(uuid)
    if session is None:
        raise Problem.field(404, "No such session", "uuid", f"no session {uuid}")
    return reply(request, gw.session_with_url(request, session), "execution")
