"""The REST gateway: the IVOA ExecutionBroker endpoints."""
