"""S3 inputs against a real SeaweedFS server that enforces credentials."""

from __future__ import annotations

import pytest

from tensorgate.errors import (
    BlockedSourceError,
    SourceError,
    SourceNotFoundError,
    SourceTooLargeError,
)
from tensorgate.sources.s3 import S3Fetcher, S3Policy, parse_s3_uri
from tests.seaweed import S3Server


def policy(s3: S3Server, **overrides: object) -> S3Policy:
    options: dict[str, object] = {
        "allowed": ("photos/cats/", "photos/coffee"),
        "endpoint_url": s3.endpoint,
        "region": "us-east-1",
    }
    options.update(overrides)
    return S3Policy(**options)  # type: ignore[arg-type]


def test_reads_allowed_objects(s3_env: S3Server, cat_jpeg: bytes) -> None:
    fetcher = S3Fetcher(policy(s3_env))
    assert fetcher.fetch("photos", "cats/cat.jpg") == cat_jpeg


def test_refuses_what_is_not_allowed_before_asking(s3_env: S3Server) -> None:
    fetcher = S3Fetcher(policy(s3_env))
    with pytest.raises(
        BlockedSourceError, match=r"s3://private/secret.jpg is outside the allowed buckets"
    ):
        fetcher.fetch("private", "secret.jpg")
    with pytest.raises(BlockedSourceError, match=r"s3://photos/broken.jpg is outside"):
        fetcher.fetch("photos", "broken.jpg")
    with pytest.raises(BlockedSourceError, match="S3 inputs are disabled"):
        S3Fetcher(S3Policy()).fetch("photos", "cats/cat.jpg")


def test_missing_large_and_unauthorised(s3_env: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SourceNotFoundError, match=r"s3://photos/cats/dog.jpg does not exist"):
        S3Fetcher(policy(s3_env)).fetch("photos", "cats/dog.jpg")
    with pytest.raises(SourceTooLargeError, match="the limit is 100"):
        S3Fetcher(policy(s3_env, max_bytes=100)).fetch("photos", "cats/cat.jpg")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
    with pytest.raises(BlockedSourceError, match="the store denied access"):
        S3Fetcher(policy(s3_env)).fetch("photos", "cats/cat.jpg")


def test_parse_s3_uri() -> None:
    assert parse_s3_uri("s3://photos/cats/cat.jpg") == ("photos", "cats/cat.jpg")
    with pytest.raises(SourceError, match="needs a bucket and a key"):
        parse_s3_uri("s3://photos")
    with pytest.raises(SourceError, match="is not an s3://bucket/key URI"):
        parse_s3_uri("https://x/y")
    with pytest.raises(BlockedSourceError, match=r"has '\.\.' in its key"):
        parse_s3_uri("s3://photos/cats/../../etc")
