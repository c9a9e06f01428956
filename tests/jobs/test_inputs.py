"""Listing inputs: directories, globs, manifests and S3 prefixes, in a stable order."""

from __future__ import annotations

from pathlib import Path

import pytest

from tensorgate.errors import JobError
from tensorgate.jobs.inputs import describe_inputs, list_inputs
from tensorgate.sources import S3Policy
from tests.seaweed import S3Server


def test_a_directory_is_walked_sorted_and_only_images_kept(photos: Path) -> None:
    listed = list(list_inputs(str(photos)))
    names = [str(Path(p).relative_to(photos)) for p in listed]
    assert names == ["a.jpg", "b.jpg", "c/d.png", "e.jpg"]
    assert all(Path(p).is_absolute() for p in listed)


def test_a_glob_matches_files(photos: Path) -> None:
    assert [Path(p).name for p in list_inputs(str(photos / "*.jpg"))] == ["a.jpg", "b.jpg", "e.jpg"]
    assert [Path(p).name for p in list_inputs(str(photos / "**" / "*.png"))] == ["d.png"]


def test_a_manifest_keeps_repeats_and_skips_comments(photos: Path) -> None:
    manifest = photos / "list.txt"
    manifest.write_text("# photos\na.jpg\n\nc/d.png\na.jpg\ns3://bucket/key.jpg\nmissing.jpg\n")
    listed = list(list_inputs(str(manifest)))
    assert listed == [
        str(photos / "a.jpg"),
        str(photos / "c" / "d.png"),
        str(photos / "a.jpg"),
        "s3://bucket/key.jpg",
        str(photos / "missing.jpg"),  # listed; its row will carry the error
    ]
    assert describe_inputs(str(manifest)) == "manifest"


def test_an_s3_prefix_is_listed_from_a_real_server(s3_env: S3Server) -> None:
    listed = list(list_inputs("s3://photos/", S3Policy(endpoint_url=s3_env.endpoint)))
    assert listed == [
        "s3://photos/broken.jpg",
        "s3://photos/cats/cat.jpg",
        "s3://photos/coffee.png",
    ]
    only_cats = list(list_inputs("s3://photos/cats/", S3Policy(endpoint_url=s3_env.endpoint)))
    assert only_cats == ["s3://photos/cats/cat.jpg"]


def test_an_s3_listing_without_credentials_is_a_job_error(
    s3: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "wrong")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with pytest.raises(JobError, match="cannot list s3://photos/"):
        list(list_inputs("s3://photos/", S3Policy(endpoint_url=s3.endpoint)))


@pytest.mark.parametrize("spec", ["/no/such/folder", "relative/missing"])
def test_a_path_that_names_nothing_is_refused(spec: str) -> None:
    with pytest.raises(JobError, match="is not a directory, a manifest file, a glob"):
        list_inputs(spec)


def test_a_bucketless_uri_is_refused() -> None:
    with pytest.raises(JobError, match="names no bucket"):
        list(list_inputs("s3:///prefix"))
