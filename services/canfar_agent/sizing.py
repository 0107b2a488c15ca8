"""Fit a request's cores/memory/GPUs to a Skaha site's resource options."""

from __future__ import annotations

from dataclasses import dataclass

from srcnet_eb.shared.capacity import Demand
from srcnet_eb.shared.model import Message, MinMax, SimpleComputeResource, error


@dataclass
class Sized:
    demand: Demand | None
    reasons: list[Message]


def _pick(what: str, asked: MinMax | None, options: tuple[int, ...], site: str, unit: str = "") -> tuple[int | None, Message | None]:
    low = asked.min if asked and asked.min is not None else None
    high = asked.max if asked and asked.max is not None else None
    usable = sorted(o for o in options if o > 0)
    if low is None:
        low = usable[0] if usable else 0
    fit = [o for o in usable if o >= low and (high is None or o <= high)]
    if fit:
        return fit[0], None
    if not usable:
        return None, error("{site}: {what} not offered", site=site, what=what)
    if low > usable[-1]:
        return None, error("{site}: {asked}{unit} {what} asked, {largest}{unit} is the largest option",
                           site=site, asked=low, what=what, largest=usable[-1], unit=unit)
    return None, error("{site}: no {what} option between {low} and {high}{unit} (options: {options})",
                       site=site, what=what, low=low, high=high, unit=unit, options=usable)


def size(compute: SimpleComputeResource, cores: tuple[int, ...], memory: tuple[int, ...], gpus: tuple[int, ...],
         site: str) -> Sized:
    reasons: list[Message] = []
    n_cores, why = _pick("cores", compute.cores, cores, site)
    reasons += [why] if why else []
    n_mem, why = _pick("memory", compute.memory, memory, site, " GiB")
    reasons += [why] if why else []
    n_gpus = 0
    wanted = compute.gpus()
    if wanted.min:
        n_gpus, why = _pick("GPUs", wanted, gpus, site)
        reasons += [why] if why else []
    if reasons:
        return Sized(None, reasons)
    return Sized(Demand(n_cores or 0, n_mem or 0, n_gpus or 0), [])
