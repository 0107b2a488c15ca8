"""`python -m srcnet_eb.services.rucio_agent`: a site's Rucio data agent (settings from EB_* variables)."""


from srcnet_eb.shared.service import serve

from .service import RucioAgent
from .settings import RucioSettings


def main() -> None:
    settings = RucioSettings()
    serve(RucioAgent(settings), f"eb-data-{settings.site}")


if __name__ == "__main__":
    main()
