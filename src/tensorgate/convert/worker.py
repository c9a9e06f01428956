"""Export a Keras or MXNet model to ONNX inside the framework's own Python.

Run as a script, not imported: ``PYTHON worker.py '{"framework": ..., ...}'``. It needs
only the standard library, numpy and the framework with its exporter (tf2onnx; MXNet's
``mx.onnx``), so it runs in an environment whose pins differ from tensorgate's (MXNet
1.9 needs numpy < 1.24 and onnx ≤ 1.15). It writes the ONNX file and the source's
outputs on seeded random inputs to an ``.npz``; tensorgate checks the ONNX file against
those with its own onnxruntime. The last line on stdout is a JSON summary.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import numpy as np

BATCHES = (1, 3)


def _samples(shape: list[int], seed: int) -> list[Any]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((b, *shape)).astype(np.float32) for b in BATCHES]


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return list(value.values())
    return list(value) if isinstance(value, list | tuple) else [value]


def keras_export(args: dict[str, Any]) -> dict[str, Any]:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import tensorflow as tf
    import tf2onnx

    model = keras.models.load_model(args["source"], compile=False)
    declared = list(model.inputs[0].shape[1:])
    shape = args.get("input_shape") or declared
    if any(d is None for d in shape):
        raise SystemExit(f"the model's input shape is {declared}; give --input-shape")
    samples = _samples(shape, args["seed"])
    expected = [[np.asarray(o) for o in _as_list(model(x, training=False))] for x in samples]
    spec = (tf.TensorSpec((None, *shape), tf.float32, name=args["input_name"]),)
    tf2onnx.convert.from_keras(
        model, input_signature=spec, opset=args["opset"], output_path=args["target"]
    )
    versions = {
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "tf2onnx": tf2onnx.__version__,
    }
    return {
        "input_name": args["input_name"],
        "input_shape": list(shape),
        "samples": samples,
        "expected": expected,
        "versions": versions,
    }


def mxnet_export(args: dict[str, Any]) -> dict[str, Any]:
    import mxnet as mx

    symbol, params = args["source"], args["checkpoint"]
    if not params:
        raise SystemExit("an MXNet model needs its weights: --checkpoint PREFIX-0000.params")
    shape = args.get("input_shape")
    if not shape:
        raise SystemExit("an MXNet symbol carries no input shape; give --input-shape")
    sym = mx.sym.load(symbol)
    arg_params = set(mx.nd.load(params))
    names = [
        n
        for n in sym.list_inputs()
        if f"arg:{n}" not in arg_params and f"aux:{n}" not in arg_params and n not in arg_params
    ]
    if len(names) != 1:
        raise SystemExit(f"the symbol has {len(names)} data inputs ({names}); convert needs one")
    net = mx.gluon.SymbolBlock.imports(symbol, names, params)
    samples = _samples(shape, args["seed"])
    expected = [[o.asnumpy() for o in _as_list(net(mx.nd.array(x)))] for x in samples]
    mx.onnx.export_model(
        symbol,
        params,
        in_shapes=[(1, *shape)],
        in_types=[np.float32],
        onnx_file_path=args["target"],
        dynamic=True,
        dynamic_input_shapes=[(None, *shape)],
    )
    import onnx

    # MXNet lists its weights as graph inputs too; a served model must take only data.
    model = onnx.load(args["target"])
    weights = {i.name for i in model.graph.initializer}
    data = [i for i in model.graph.input if i.name not in weights]
    del model.graph.input[:]
    model.graph.input.extend(data)
    onnx.save(model, args["target"])
    return {
        "input_name": names[0],
        "input_shape": list(shape),
        "samples": samples,
        "expected": expected,
        "versions": {"mxnet": mx.__version__, "onnx": onnx.__version__},
    }


def main() -> None:
    args = json.loads(sys.argv[1])
    export = {"keras": keras_export, "mxnet": mxnet_export}[args["framework"]]
    result = export(args)
    arrays: dict[str, Any] = {}
    pairs = zip(result.pop("samples"), result.pop("expected"), strict=True)
    for i, (x, outputs) in enumerate(pairs):
        arrays[f"input_{i}"] = x
        for j, y in enumerate(outputs):
            arrays[f"output_{i}_{j}"] = y
    np.savez(args["reference"], **arrays)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
