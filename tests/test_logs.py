"""Log lines an operator can use: JSON (EB_LOG_FORMAT=json) or text, each naming the trace it was written
in, and one line per decision that matters: here, why a site said NO."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys

from srcnet_eb.shared.tracing.logs import handler

from .recorded_spans import hex_id, spans  # noqa: F401  (fixture)
from .test_traces import BOTH, HEADLESS, offers, request, traceparent


class Captured:
    """The root logger's lines in `form`, at INFO, while the test runs."""

    def __init__(self, form: str) -> None:
        self.buffer = io.StringIO()
        self.handler = handler(form, self.buffer)
        self.root = logging.getLogger()

    def __enter__(self) -> Captured:
        self.level = self.root.level
        self.root.addHandler(self.handler)
        self.root.setLevel(logging.INFO)
        return self

    def __exit__(self, *exc: object) -> None:
        self.root.removeHandler(self.handler)
        self.root.setLevel(self.level)

    def lines(self) -> list[str]:
        return [line for line in self.buffer.getvalue().splitlines() if line]


async def test_json_lines_parse_and_carry_the_requests_trace_id_and_the_no_reason(spans, two_sites):
    trace_id, _, header = traceparent()
    with Captured("json") as logs:  # casa: site-a offers it, site-b does not have the image
        _, body = await offers(two_sites, request(HEADLESS), {"traceparent": header})
    assert body["result"] == "YES" and {o["site"]["name"] for o in body["offers"]} == {"site-a"}
    records = [json.loads(line) for line in logs.lines()]  # every line is one JSON object
    assert records and all({"time", "level", "logger", "message"} <= set(r) for r in records)
    said_no = [r for r in records if r["message"].startswith("site site-b said NO")]
    assert len(said_no) == 1, [r["message"] for r in records]
    no = said_no[0]
    assert f"image {HEADLESS} is not offered" in no["message"] and no["level"] == "INFO"
    assert no["logger"] == "srcnet_eb.shared.agent.runtime"
    assert no["site"] == "site-b" and no["offerset"] == body["meta"]["uuid"]  # structured extras
    assert no["trace_id"] == hex_id(trace_id) and len(no["span_id"]) == 16  # the request's trace
    complete = [r for r in records if r["message"].startswith(f"OfferSet {body['meta']['uuid']} COMPLETE")]
    assert [r["trace_id"] for r in complete] == [hex_id(trace_id)]
    assert not [r for r in records if r["message"].startswith("site site-a said NO")]


async def test_text_lines_end_with_the_trace_id_inside_a_span(two_sites):
    trace_id, _, header = traceparent()  # no SDK here: the no-op tracer still carries the client's trace
    with Captured("text") as logs:
        await offers(two_sites, request(HEADLESS), {"traceparent": header})
    said_no = [line for line in logs.lines() if " site site-b said NO to " in line]
    assert len(said_no) == 1 and said_no[0].endswith(f" trace_id={hex_id(trace_id)}"), logs.lines()
    assert " srcnet_eb.shared.agent.runtime INFO " in said_no[0]


def test_every_process_start_reads_the_format_and_level_from_the_environment():
    code = ("import logging; from srcnet_eb.shared.tracing import configure_process; configure_process('eb-x'); "
            "logging.getLogger('eb.test').info('quiet'); logging.getLogger('eb.test').warning('said', "
            "extra={'site': 'site-a'})")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "EB_"))}
    done = subprocess.run([sys.executable, "-c", code], env=env | {"EB_LOG_FORMAT": "json", "EB_LOG_LEVEL": "warning"},
                          capture_output=True, text=True, timeout=60, check=True)
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    assert [(r["level"], r["logger"], r["message"], r["site"]) for r in lines] == [
        ("WARNING", "eb.test", "said", "site-a")]
    assert "trace_id" not in lines[0]  # written outside any span
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, check=True)
    assert done.stderr.splitlines()[-1].endswith(" eb.test WARNING said") and " eb.test INFO quiet" in done.stderr


async def test_a_site_silent_past_the_collect_timeout_is_one_warning_in_the_requests_trace(spans, two_sites):
    two_sites.planner.settings.collect_timeout = 1.0
    await two_sites.add_silent_site("site-c", live=3)
    trace_id, _, header = traceparent()
    with Captured("json") as logs:
        _, body = await offers(two_sites, request(BOTH), {"traceparent": header})
    records = [json.loads(line) for line in logs.lines()]
    warned = [r for r in records if r["message"].startswith("site site-c silent past the collect timeout")]
    assert len(warned) == 1 and warned[0]["level"] == "WARNING", [r["message"] for r in records]
    assert warned[0]["site"] == "site-c" and warned[0]["offerset"] == body["meta"]["uuid"]
    assert warned[0]["trace_id"] == hex_id(trace_id) and warned[0]["role"] == "platform"
    assert not [r for r in records if "silent" in r["message"] and r.get("site") in ("site-a", "site-b")]
