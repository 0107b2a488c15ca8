"""A CANFAR (Skaha) site agent."""
