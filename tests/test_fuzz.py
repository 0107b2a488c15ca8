"""The bounded fuzz stage of issue 11: schemathesis against our own OpenAPI, over a real gateway with a
real planner, nats-server and site. It fails on any 5xx, any answer that breaks our own schema (body,
Content-Type, headers) and any undocumented status. Fixed seed and example count: the same cases every
run (about a minute here). The CLI runs as a subprocess: its synchronous client would otherwise block the
event loop the gateway serves on."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from .broker import OPERATOR
from .test_bad_requests import GOOD

SEED, EXAMPLES = 1, 60
CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_headers_conformance", "response_schema_conformance")
# Every operation with a JSON body (YAML and XML bodies: tests/test_intake.py), and the reads.
OPERATIONS = {"POST /requests", "POST /offersets", "GET /offersets/{uuid}", "POST /direct",
              "GET /sessions/{uuid}", "POST /sessions/{uuid}", "GET /agents", "GET /accounting",
              "GET /offersets", "GET /sessions", "POST /offers/release",
              # The event streams answer its fixed `Accept: application/json` 406 (documented): it opens none,
              # so it never waits on a stream; tests/test_events.py reads them.
              "GET /offersets/{uuid}/events", "GET /sessions/{uuid}/events"}


@pytest.mark.timeout(300)
async def test_schemathesis_finds_no_5xx_and_no_schema_break(broker, site_config, tmp_path):
    await broker.add_site("site-a", site_config("site-a"), total_cores=16, total_memory_gb=64)
    await broker.wait_for_agents(1)
    spec = (await broker.http.get("/openapi.json")).json()
    listed = {f"{method.upper()} {path}" for path, item in spec["paths"].items() for method in item}
    assert OPERATIONS <= listed, OPERATIONS - listed
    st = Path(sys.executable).with_name("st")
    # The operator may read /accounting too, so no operation is fuzzed only into a 403.
    process = await asyncio.create_subprocess_exec(
        str(st), "run", f"{broker.base_url}/openapi.json", "--seed", str(SEED), "--max-examples", str(EXAMPLES),
        "--workers", "1", "--phases", "examples,fuzzing,stateful", "--checks", ",".join(CHECKS),
        "--header", f"Authorization: Bearer {OPERATOR}", "--header", "Accept: application/json",
        "--request-timeout", "20", "--no-color", "--report", "junit", "--report-dir", str(tmp_path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=tmp_path)
    out, _ = await process.communicate()
    text = out.decode(errors="replace")
    assert process.returncode == 0, text[-20_000:]
    assert f"Tested: {len(listed)}" in text, text[-5_000:]  # every operation reached, none skipped


def _documented(spec: dict, path: str, method: str, status: int):
    """A validator of the JSON answer `spec` documents for this operation and status."""
    from jsonschema import Draft202012Validator

    schema = spec["paths"][path][method]["responses"][str(status)]["content"]["application/json"]["schema"]
    return Draft202012Validator({**schema, "components": spec["components"]})


@pytest.mark.parametrize("dialect", ["2024", "2026-07", "2025-11"])
async def test_an_offerset_and_its_offers_match_the_documented_answer_in_every_dialect(broker, site_config, dialect):
    # Found by the fuzz stage: a 2024 answer (`type`, meta on top, `href`) broke the documented OfferSet.
    await broker.add_site("site-a", site_config("site-a"), total_cores=16, total_memory_gb=64)
    await broker.wait_for_agents(1)
    spec = (await broker.http.get("/openapi.json")).json()
    posted = await broker.http.post(f"/offersets?dialect={dialect}", json=GOOD, headers={"Accept": "application/json"})
    assert posted.status_code == 303, posted.text
    errors = [e.message for e in _documented(spec, "/offersets", "post", 303).iter_errors(posted.json())]
    assert not errors, errors
    got = await broker.http.get(posted.headers["Location"] + f"?dialect={dialect}",
                                headers={"Accept": "application/json", "Prefer": "wait=10"})
    assert got.status_code == 200 and got.json()["offers"], got.text
    errors = [e.message for e in _documented(spec, "/offersets/{uuid}", "get", 200).iter_errors(got.json())]
    assert not errors, errors


async def test_a_read_documents_no_body_statuses(broker):
    # GET /offersets/{uuid} reads no body: a 413 or 415 there was documented but could never be answered.
    spec = (await broker.http.get("/openapi.json")).json()
    for path, item in spec["paths"].items():
        if "get" in item:
            assert not {"408", "413", "415"} & set(item["get"]["responses"]), path
    bogus = await broker.http.get("/offersets/00000000-0000-0000-0000-000000000000?dialect=bogus")
    assert bogus.status_code == 400 and "400" in spec["paths"]["/offersets/{uuid}"]["get"]["responses"]
