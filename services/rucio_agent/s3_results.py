"""A session's results into S3 (blocking: run on a thread): each file put under the destination's key
prefix in its bucket, with boto3 and the site's credentials. A put again (the delivery asked again after
a restart) writes the same bytes under the same key: nothing doubles. The bucket is not made: a bucket
that does not exist is the scientist's mistake to hear about, not one to paper over."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from srcnet_eb.shared.model.results import ResultLocation, S3Destination

from .outputs import OutFile
from .results_settings import ResultsSettings

# Error codes that say "this destination will not take it", not "not now".
REFUSALS = {"NoSuchBucket", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidBucketName",
            "AllAccessDisabled", "AccountProblem", "InvalidRequest", "MethodNotAllowed"}
SINGLE_PUT = 5 * 2**30  # S3's largest single put


class S3Refused(Exception):
    """The destination refused the results (its reason from the S3 service); asking again will not help."""


def client(endpoint: str, settings: ResultsSettings) -> Any:
    import boto3  # the s3 extra: only a data agent delivering to S3 needs it
    from botocore.config import Config

    access, secret, region = credentials(endpoint, settings)
    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=access, aws_secret_access_key=secret,
                        region_name=region, config=Config(connect_timeout=5, read_timeout=settings.results_timeout,
                                                          retries={"max_attempts": 2}, s3={"addressing_style": "path"}))


def default_endpoint(settings: ResultsSettings) -> str | None:
    """Where a destination naming no endpoint goes: EB_RESULTS_S3_ENDPOINT, else the site's own S3 (EB_S3_ENDPOINT)."""
    return settings.results_s3_endpoint or getattr(settings, "s3_endpoint", None)


def credentials(endpoint: str, settings: ResultsSettings) -> tuple[str | None, str | None, str]:
    """The keys results are put with: EB_RESULTS_S3_*; else, at the site's own S3 or an endpoint it copies from
    (the S3 data settings, EB_S3_*), that endpoint's."""
    if settings.results_s3_access_key:
        return settings.results_s3_access_key, _secret(settings.results_s3_secret_key), settings.results_s3_region
    here = endpoint.rstrip("/")
    if here in {u.rstrip("/") for u in [getattr(settings, "s3_endpoint", None) or "",
                                        *getattr(settings, "s3_aliases", [])] if u}:
        return settings.s3_access_key, _secret(settings.s3_secret_key), settings.s3_region
    for url, remote in getattr(settings, "s3_remotes", {}).items():
        if url.rstrip("/") == here:
            return remote.access_key, _secret(remote.secret_key), remote.region or settings.s3_region
    return None, None, settings.results_s3_region


def _secret(value: Any) -> str | None:
    return value.get_secret_value() if value is not None else None


def key(target: S3Destination, file: OutFile) -> str:
    prefix = target.object or ""
    return f"{prefix}{'' if not prefix or prefix.endswith('/') else '/'}{file.relative}"


def deliver(s3: Any, endpoint: str, files: list[OutFile], target: S3Destination, storage: str,
            done: Callable[[OutFile], None]) -> list[ResultLocation]:
    from botocore.exceptions import ClientError

    out = []
    for file in files:
        name = key(target, file)
        try:
            if file.bytes < SINGLE_PUT:
                with open(file.path, "rb") as body:
                    s3.put_object(Bucket=target.bucket, Key=name, Body=body, ContentLength=file.bytes)
            else:  # in parts (its errors come wrapped: the code is lost, and the failure taken as passing)
                s3.upload_file(str(file.path), target.bucket, name)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in REFUSALS:
                raise S3Refused(f"{code}: {exc.response.get('Error', {}).get('Message') or code} "
                                f"(bucket {target.bucket} at {endpoint})") from exc
            raise
        done(file)
        out.append(ResultLocation(storage=storage, location=f"s3://{target.bucket}/{name}", bytes=file.bytes,
                                  endpoint=endpoint))
    return out
