"""`python -m bench.medians [-n 3] [bench.offersets options]`: run the offer-path benchmark n times, each
in a process of its own, and print every figure of its JSON line as the median of the runs, with the
runs' spread, then one JSON line of the medians (the issue's figures are quoted so: these machines are
noisy, and one run's p50 can be off by a third)."""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from typing import Any

from .stack import ROOT


def run_once(options: list[str]) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-m", "bench.offersets", *options], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    print(out, end="", flush=True)
    return json.loads(out.strip().splitlines()[-1])


def merged(runs: list[Any]) -> Any:
    """Numbers -> their median; dicts -> merged key by key (keys of any run); anything else -> the first."""
    first = runs[0]
    if isinstance(first, bool) or not isinstance(first, int | float | dict):
        return first
    if isinstance(first, dict):
        keys = dict.fromkeys(k for run in runs if isinstance(run, dict) for k in run)
        return {k: merged([run[k] for run in runs if isinstance(run, dict) and k in run]) for k in keys}
    numbers = [r for r in runs if isinstance(r, int | float) and not isinstance(r, bool)]
    return round(statistics.median(numbers), 3)


def spread(runs: list[dict[str, Any]], path: tuple[str, ...]) -> str:
    values = []
    for run in runs:
        value: Any = run
        for key in path:
            value = value.get(key, {}) if isinstance(value, dict) else {}
        if isinstance(value, int | float):
            values.append(value)
    return " / ".join(f"{v:g}" for v in values) or "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", "--runs", type=int, default=3)
    args, options = parser.parse_known_args()
    runs = [run_once(options) for _ in range(args.runs)]
    medians = merged(runs)
    print(f"\nmedians of {args.runs} runs (each run's figure after it)")
    print(f"floor {medians['floor_ms']} ms ({spread(runs, ('floor_ms',))})")
    for store, part in (("sqlite", medians), ("postgres", medians.get("postgres", {}))):
        for n in part.get("p50_ms", {}):
            cpu = part["cpu_ms"][n]
            broker = sum(v for k, v in cpu.items() if k != "load generator")
            prefix = () if store == "sqlite" else ("postgres",)
            print(f"{store:8} {n:>3} site(s)  p50 {part['p50_ms'][n]} ms ({spread(runs, (*prefix, 'p50_ms', n))})  "
                  f"{part['rate'][n]}/s ({spread(runs, (*prefix, 'rate', n))})  "
                  f"loaded p99 {part['loaded_p99_ms'][n]} ms  CPU {broker:.2f} ms "
                  f"({', '.join(f'{k} {v}' for k, v in cpu.items())})")
    print(json.dumps(medians))


if __name__ == "__main__":
    main()
