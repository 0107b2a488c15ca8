"""`python -m srcnet_eb.services.ebroker`: the `ebroker` command."""
from .app import main

main()
