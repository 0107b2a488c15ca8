"""What the planners' queue can carry: a request's serialized size against NATS's `max_payload`.

Per request, the PlanRequest is serialized once (the bytes published) and refused at once, 413
naming why, when it would not fit; at start-up the largest request the intake limits let through is
checked to fit, so that (with the defaults) no request that passes validation is ever refused here.
"""

from __future__ import annotations

from pydantic import BaseModel

from .problems import Problem

# Headers (Nats-Msg-Id) and the JetStream publish framing count against max_payload too.
HEADROOM = 512
# The most bytes one input value can add once validated and serialized: a component given as
# `{kind: K}` (2 values) comes out with every field of its model as null or [] and a `meta` of seven,
# an accelerator `{}` (1 value) with its kind URI and count. Measured for every kind the model knows
# (tests/test_intake_limits.py: at most 135 today), with room for kinds to come.
PER_VALUE = 160
FIXED = 4096  # the PlanRequest's own fields, the owner's name, the executable's and compute's defaults


def serialize(plan: BaseModel) -> bytes:
    try:
        return plan.model_dump_json().encode()
    except (ValueError, RecursionError) as exc:  # within the intake limits this cannot happen: say so
        raise Problem.field(422, "The request cannot be queued", "body", f"not serializable: {exc}") from None


def check_fits(payload: bytes, max_payload: int) -> None:
    if len(payload) + HEADROOM > max_payload:
        raise Problem.field(413, "The request cannot be queued", "body",
                            f"it serializes to {len(payload)} bytes; the planners' queue (NATS max_payload "
                            f"{max_payload}, less {HEADROOM} for headers) takes fewer")


def worst_case(max_body_bytes: int, max_items: int) -> int:
    """An upper bound on the serialized PlanRequest of any body within the limits: text at most doubles
    (a quote or backslash unescaped in YAML or XML is escaped in JSON), and each value adds at most
    PER_VALUE (defaults filled in, `~` written `null`, quotes and separators)."""
    return 2 * max_body_bytes + PER_VALUE * max_items + FIXED + HEADROOM


def check_limits(settings, max_payload: int) -> None:
    """At start-up: refuse to serve with limits that would let through requests the queue cannot take."""
    bound = worst_case(settings.max_body_bytes, settings.max_body_items)
    if bound > max_payload:
        raise RuntimeError(
            f"the intake limits (EB_MAX_BODY_BYTES={settings.max_body_bytes}, EB_MAX_BODY_ITEMS="
            f"{settings.max_body_items}) let through requests of up to {bound} bytes once serialized, "
            f"more than the NATS server's max_payload ({max_payload}): lower them or raise max_payload")
