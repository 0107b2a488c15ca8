"""The test data a Rucio server for the tests starts with, made through the real client.

Test data made by `bootstrap()` (scope `testdata`, all replicas AVAILABLE):

    RSE          site attribute   files
    SITE-A-DISK  site-a           local-a.fits (1 MB), local-a2.fits (2 MB)
    SITE-B-DISK  site-b           b-only.fits (100 MB)
    FAR-DISK     far              far-1g.fits (1 GB), far-10g.fits (10 GB)

    distances: SITE-A<->SITE-B 1, SITE-A<->FAR 3, SITE-B<->FAR 3
    datasets:  partial = {local-a.fits, far-1g.fits}; all-local-a = {local-a.fits, local-a2.fits}
    container: coll = {partial, all-local-a}

No byte is stored anywhere: replicas are declared (size and checksums) and transfers go
through the mock transfertool, which reports every submitted transfer as done.
"""

from __future__ import annotations

import hashlib
import zlib
from typing import Any

ACCOUNT = "root"
SCOPE = "testdata"

MB = 1_000_000
GB = 1_000_000_000

#: RSE name -> value of its `site` attribute
RSES = {"SITE-A-DISK": "site-a", "SITE-B-DISK": "site-b", "FAR-DISK": "far"}
#: (source, destination, distance); each is added in both directions
DISTANCES = [("SITE-A-DISK", "SITE-B-DISK", 1), ("SITE-A-DISK", "FAR-DISK", 3), ("SITE-B-DISK", "FAR-DISK", 3)]
#: file name -> (declared bytes, RSE holding its only replica)
FILES = {
    "local-a.fits": (1 * MB, "SITE-A-DISK"),
    "local-a2.fits": (2 * MB, "SITE-A-DISK"),
    "b-only.fits": (100 * MB, "SITE-B-DISK"),
    "far-1g.fits": (1 * GB, "FAR-DISK"),
    "far-10g.fits": (10 * GB, "FAR-DISK"),
}
DATASETS = {"partial": ["local-a.fits", "far-1g.fits"], "all-local-a": ["local-a.fits", "local-a2.fits"]}
CONTAINERS = {"coll": ["partial", "all-local-a"]}


def checksums(name: str, size: int) -> dict[str, str]:
    """Deterministic made-up checksums: nothing is stored, Rucio only wants them declared."""
    seed = f"{name}:{size}".encode()
    return {"adler32": f"{zlib.adler32(seed) & 0xFFFFFFFF:08x}", "md5": hashlib.md5(seed).hexdigest()}


def mock_protocol(rse: str) -> dict[str, Any]:
    """A mock-scheme protocol the mock transfertool accepts for reads, writes and third-party copies."""
    return {
        "scheme": "mock",
        "hostname": f"{rse.lower()}.mock",
        "port": 0,
        "prefix": "/rucio/",
        "impl": "rucio.rse.protocols.mock.Default",
        "domains": {
            "lan": {"read": 1, "write": 1, "delete": 1},
            "wan": {"read": 1, "write": 1, "delete": 1, "third_party_copy_read": 1, "third_party_copy_write": 1},
        },
    }


def bootstrap(client) -> None:
    """Create the RSEs, distances, scope, files, datasets and container (see module docstring)."""
    for rse, site in RSES.items():
        client.add_rse(rse, deterministic=True)
        client.add_rse_attribute(rse, "site", site)
        client.add_protocol(rse, mock_protocol(rse))
        client.set_local_account_limit(ACCOUNT, rse, -1)  # -1: no quota for root
    for src, dst, distance in DISTANCES:
        client.add_distance(src, dst, {"distance": distance}, bidirectional=True)
    client.add_scope(ACCOUNT, SCOPE)
    by_rse: dict[str, list[dict[str, Any]]] = {}
    for name, (size, rse) in FILES.items():
        by_rse.setdefault(rse, []).append({"scope": SCOPE, "name": name, "bytes": size, **checksums(name, size)})
    for rse, files in by_rse.items():
        client.add_replicas(rse, files)
    for dataset, names in DATASETS.items():
        client.add_dataset(SCOPE, dataset)
        client.attach_dids(SCOPE, dataset, [{"scope": SCOPE, "name": n} for n in names])
    for container, datasets in CONTAINERS.items():
        client.add_container(SCOPE, container)
        client.attach_dids(SCOPE, container, [{"scope": SCOPE, "name": d} for d in datasets])
