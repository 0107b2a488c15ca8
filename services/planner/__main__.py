"""`python -m srcnet_eb.services.planner`: one planner (settings from EB_* variables)."""

from __future__ import annotations


from srcnet_eb.shared.service import serve
from srcnet_eb.shared.settings import PlannerSettings

from .service import Planner


def main() -> None:
    serve(Planner(PlannerSettings()), "eb-planner")


if __name__ == "__main__":
    main()
