"""The OfferSet and session answers in every dialect the broker writes them in (shared/model/outbound.py).

The component schemas describe the internal (2025-11) form. The 2026-07 form differs only in spellings the
shared schemas are widened for here; the 2024 form (`type` for `kind`, meta lifted to the top, `href`,
`state` beside `phase`) is a schema of its own, offered beside the internal one in each answer.
"""

from __future__ import annotations

from typing import Any

REF = "#/components/schemas/{model}"
OLDER = {"OfferSet": "OlderOfferSet", "ExecutionSession": "OlderExecutionSession"}
# Where 2026-07 spells the internal form differently (outbound._session, outbound._message_2026_07).
NEWEST_PHASES = ("INITIAL",)
_TEXT = {"type": "string"}
_TIME = {"type": "string", "format": "date-time"}
_LIFTED = {"uuid": _TEXT, "name": _TEXT, "description": _TEXT, "href": _TEXT, "created": _TIME, "modified": _TIME,
           "messages": {"type": "array", "items": {"$ref": REF.format(model="Message")}}}


def install(schemas: dict[str, Any], paths: dict[str, Any]) -> None:
    if not all(name in schemas for name in (*OLDER, "Message", "Meta", "Phase")):
        return
    _widen_for_newest(schemas)
    session = schemas["ExecutionSession"]["properties"]
    # A 2024 session: every field of the internal one (components inside in the 2024 form, so open).
    schemas["OlderExecutionSession"] = _older("ExecutionSession 2024 form", {
        **{name: {} for name in session if name not in ("kind", "meta")},
        "phase": {"$ref": REF.format(model="Phase")}, "state": {"$ref": REF.format(model="Phase")}})
    offerset = schemas["OfferSet"]["properties"]
    schemas["OlderOfferSet"] = _older("OfferSet 2024 form", {
        **{name: value for name, value in offerset.items() if name not in ("kind", "meta", "offers")},
        "offers": {"type": "array", "items": {"$ref": REF.format(model="OlderExecutionSession")}}})
    for item in paths.values():
        for operation in item.values():
            for response in operation.get("responses", {}).values() if isinstance(operation, dict) else ():
                for media in response.get("content", {}).values():
                    _either(media)


def _widen_for_newest(schemas: dict[str, Any]) -> None:
    """2026-07 messages say `kind` for `type`, options move into `meta`, PROPOSED is INITIAL."""
    schemas["Message"]["properties"]["kind"] = {"anyOf": [_TEXT, {"type": "null"}], "description": "2026-07: `type`"}
    options = schemas["ExecutionSession"]["properties"].get("options")
    if options is not None:
        schemas["Meta"]["properties"]["options"] = {**options, "description": "2026-07: a session's `options`"}
    phases = schemas["Phase"]["enum"]
    phases.extend(p for p in NEWEST_PHASES if p not in phases)


def _older(title: str, properties: dict[str, Any]) -> dict[str, Any]:
    return {"title": title, "type": "object", "required": ["type"], "additionalProperties": False,
            "properties": {"type": _TEXT, **_LIFTED, **properties}}


def _either(media: dict[str, Any]) -> None:
    for internal, older in OLDER.items():
        if media.get("schema") == {"$ref": REF.format(model=internal)}:
            media["schema"] = {"anyOf": [{"$ref": REF.format(model=internal)}, {"$ref": REF.format(model=older)}]}
