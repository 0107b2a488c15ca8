"""Kind URIs of the IVOA ExecutionBroker data model, newest form, and the legacy spelling."""

from __future__ import annotations

BASE = "https://www.purl.org/ivoa.net/EB/schema/v1.0/types"
# The schema files and older clients use this prefix (no version segment).
LEGACY_BASE = "https://www.purl.org/ivoa.net/EB/schema/types"


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


def normalize(value: str) -> str:
    """Map the legacy prefix onto the newest one; any other string is kept as given."""
    if value.startswith(LEGACY_BASE + "/"):
        return BASE + value[len(LEGACY_BASE):]
    return value


def short(value: str) -> str:
    """`.../executable/docker-container-1.0` -> `docker-container-1.0`, for messages."""
    return value.rstrip("/").rsplit("/", 1)[-1]
