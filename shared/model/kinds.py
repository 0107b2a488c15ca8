"""Kind URIs of the IVOA ExecutionBroker data model: the internal spelling and every wire spelling.

Internally every kind is spelled as in the 2025-11 form (`.../EB/schema/v1.0/types/<group>/<name>-1.0`);
`ALIASES` is the one table from each spelling clients use to the internal one, and `spell` writes a
kind in the spelling of a dialect on the way out.
"""

from __future__ import annotations

BASE = "https://www.purl.org/ivoa.net/EB/schema/v1.0/types"
# The 2024 `type` form and the schema files before 2025-11 use this prefix (no version segment).
LEGACY_BASE = "https://www.purl.org/ivoa.net/EB/schema/types"
# 2026-07: the schema moved to the Calycopis-openapi repository; a kind names its schema file.
CALYCOPIS_BASE = "https://www.purl.org/ivoa.net/Calycopis-openapi/schema/v1.0/kinds"


def kind(group: str, name: str) -> str:
    return f"{BASE}/{group}/{name}-1.0"


DOCKER_CONTAINER = kind("executable", "docker-container")
JUPYTER_NOTEBOOK = kind("executable", "jupyter-notebook")
SINGULARITY_CONTAINER = kind("executable", "singularity-container")

SIMPLE_COMPUTE = kind("compute", "simple-compute-resource")
SIMPLE_STORAGE = kind("storage", "simple-storage-resource")
SIMPLE_VOLUME = kind("volume", "simple-volume-mount")

SIMPLE_DATA = kind("data", "simple-data-resource")
S3_DATA = kind("data", "S3-data-resource")
RUCIO_DATA = kind("data", "rucio-data-resource")
IVOA_DATA = kind("data", "ivoa-data-resource")
SKAO_DATA = kind("data", "skao-data-resource")

# 2026-07: costs and metrics, a client's limits and the broker's estimates (shared/model/costs.py).
SIMPLE_COST = kind("costs", "simple-minmax-float-cost")
SIMPLE_METRIC = kind("metrics", "simple-minmax-float-metric")
# Their 2026-07 (Calycopis-openapi) spelling, accepted beside the internal one.
CALYCOPIS_SIMPLE_COST = "https://www.purl.org/ivoa.net/Calycopis-openapi/schema/v1.0/kinds/costs/simple-minmax-float-cost.yaml"
CALYCOPIS_SIMPLE_METRIC = "https://www.purl.org/ivoa.net/Calycopis-openapi/schema/v1.0/kinds/metrics/simple-minmax-float-metric.yaml"

# Extension (no reference implementation has it yet): accelerators on a compute resource.
GPU = kind("accelerator", "gpu")

OFFERSET = kind("offerset", "execution-offerset")
OFFERSET_REQUEST = kind("offerset", "execution-request")
SESSION = kind("session", "scheduled-execution-session")

ENUM_VALUE_OPTION = "uri:enum-value-option"
ENUM_VALUE_UPDATE = "uri:enum-value-update"

# The dialects' names (srcnet_eb.shared.model.dialect.Dialect has the same values; kept as strings here so
# this table depends on nothing).
NEWEST, KIND_META, OLDER = "2026-07", "2025-11", "2024"

# (group, name) of every kind the broker knows, as the 2025-11 form names it.
_KNOWN = [
    ("executable", "docker-container"), ("executable", "jupyter-notebook"), ("executable", "singularity-container"),
    ("compute", "simple-compute-resource"), ("storage", "simple-storage-resource"), ("volume", "simple-volume-mount"),
    ("data", "simple-data-resource"), ("data", "S3-data-resource"), ("data", "rucio-data-resource"),
    ("data", "ivoa-data-resource"), ("data", "skao-data-resource"), ("accelerator", "gpu"),
    ("costs", "simple-minmax-float-cost"), ("metrics", "simple-minmax-float-metric"),
    ("offerset", "execution-offerset"), ("offerset", "execution-request"), ("session", "scheduled-execution-session"),
]
# Where a dialect names a kind differently from the 2025-11 form: (dialect, internal) -> (group, name).
_RENAMED = {
    (OLDER, SESSION): ("session", "execution-session-response"),
    (OLDER, OFFERSET): ("offerset", "offerset-response"),
    (OLDER, OFFERSET_REQUEST): ("offerset", "offerset-request"),
}


def _spelled(dialect: str, group: str, name: str) -> str:
    if dialect == NEWEST:
        return f"{CALYCOPIS_BASE}/{group}/{name}.yaml"
    return f"{LEGACY_BASE if dialect == OLDER else BASE}/{group}/{name}-1.0"


# The one alias table: every spelling a client may send -> the internal kind.
ALIASES: dict[str, str] = {}
_SPELLING: dict[tuple[str, str], str] = {}
for _group, _name in _KNOWN:
    _internal = kind(_group, _name)
    for _dialect in (NEWEST, KIND_META, OLDER):
        _g, _n = _RENAMED.get((_dialect, _internal), (_group, _name))
        _SPELLING[(_dialect, _internal)] = _spelled(_dialect, _g, _n)
        ALIASES[_spelled(_dialect, _g, _n)] = _internal
        ALIASES[_spelled(_dialect, _group, _name)] = _internal
# The reference Java implementation writes the compute group as `computer` (sic); accept it in every form.
for _dialect in (NEWEST, KIND_META, OLDER):
    ALIASES[_spelled(_dialect, "computer", "simple-compute-resource")] = SIMPLE_COMPUTE
ALIASES["gpu"] = GPU  # the accelerators extension's short form


def normalize(value: str) -> str:
    """Any known spelling of a kind -> the internal one; any other string is kept as given."""
    return ALIASES.get(value, value)


def spell(value: str, dialect: str) -> str:
    """The internal kind as `dialect` writes it; a kind the table does not know is kept as given."""
    return _SPELLING.get((dialect, value), value)


def dialect_of(value: str) -> str | None:
    """Which dialect's namespace a kind URI is in (None: not one of ours, e.g. `uri:enum-value-option`)."""
    if value.startswith(CALYCOPIS_BASE + "/"):
        return NEWEST
    if value.startswith(LEGACY_BASE + "/"):
        return OLDER
    if value.startswith(BASE + "/"):
        return KIND_META
    return None


def short(value: str) -> str:
    """`.../executable/docker-container-1.0` -> `docker-container-1.0`, for messages."""
    return value.rstrip("/").rsplit("/", 1)[-1]
