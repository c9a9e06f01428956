"""What a batch's run on its instance thread took, phase by phase.

Triton's statistics split a batch's compute in three (``compute_input``,
``compute_infer``, ``compute_output``); tensorgate times them on the instance thread,
gate held: stacking the requests' tensors into the batch, the runtime's call, and
cutting its outputs back into each request's part. The making of images (decode,
preprocess) is not compute: it is counted as queueing, whether it ran ahead of the
gate or inside it. On a GPU a batch is also stacked ahead of the gate
(``Batcher._make_first``): its stacking is then queueing too, and its
``compute_input`` is only the check that what was stacked is what runs.
"""

from __future__ import annotations

from typing import NamedTuple

from tensorgate.batching.deferred import Part

__all__ = ["Ran"]


class Ran(NamedTuple):
    """A batch's answer from its instance thread.

    Attributes:
        parts: each request's outputs (or its error), in order.
        making: seconds this call spent making inputs (decode, preprocess): not compute.
        input_s: seconds stacking the requests into the batch (``compute_input``).
        output_s: seconds cutting the outputs back per request (``compute_output``).
    """

    parts: list[Part]
    making: float = 0.0
    input_s: float = 0.0
    output_s: float = 0.0
