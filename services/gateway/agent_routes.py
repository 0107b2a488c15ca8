"""`GET /agents`: the live agents, as the planner knows them from heartbeats."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from srcnet_eb.shared import contracts as c

from .auth import Caller
from .openapi import answer
from .problems import ErrorResponse, Problem
from .respond import reply
from .state import Gateway, gateway

router = APIRouter(tags=["agents"])


@router.get(
    "/agents",
    summary="List live agents (site, platform, capabilities, last heartbeat)",
    responses={200: answer(c.AgentList, "Live agents"), 401: answer(ErrorResponse, "No valid bearer token"),
               503: answer(ErrorResponse, "No planner available")},
    response_class=Response,
)
async def get_agents(request: Request, gw: Annotated[Gateway, Depends(gateway)], _who: Caller) -> Response:
    try:
        answer_msg = await gw.broker.request(None, c.AGENTS, timeout=gw.settings.plan_ack_timeout)
        agents = c.AgentList.model_validate_json(answer_msg.body)
    except Exception as exc:
        raise Problem.field(503, "No planner available", "planner", f"no answer: {type(exc).__name__}") from exc
    return reply(request, agents, "agents")
