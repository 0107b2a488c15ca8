"""The hot paths' JSON codec reads and writes what the standard library does, and what orjson refuses too."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from srcnet_eb.shared import jsontext


def test_round_trip_matches_the_standard_library():
    doc = {"a": [1, 2.5, None, True], "b": {"c": "é ✓"}, "d": ""}
    assert json.loads(jsontext.dumps(doc)) == doc
    assert jsontext.loads(json.dumps(doc)) == doc
    assert isinstance(jsontext.dumps_text(doc), str)


def test_what_orjson_refuses_falls_back():
    huge = {"n": 2**70}  # JSON allows it; orjson stops at 64 bits
    assert jsontext.loads(jsontext.dumps(huge)) == huge
    assert jsontext.loads('{"x": NaN}')["x"] != jsontext.loads('{"x": NaN}')["x"]  # NaN, as json reads it


def test_instants_are_written_as_rfc3339():
    assert jsontext.loads(jsontext.dumps({"t": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)})) == {"t": "2026-01-02T03:04:05+00:00"}
