"""Deployment configuration the operators ship: the NATS cluster, its accounts and the sites' leaf nodes."""
