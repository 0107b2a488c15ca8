"""What asking the catalogue can fail with, apart from the Rucio client library (an optional extra)."""


class CatalogUnavailable(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class DidNotFound(Exception):
    pass
