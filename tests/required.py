"""A real back end a test needs but this machine lacks: skipped, with the reason; failed instead where CI said
the machine must have it (EB_REQUIRE_<THING>=1, set by .ci/run), so a broken install never passes as a skip."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def unavailable(require: str, what: str, reason: object) -> NoReturn:
    """`require`: the variable, e.g. EB_REQUIRE_SLURM; `what`: e.g. "a test Slurm"."""
    if os.environ.get(require) == "1":
        pytest.fail(f"{what} is required ({require}=1) but: {reason}", pytrace=False)
    pytest.skip(f"no {what.removeprefix('a ').removeprefix('an ')}: {reason}")
