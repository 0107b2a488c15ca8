"""The Execution Broker's common package: wire model, NATS contracts, settings, platform port."""
