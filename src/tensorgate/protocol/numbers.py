"""Decimal numbers in text from the wire or the file system (headers, paths, version
directories, environment variables)."""

from __future__ import annotations

__all__ = ["is_decimal"]


def is_decimal(text: str) -> bool:
    """True when ``text`` is ASCII digits only: what ``int`` parses as a plain number.

    ``str.isdigit`` alone also takes "¹" and other Unicode digits, which ``int``
    refuses: a path like ``/v2/models/¹/versions/¹/stats`` once answered 500 for it.
    """
    return text.isascii() and text.isdigit()
