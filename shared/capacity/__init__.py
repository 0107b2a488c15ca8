"""A site's capacity: what an offer takes (demand), one snapshot of the site's reservations and the
computation over it (snapshot), its stored form (value), the one copy its replicas share (ledger),
and booking offers in it, which the agent runtime does for every platform (booking)."""

from .demand import Demand
from .snapshot import CapacityLedger, Reservation

__all__ = ["CapacityLedger", "Demand", "Reservation"]
