"""What a batch job scores: a directory, a glob, an ``s3://bucket/prefix`` or a manifest.

Each is listed once, in a stable order, into the job's frozen input list (``state.py``);
a resumed job reads that list, never the directory again, so an input's position (its
``index``) means the same thing on every run. Listing streams: a prefix of a hundred
million keys is never held in memory.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from tensorgate.errors import JobError
from tensorgate.sources import S3Fetcher, S3Policy

__all__ = ["IMAGE_SUFFIXES", "describe_inputs", "list_inputs"]

#: File name endings a directory or glob listing picks up (case-insensitive).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
_GLOB_CHARACTERS = frozenset("*?[")


def _is_image(name: str) -> bool:
    return name.lower().endswith(IMAGE_SUFFIXES)


def _walk(root: Path) -> Iterator[str]:
    """Image files under ``root``, depth first, names sorted at every level."""
    entries = sorted(os.scandir(root), key=lambda e: e.name)
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            yield from _walk(Path(entry.path))
        elif entry.is_file() and _is_image(entry.name):
            yield str(Path(entry.path).resolve())


def _manifest(path: Path) -> Iterator[str]:
    """One input a line: a path (relative to the manifest's folder) or an ``s3://`` URI;
    blank lines and ``#`` comments are skipped. Repeats are separate inputs."""
    base = path.parent
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            entry = line.strip()
            if not entry or entry.startswith("#"):
                continue
            if entry.startswith("s3://"):
                yield entry
            else:
                yield str((base / entry).resolve())


def _s3_listing(uri: str, policy: S3Policy) -> Iterator[str]:
    bucket, _, prefix = uri[5:].partition("/")
    if not bucket:
        raise JobError(f"input {uri!r} names no bucket; give s3://bucket/prefix")
    client = S3Fetcher(replace(policy, allowed=(f"{bucket}/{prefix}",))).client()
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for page in pages:  # S3 lists keys in UTF-8 binary order: stable
            for item in page.get("Contents", []):
                key = str(item["Key"])
                if _is_image(key):
                    yield f"s3://{bucket}/{key}"
    except (BotoCoreError, ClientError) as exc:
        raise JobError(f"cannot list {uri}: {exc}") from None


def describe_inputs(spec: str) -> str:
    """Which kind of input ``spec`` names: ``s3``, ``directory``, ``manifest`` or ``glob``."""
    if spec.startswith("s3://"):
        return "s3"
    path = Path(spec).expanduser()
    if path.is_dir():
        return "directory"
    if path.is_file():
        return "manifest"
    if _GLOB_CHARACTERS & set(spec):
        return "glob"
    raise JobError(
        f"input {spec!r} is not a directory, a manifest file, a glob or s3://bucket/prefix; "
        "check the path"
    )


def list_inputs(spec: str, s3: S3Policy | None = None) -> Iterator[str]:
    """Every input ``spec`` names, in a stable order: local paths absolute, S3 as URIs.

    Raises:
        JobError: ``spec`` names nothing we can list, or S3 cannot be listed.
    """
    kind = describe_inputs(spec)
    if kind == "s3":
        return _s3_listing(spec, s3 or S3Policy())
    path = Path(spec).expanduser()
    if kind == "directory":
        return _walk(path)
    if kind == "manifest":
        return _manifest(path)
    matches = sorted(glob.iglob(str(path), recursive=True))
    return (str(Path(m).resolve()) for m in matches if _is_image(m) and Path(m).is_file())
