"""``s3://bucket/key`` inputs from configured buckets (and prefixes) only.

boto3 (the ``s3`` extra) does the talking, with its usual credentials chain
(``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``, profiles, instance roles);
``endpoint_url`` points it at any S3-compatible store. Calls block, so callers run
them in a thread pool; the client is created once and shared (boto3 clients are
thread-safe).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from tensorgate.errors import (
    BlockedSourceError,
    ConfigError,
    SourceError,
    SourceNotFoundError,
    SourceTooLargeError,
)

__all__ = ["S3Fetcher", "S3Policy", "parse_s3_uri"]

MiB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class S3Policy:
    """Which objects may be read.

    Attributes:
        allowed: ``bucket`` or ``bucket/prefix`` entries; empty turns S3 inputs off.
        endpoint_url: an S3-compatible endpoint (None: AWS).
        region: the region name, if the store needs one.
        max_bytes: object size limit.
    """

    allowed: tuple[str, ...] = ()
    endpoint_url: str | None = None
    region: str | None = None
    max_bytes: int = 20 * MiB

    def check(self, bucket: str, key: str) -> None:
        """Raise BlockedSourceError unless ``bucket/key`` is under an allowed entry."""
        if not self.allowed:
            raise BlockedSourceError(
                "S3 inputs are disabled on this server; configure the buckets it may read"
            )
        for entry in self.allowed:
            allowed_bucket, _, prefix = entry.partition("/")
            if bucket == allowed_bucket and key.startswith(prefix):
                return
        raise BlockedSourceError(
            f"s3://{bucket}/{key} is outside the allowed buckets and prefixes "
            f"({', '.join(self.allowed)})"
        )


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` → (bucket, key), with the key non-empty and free of ``..``."""
    if not uri.startswith("s3://"):
        raise SourceError(f"{uri!r:.200} is not an s3://bucket/key URI")
    bucket, _, key = uri[5:].partition("/")
    if not bucket or not key:
        raise SourceError(f"{uri!r:.200} needs a bucket and a key: s3://bucket/key")
    if any(part == ".." for part in key.split("/")):
        raise BlockedSourceError(f"{uri!r:.200} has '..' in its key")
    return bucket, key


class S3Fetcher:
    """Reads allowed objects, refusing the rest before any request is sent."""

    def __init__(self, policy: S3Policy) -> None:
        self.policy = policy
        self._client: Any = None
        self._lock = threading.Lock()

    def client(self) -> Any:
        """The shared boto3 S3 client, created on first use."""
        with self._lock:
            if self._client is None:
                try:
                    import boto3
                    from botocore.config import Config
                except ImportError:
                    raise ConfigError(
                        "S3 inputs need boto3; install the s3 extra: pip install 'tensorgate[s3]'"
                    ) from None
                # A session of our own: boto3's default session caches credentials
                # for the life of the process.
                self._client = boto3.session.Session().client(
                    "s3",
                    endpoint_url=self.policy.endpoint_url,
                    region_name=self.policy.region,
                    config=Config(connect_timeout=3, read_timeout=10, retries={"max_attempts": 2}),
                )
            return self._client

    def fetch(self, bucket: str, key: str) -> bytes:
        """The object's bytes (blocking).

        Raises:
            BlockedSourceError: not under an allowed bucket/prefix, or access denied.
            SourceNotFoundError: no such object.
            SourceTooLargeError: larger than ``policy.max_bytes``.
            SourceError: the store could not be reached or answered an error.
        """
        self.policy.check(bucket, key)
        from botocore.exceptions import BotoCoreError, ClientError

        where = f"s3://{bucket}/{key}"
        try:
            answer = self.client().get_object(Bucket=bucket, Key=key)
            size = int(answer.get("ContentLength", 0))
            if size > self.policy.max_bytes:
                answer["Body"].close()
                raise SourceTooLargeError(
                    f"{where} is {size:,} bytes; the limit is {self.policy.max_bytes:,}"
                )
            body: bytes = answer["Body"].read(self.policy.max_bytes + 1)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("NoSuchKey", "NoSuchBucket", "404"):
                raise SourceNotFoundError(f"{where} does not exist") from None
            if code in ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
                raise BlockedSourceError(f"{where}: the store denied access ({code})") from None
            raise SourceError(f"{where} could not be read: {code or exc}") from None
        except BotoCoreError as exc:
            raise SourceError(f"{where} could not be read: {exc}") from None
        if len(body) > self.policy.max_bytes:
            raise SourceTooLargeError(f"{where} is over the {self.policy.max_bytes:,}-byte limit")
        if "ContentLength" in answer and len(body) < size:
            # A read with a size does not check the length (botocore checks only an
            # unsized read): a connection cut mid-body would pass for a whole object
            # and fail later as a corrupt image, not as the source error it is.
            raise SourceError(
                f"{where} could not be read: the connection ended after {len(body):,} of "
                f"{size:,} bytes"
            )
        return body
