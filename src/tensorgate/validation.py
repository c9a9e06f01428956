"""Check request tensors against a model's signature: pure, with messages that say
which input, what was sent and what the model expects."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from tensorgate.errors import InvalidInputError
from tensorgate.protocol.datatypes import datatype_of
from tensorgate.types import Array, TensorSpec

__all__ = ["check_inputs", "check_outputs"]


def _shape_text(shape: Sequence[int]) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def check_inputs(
    model: str, specs: Sequence[TensorSpec], inputs: Mapping[str, Array], max_batch_size: int
) -> int:
    """Validate ``inputs`` and return their row count.

    Raises:
        InvalidInputError: a name is missing or unknown, or a datatype, shape or row count
            does not fit.
    """
    expected = {s.name for s in specs}
    missing = sorted(expected - set(inputs))
    if missing:
        raise InvalidInputError(
            f"model {model!r} needs input {missing[0]!r}, which the request lacks; "
            f"its inputs are {', '.join(sorted(expected))}"
        )
    unknown = sorted(set(inputs) - expected)
    if unknown:
        raise InvalidInputError(
            f"model {model!r} has no input {unknown[0]!r}; its inputs are "
            f"{', '.join(sorted(expected))}"
        )
    rows: int | None = None
    for spec in specs:
        array = inputs[spec.name]
        sent = datatype_of(array)
        if sent != spec.datatype:
            raise InvalidInputError(
                f"input {spec.name!r} of model {model!r} is {spec.datatype}, "
                f"but the request sent {sent}"
            )
        want = (-1, *spec.shape)
        if array.ndim != len(want) or any(
            w != -1 and w != got for w, got in zip(want, array.shape, strict=True)
        ):
            raise InvalidInputError(
                f"input {spec.name!r} of model {model!r} has shape {_shape_text(array.shape)}; "
                f"the model expects {_shape_text(want)} (-1: any size, first: batch)"
            )
        if rows is None:
            rows = array.shape[0]
        elif array.shape[0] != rows:
            raise InvalidInputError(
                f"inputs of model {model!r} disagree on the batch size: {spec.name!r} has "
                f"{array.shape[0]} rows, another has {rows}"
            )
    assert rows is not None  # specs is never empty for a loaded model
    if rows < 1:
        raise InvalidInputError(f"the request has 0 rows; send at least one to model {model!r}")
    if rows > max_batch_size:
        raise InvalidInputError(
            f"the request has {rows} rows but model {model!r} takes at most {max_batch_size} "
            "(max_batch_size); split it into smaller requests"
        )
    return rows


def check_outputs(model: str, specs: Sequence[TensorSpec], names: Sequence[str]) -> None:
    """Raise if the request asks for an output the model does not have."""
    known = {s.name for s in specs}
    for name in names:
        if name not in known:
            raise InvalidInputError(
                f"model {model!r} has no output {name!r}; "
                f"its outputs are {', '.join(sorted(known))}"
            )
