"""Costs and metrics (2026-07 schema, `kinds/costs`, `kinds/metrics`): `{kind, type, description, min, max}`.

On a request or a component they are limits the client sets (`max` of a cost; `min`/`max` of a
metric); on an offer they are the broker's estimates. What each `type` URI means is in `TYPES`
(README "Costs and energy"). No import of `.base`: base's Component carries these lists.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, Tag, model_validator

from . import kinds

_PREFIX = "uri:srcnet-eb"
CORE_HOURS = f"{_PREFIX}:cost:core-hours"
GPU_HOURS = f"{_PREFIX}:cost:gpu-hours"
ENERGY = f"{_PREFIX}:cost:energy-kwh"
CARBON = f"{_PREFIX}:cost:carbon-gco2e"
MONEY = f"{_PREFIX}:cost:money-"  # + ISO 4217 currency code, e.g. uri:srcnet-eb:cost:money-EUR
PUE = f"{_PREFIX}:metric:pue"
GRID_INTENSITY = f"{_PREFIX}:metric:grid-intensity-gco2e-per-kwh"

# The one table of the types this broker estimates and judges: type -> what it measures.
TYPES: dict[str, str] = {
    CORE_HOURS: "cores x hours of the session (what accounting charges)",
    GPU_HOURS: "GPUs x hours of the session",
    ENERGY: "energy in kWh: (cores x W/core + GPUs x W/GPU + GiB x W/GiB) x hours x PUE / 1000",
    CARBON: "carbon in gCO2e: energy (kWh) x the site's grid intensity (gCO2e/kWh)",
    MONEY + "XXX": "price in currency XXX (ISO 4217): core-hours x price/core-hour + GPU-hours x price/GPU-hour",
    PUE: "the site's power usage effectiveness (facility power / IT power, 1.0 or more)",
    GRID_INTENSITY: "the carbon intensity of the site's electricity, gCO2e/kWh",
}
COST_TYPES = frozenset({CORE_HOURS, GPU_HOURS, ENERGY, CARBON})
METRIC_TYPES = frozenset({PUE, GRID_INTENSITY})
_CURRENCY = re.compile(r"^[A-Z]{3}$")


def money(currency: str) -> str:
    return MONEY + currency


def currency_of(type_: str) -> str | None:
    """`uri:srcnet-eb:cost:money-EUR` -> `EUR`; None for any other type."""
    code = type_[len(MONEY):] if type_.startswith(MONEY) else ""
    return code if _CURRENCY.match(code) else None


def known_cost(type_: str) -> bool:
    return type_ in COST_TYPES or currency_of(type_) is not None


_COSTS = {kinds.SIMPLE_COST, kinds.CALYCOPIS_SIMPLE_COST}
_METRICS = {kinds.SIMPLE_METRIC, kinds.CALYCOPIS_SIMPLE_METRIC}


def _internal(spellings: set[str], internal: str):
    def fix(value: Any) -> Any:
        return internal if isinstance(value, str) and kinds.normalize(value) in spellings else value
    return BeforeValidator(fix)


class _Item(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str = Field(min_length=1, description="what is measured: a URI, see the README's table")
    description: str | None = None
    min: float | None = Field(None, allow_inf_nan=False)
    max: float | None = Field(None, allow_inf_nan=False)

    @model_validator(mode="after")
    def _ordered(self) -> _Item:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min:g}) is greater than max ({self.max:g})")
        return self


class SimpleMinMaxFloatCost(_Item):
    kind: Annotated[Literal[kinds.SIMPLE_COST], _internal(_COSTS, kinds.SIMPLE_COST)] = kinds.SIMPLE_COST


class SimpleMinMaxFloatMetric(_Item):
    kind: Annotated[Literal[kinds.SIMPLE_METRIC], _internal(_METRICS, kinds.SIMPLE_METRIC)] = kinds.SIMPLE_METRIC


class UnknownItem(BaseModel):
    """A cost or metric of a kind this broker does not know: kept, and the OfferSet says NO naming it."""

    model_config = ConfigDict(extra="allow")
    kind: str


def _by(spellings: set[str], tag: str) -> Discriminator:
    def pick(value: Any) -> str | None:
        found = value.get("kind") if isinstance(value, dict) else getattr(value, "kind", None)
        if not isinstance(found, str):
            return None
        return tag if kinds.normalize(found) in spellings else "unknown"

    return Discriminator(pick, custom_error_type="missing_kind", custom_error_message="a 'kind' is required")


Cost = Annotated[
    Annotated[SimpleMinMaxFloatCost, Tag(kinds.SIMPLE_COST)] | Annotated[UnknownItem, Tag("unknown")], _by(_COSTS, kinds.SIMPLE_COST)]
Metric = Annotated[
    Annotated[SimpleMinMaxFloatMetric, Tag(kinds.SIMPLE_METRIC)] | Annotated[UnknownItem, Tag("unknown")],
    _by(_METRICS, kinds.SIMPLE_METRIC)]
