"""Where images come from: ``s3://bucket/key`` (configured buckets) and ``https://`` URLs
(off by default, SSRF-guarded). Local files are for in-process callers only."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from tensorgate.errors import SourceError
from tensorgate.sources.http import UrlPolicy, fetch_url
from tensorgate.sources.s3 import S3Fetcher, S3Policy, parse_s3_uri

__all__ = ["S3Fetcher", "S3Policy", "SourcePolicy", "Sources", "UrlPolicy", "parse_s3_uri"]


@dataclass(frozen=True, slots=True)
class SourcePolicy:
    """What remote sources a server (or Predictor) may read."""

    urls: UrlPolicy = field(default_factory=UrlPolicy)
    s3: S3Policy = field(default_factory=S3Policy)


class Sources:
    """Fetches remote images under a policy; S3's blocking calls run in threads."""

    def __init__(self, policy: SourcePolicy) -> None:
        self.policy = policy
        self._s3 = S3Fetcher(policy.s3)

    async def fetch(self, uri: str) -> bytes:
        """The bytes behind ``s3://bucket/key`` or ``https://…``.

        Raises:
            SourceError (and its subclasses): see tensorgate.errors.
        """
        if uri.startswith("s3://"):
            bucket, key = parse_s3_uri(uri)
            self.policy.s3.check(bucket, key)  # refuse before taking a thread
            return await asyncio.to_thread(self._s3.fetch, bucket, key)
        if uri.startswith(("https://", "http://")):
            return await fetch_url(uri, self.policy.urls)
        raise SourceError(f"source {uri!r:.200} is neither s3://bucket/key nor an https:// URL")
