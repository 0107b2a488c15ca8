"""How much of a site something takes: cores, memory (GiB) and GPUs."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Demand:
    cores: int = 0
    memory_gb: int = 0
    gpus: int = 0

    def __add__(self, other: Demand) -> Demand:
        return Demand(self.cores + other.cores, self.memory_gb + other.memory_gb, self.gpus + other.gpus)

    def __sub__(self, other: Demand) -> Demand:
        return Demand(self.cores - other.cores, self.memory_gb - other.memory_gb, self.gpus - other.gpus)

    def within(self, other: Demand) -> bool:
        return self.cores <= other.cores and self.memory_gb <= other.memory_gb and self.gpus <= other.gpus
