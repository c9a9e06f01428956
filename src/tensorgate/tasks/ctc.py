"""The ``ctc`` decoder: per-step character probabilities → the text of a line.

Greedy CTC: the best class at each step, repeats collapsed, blanks (class 0) dropped.
The dictionary comes from the recogniser's own ONNX metadata (key ``character``, one
character a line), with the blank first and a space last, as PP-OCR exports it.
"""

from __future__ import annotations

import numpy as np

from tensorgate.errors import InferenceError
from tensorgate.tasks.results import TextLine
from tensorgate.types import Array

__all__ = ["decode_ctc", "dictionary_from_metadata"]


def dictionary_from_metadata(text: str) -> tuple[str, ...]:
    """The class names of a PP-OCR recogniser: blank, the metadata's characters, space."""
    return ("", *text.splitlines(), " ")


def decode_ctc(probabilities: Array, characters: tuple[str, ...]) -> TextLine:
    """One line's ``(steps, classes)`` probabilities → its text and mean confidence.

    Raises:
        InferenceError: not 2-D, more classes than the dictionary has, or NaN values.
    """
    if probabilities.ndim != 2:
        raise InferenceError(
            f"a ctc output must be [steps, classes] per line, got {list(probabilities.shape)}"
        )
    if probabilities.shape[1] > len(characters):
        raise InferenceError(
            f"the recogniser answers {probabilities.shape[1]} classes but its dictionary has "
            f"{len(characters)}"
        )
    if not np.isfinite(probabilities).all():
        raise InferenceError("the recogniser's output has NaN or infinite values")
    best = probabilities.argmax(axis=1)
    confidence = probabilities.max(axis=1)
    keep = best != 0
    keep[1:] &= best[1:] != best[:-1]
    text = "".join(characters[i] for i in best[keep])
    score = float(confidence[keep].mean()) if keep.any() else 0.0
    return TextLine(text, score)
