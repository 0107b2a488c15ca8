"""What is at an S3 location: one object's size (HEAD), or a prefix's or bucket's objects (listed and
summed). Blocking boto3 calls: run them in a thread."""

from __future__ import annotations

from dataclasses import dataclass, field

from .resource import S3Location

MAX_OBJECTS = 100_000  # a prefix with more is not something a session stages


class Missing(Exception):
    """The data is not there (no such bucket, object or prefix; or no right to read it)."""


class Unreachable(Exception):
    """The endpoint did not answer, or answered with a server error."""


@dataclass
class Found:
    objects: list[tuple[str, int]] = field(default_factory=list)  # (key, bytes)

    @property
    def bytes(self) -> int:
        return sum(size for _, size in self.objects)


def find(client, location: S3Location) -> Found:
    """Raise Missing or Unreachable. An object key that is no object but a "directory" (objects under
    key/) is taken as that prefix."""
    try:
        if not location.prefix:
            try:
                head = client.head_object(Bucket=location.bucket, Key=location.key)
                return Found([(location.key, int(head["ContentLength"]))])
            except client.exceptions.ClientError as exc:
                if _status(exc) != 404:
                    raise
            found = _list(client, location.bucket, location.key + "/")
            if not found.objects:
                raise Missing(f"no such object {location.key!r} in bucket {location.bucket!r}")
            return found
        found = _list(client, location.bucket, location.key)
        if not found.objects:
            raise Missing(f"no objects under {location.key!r} in bucket {location.bucket!r}" if location.key
                          else f"bucket {location.bucket!r} is empty")
        return found
    except client.exceptions.ClientError as exc:
        status, code = _status(exc), exc.response.get("Error", {}).get("Code", "")
        if status == 404 or code == "NoSuchBucket":
            raise Missing(f"no such bucket {location.bucket!r}") from None
        if status == 403:
            raise Missing(f"access denied to bucket {location.bucket!r} ({code or 403})") from None
        raise Unreachable(f"{code or 'error'} (HTTP {status})") from None
    except (Missing, Unreachable):
        raise
    except Exception as exc:  # noqa: BLE001  (botocore's connection and timeout errors have no common base)
        raise Unreachable(f"{type(exc).__name__}: {exc}") from None


def size_at(client, bucket: str, key: str, prefix: bool) -> tuple[int, int]:
    """(objects, bytes) at a target: one key, or every key under a prefix; (0, 0) when nothing is there."""
    if not prefix:
        try:
            return 1, int(client.head_object(Bucket=bucket, Key=key)["ContentLength"])
        except client.exceptions.ClientError as exc:
            if _status(exc) == 404:
                return 0, 0
            raise
    found = _list(client, bucket, key)
    return len(found.objects), found.bytes


def _list(client, bucket: str, prefix: str) -> Found:
    found = Found()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        found.objects.extend((o["Key"], int(o["Size"])) for o in page.get("Contents", []) if not o["Key"].endswith("/"))
        if len(found.objects) > MAX_OBJECTS:
            raise Missing(f"more than {MAX_OBJECTS} objects under {prefix!r} in bucket {bucket!r}")
    return found


def _status(exc) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
