"""The planner: asks every live site for offers and saves the merged OfferSet."""
