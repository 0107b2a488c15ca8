"""The real Rucio server used by the integration tests, exercised with the real rucio-clients."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from .rucio_server import GB, MB, SCOPE, run_conveyor, start_rucio_server  # noqa: F401

# the first run provisions the server venv (pip install rucio: about a minute)
pytestmark = pytest.mark.timeout(900)


def _metrics(server, client, **params) -> list[dict]:
    """GET /requests/metrics: one JSON object per line (application/x-json-stream)."""
    answer = client.session.get(
        f"{server.url}/requests/metrics", params=params, headers={"X-Rucio-Auth-Token": client.auth_token}, timeout=30
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/x-json-stream")
    return [json.loads(line) for line in answer.text.splitlines() if line.strip()]


def test_ping_and_whoami(rucio):
    client = rucio.client()
    assert client.ping() == {"version": "41.5.1"}
    assert client.whoami()["account"] == "root"


def test_bare_client_in_subprocess_uses_env(rucio):
    code = "from rucio.client import Client; print(Client().whoami()['account'])"
    out = subprocess.run(
        [sys.executable, "-c", code], env=rucio.env(), capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "root"


def test_rses_and_site_attribute(rucio):
    client = rucio.client()
    assert {r["rse"] for r in client.list_rses()} == {"SITE-A-DISK", "SITE-B-DISK", "FAR-DISK"}
    assert [r["rse"] for r in client.list_rses("site=far")] == ["FAR-DISK"]
    assert client.list_rse_attributes("SITE-B-DISK")["site"] == "site-b"


def test_list_replicas_restricted_to_a_site(rucio):
    client = rucio.client()
    [replica] = client.list_replicas([{"scope": SCOPE, "name": "local-a.fits"}], rse_expression="site=site-a")
    assert replica["states"] == {"SITE-A-DISK": "AVAILABLE"}
    assert replica["bytes"] == 1 * MB
    assert replica["adler32"] and replica["md5"]
    # a file with no replica at that site lists no replica there
    [far] = client.list_replicas([{"scope": SCOPE, "name": "far-10g.fits"}], rse_expression="site=site-a")
    assert far["states"] == {} and far["bytes"] == 10 * GB


def test_dataset_replicas_deep(rucio):
    client = rucio.client()
    partial = {r["rse"]: r for r in client.list_dataset_replicas(SCOPE, "partial", deep=True)}
    assert set(partial) == {"SITE-A-DISK", "FAR-DISK"}
    for rse, available_bytes in (("SITE-A-DISK", 1 * MB), ("FAR-DISK", 1 * GB)):
        assert partial[rse]["length"] == 2
        assert partial[rse]["available_length"] == 1
        assert partial[rse]["bytes"] == 1 * MB + 1 * GB
        assert partial[rse]["available_bytes"] == available_bytes
        assert partial[rse]["state"] == "UNAVAILABLE"
    [complete] = client.list_dataset_replicas(SCOPE, "all-local-a", deep=True)
    assert (complete["rse"], complete["state"]) == ("SITE-A-DISK", "AVAILABLE")
    assert complete["available_length"] == complete["length"] == 2
    contents = {d["name"] for d in client.list_content(SCOPE, "coll")}
    assert contents == {"partial", "all-local-a"}
    assert {f["name"] for f in client.list_files(SCOPE, "coll")} == {"local-a.fits", "local-a2.fits", "far-1g.fits"}


def test_distances(rucio):
    client = rucio.client()
    [far_to_a] = client.get_distance("FAR-DISK", "SITE-A-DISK")
    assert (far_to_a["src_rse"], far_to_a["dest_rse"], far_to_a["distance"]) == ("FAR-DISK", "SITE-A-DISK", 3)
    assert client.get_distance("SITE-A-DISK", "SITE-B-DISK")[0]["distance"] == 1
    assert client.get_distance("SITE-B-DISK", "SITE-A-DISK")[0]["distance"] == 1
    assert client.get_distance("SITE-B-DISK", "FAR-DISK")[0]["distance"] == 3


def test_request_metrics_without_transfers_lists_links(rucio):
    client = rucio.client()
    links = {(m["src_rse"], m["dst_rse"]): m for m in _metrics(rucio, client)}
    assert len(links) == 6
    assert links["FAR-DISK", "SITE-A-DISK"] == {"src_rse": "FAR-DISK", "dst_rse": "SITE-A-DISK", "distance": 3}
    assert links["SITE-B-DISK", "SITE-A-DISK"]["distance"] == 1


def test_replication_rule_goes_ok_through_the_conveyor(rucio_fresh):
    from rucio.common.exception import DuplicateRule

    server, client = rucio_fresh, rucio_fresh.client()
    did = {"scope": SCOPE, "name": "far-1g.fits"}
    [rule_id] = client.add_replication_rule([did], 1, "SITE-A-DISK")
    rule = client.get_replication_rule(rule_id)
    assert (rule["state"], rule["locks_ok_cnt"], rule["locks_replicating_cnt"]) == ("REPLICATING", 0, 1)

    # preparer only: the request is QUEUED from its nearest source, and counted as such
    run_conveyor(server, steps=["preparer"])
    queued = {(m["src_rse"], m["dst_rse"]): m for m in _metrics(server, client)}["FAR-DISK", "SITE-A-DISK"]
    assert queued["files"] == {"queued": {"User Subscriptions": 1}, "queued-total": 1}
    assert queued["bytes"] == {"queued": {"User Subscriptions": 1 * GB}, "queued-total": 1 * GB}

    for _ in range(3):
        server.run_conveyor()
        rule = client.get_replication_rule(rule_id)
        if rule["state"] == "OK":
            break
    assert (rule["state"], rule["locks_ok_cnt"], rule["locks_replicating_cnt"]) == ("OK", 1, 0)
    [replica] = client.list_replicas([did])
    assert replica["states"] == {"FAR-DISK": "AVAILABLE", "SITE-A-DISK": "AVAILABLE"}

    done = {(m["src_rse"], m["dst_rse"]): m for m in _metrics(server, client)}["FAR-DISK", "SITE-A-DISK"]
    assert done["files"]["done-total-1h"] == 1
    assert done["bytes"]["done-total-1h"] == 1 * GB
    assert done["files"]["done"] == {"User Subscriptions": {"1h": 1, "6h": 1}}

    with pytest.raises(DuplicateRule):
        client.add_replication_rule([did], 1, "SITE-A-DISK")


def test_stop_kills_the_server(tmp_path):
    from .rucio_server import RucioUnavailable, alive

    try:
        server = start_rucio_server(tmp_path / "rucio", data=False)
    except RucioUnavailable as exc:
        if os.environ.get("EB_REQUIRE_RUCIO") == "1":
            raise
        pytest.skip(str(exc))
    try:
        assert server.client().ping()["version"] == "41.5.1"
    finally:
        server.stop()
    assert server.stopped
    assert not alive(server.pid)
    server.stop()  # a second stop is harmless
