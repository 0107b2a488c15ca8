"""What an offer costs — core-hours, GPU-hours, energy, carbon, money — and the client's limits on it.

One place for every platform: the agent runtime puts these estimates on each offer a platform makes
and drops the offers over a limit. The energy model is Green Algorithms' (Lannelongue et al. 2021,
cores and GPUs taken as fully used, as a reservation allows): kWh = hours x (cores x W/core + GPUs
x W/GPU + GiB x W/GiB) x PUE / 1000; carbon = kWh x the grid's gCO2e/kWh. Hours are the offered
session's (`schedule.available.duration`), as accounting counts them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from . import model as m
from .model import costs as c
from .settings import AgentSettings

Limit = c.SimpleMinMaxFloatCost | c.SimpleMinMaxFloatMetric


@dataclass(frozen=True)
class SiteFigures:
    watts_per_core: float
    watts_per_gpu: float
    watts_per_gb: float
    pue: float
    grid_intensity: float
    price_per_core_hour: float | None = None
    price_per_gpu_hour: float | None = None
    currency: str | None = None

    @classmethod
    def of(cls, s: AgentSettings) -> SiteFigures:
        return cls(s.watts_per_core, s.watts_per_gpu, s.watts_per_gb, s.pue, s.grid_intensity,
                   s.price_per_core_hour, s.price_per_gpu_hour, s.price_currency)

    @property
    def priced(self) -> bool:
        return self.currency is not None and (self.price_per_core_hour is not None or self.price_per_gpu_hour is not None)


def _components(request: m.ExecutionRequest) -> Iterator[tuple[str, m.Component]]:
    yield "executable", request.executable
    if request.compute is not None:
        yield "compute", request.compute
    for name in ("storage", "data", "volumes"):
        for i, item in enumerate(getattr(request, name)):
            yield f"{name}[{i}]", item


def limits(request: m.ExecutionRequest) -> list[tuple[str, Limit | c.UnknownItem]]:
    """(field, item) of every cost and metric the client set, on the request and on its components.
    We estimate the session as a whole, so a limit on a component is held against the whole: stricter,
    never exceeded."""
    found: list[tuple[str, Limit | c.UnknownItem]] = []
    for prefix, holder in [("", request), *((f"{f}.", comp) for f, comp in _components(request))]:
        for name in ("costs", "metrics"):
            found += [(f"{prefix}{name}[{i}]", item) for i, item in enumerate(getattr(holder, name, []))]
    return found


def unknown(request: m.ExecutionRequest) -> list[m.Message]:
    """Limits this broker cannot judge (an unknown kind or type): the planner answers NO naming each."""
    out = []
    for field, item in limits(request):
        if isinstance(item, c.UnknownItem):
            out.append(m.error("Unknown kind {kind} at {field}", kind=item.kind, field=field))
        elif isinstance(item, c.SimpleMinMaxFloatCost) and not c.known_cost(item.type):
            out.append(m.error("Unknown cost type {what} at {field}; known: {known}", what=item.type, field=field,
                               known=", ".join(sorted([*c.COST_TYPES, c.MONEY + "<ISO 4217 code>"]))))
        elif isinstance(item, c.SimpleMinMaxFloatMetric) and item.type not in c.METRIC_TYPES:
            out.append(m.error("Unknown metric type {what} at {field}; known: {known}", what=item.type, field=field,
                               known=", ".join(sorted(c.METRIC_TYPES))))
    return out


def _cost(type_: str, value: float, description: str) -> c.SimpleMinMaxFloatCost:
    value = round(value, 6)
    return c.SimpleMinMaxFloatCost(type=type_, min=value, max=value, description=description)


Usage = tuple[int, int, int, float]  # cores, GiB, GPUs, hours: all an estimate depends on


def usage(offer: m.ExecutionSession) -> Usage:
    """What the offer holds (its compute) and for how long: a request's offers mostly share it."""
    compute = offer.compute if isinstance(offer.compute, m.SimpleComputeResource) else m.SimpleComputeResource()
    cores = (compute.cores.min or 0) if compute.cores else 0
    memory = (compute.memory.min or 0) if compute.memory else 0
    gpus = compute.gpus().min or 0
    block = offer.schedule.available
    hours = m.parse_duration(block.duration).total_seconds() / 3600 if block and block.duration else 0.0
    return cores, memory, gpus, hours


def estimate(offer: m.ExecutionSession, f: SiteFigures) -> list[c.SimpleMinMaxFloatCost]:
    """The offer's costs, from what it holds (its compute) for as long as it runs."""
    return estimate_usage(usage(offer), f)


def estimate_usage(used: Usage, f: SiteFigures) -> list[c.SimpleMinMaxFloatCost]:
    cores, memory, gpus, hours = used
    watts = cores * f.watts_per_core + gpus * f.watts_per_gpu + memory * f.watts_per_gb
    kwh = hours * watts * f.pue / 1000
    out = [
        _cost(c.CORE_HOURS, cores * hours, f"{cores} cores x {hours:g} h"),
        _cost(c.GPU_HOURS, gpus * hours, f"{gpus} GPUs x {hours:g} h"),
        _cost(c.ENERGY, kwh, f"{hours:g} h x {watts:g} W x PUE {f.pue:g} (kWh)"),
        _cost(c.CARBON, kwh * f.grid_intensity, f"{kwh:.4g} kWh x {f.grid_intensity:g} gCO2e/kWh (gCO2e)"),
    ]
    if f.priced:
        price = cores * hours * (f.price_per_core_hour or 0) + gpus * hours * (f.price_per_gpu_hour or 0)
        out.append(_cost(c.money(f.currency), price, f"core-hours x {f.price_per_core_hour or 0:g} + GPU-hours x "
                                                     f"{f.price_per_gpu_hour or 0:g} ({f.currency})"))
    return out


def site_metrics(f: SiteFigures) -> list[c.SimpleMinMaxFloatMetric]:
    return [c.SimpleMinMaxFloatMetric(type=c.PUE, min=f.pue, max=f.pue, description="power usage effectiveness"),
            c.SimpleMinMaxFloatMetric(type=c.GRID_INTENSITY, min=f.grid_intensity, max=f.grid_intensity,
                                      description="gCO2e/kWh of the site's electricity")]


def metric_breaches(request: m.ExecutionRequest, f: SiteFigures, site: str) -> list[m.Message]:
    """The site's own figures against the client's metric limits: known before any booking."""
    have = {x.type: x.max for x in site_metrics(f)}
    out = []
    for field, item in limits(request):
        if not isinstance(item, c.SimpleMinMaxFloatMetric) or item.type not in have:
            continue
        value = have[item.type]
        for bound, limit, over in (("at most", item.max, lambda v, lim: v > lim), ("at least", item.min, lambda v, lim: v < lim)):
            if limit is not None and over(value, limit):
                out.append(m.error("{site}: {what} is {value}; the limit at {field} asks {bound} {limit}", site=site,
                                   what=item.type, value=f"{value:g}", field=field, bound=bound, limit=f"{limit:g}"))
    return out


def cost_breaches(request: m.ExecutionRequest, costs: list[c.SimpleMinMaxFloatCost], f: SiteFigures,
                  site: str) -> list[m.Message]:
    """An offer's estimates against the client's cost limits (a cost's `max`; its `min` limits nothing)."""
    have = {x.type: x.max for x in costs}
    out = []
    for field, item in limits(request):
        if not isinstance(item, c.SimpleMinMaxFloatCost) or item.max is None:
            continue
        currency = c.currency_of(item.type)
        if currency is not None and item.type not in have:
            if f.priced:  # a price in another currency: no rate to compare it with
                out.append(m.error("{site}: prices are in {currency}; the limit at {field} is in {asked}", site=site,
                                   currency=f.currency, field=field, asked=currency))
            continue  # a site that sets no price charges nothing
        value = have.get(item.type)
        if value is not None and value > item.max:
            out.append(m.error("{site}: the estimated {what} is {value}, over the limit {limit} at {field}", site=site,
                               what=item.type, value=f"{value:g}", limit=f"{item.max:g}", field=field))
    return out
