"""The official tritonclient (not our code) against a real server on loopback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from tensorgate.server.process import ServerProcess


@pytest.fixture
def client(server: ServerProcess) -> httpclient.InferenceServerClient:
    c = httpclient.InferenceServerClient(
        server.host_port, connection_timeout=30, network_timeout=60
    )
    yield c
    c.close()


def direct(repo: Path, model: str, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
    """The same model run directly with onnxruntime, for comparison."""
    session = ort.InferenceSession(
        str(repo / model / "1" / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    feed = {k: (v.astype(str).astype(object) if v.dtype == object else v) for k, v in feed.items()}
    outputs: list[np.ndarray] = session.run(None, feed)
    return outputs


def test_health_and_server_metadata(client: httpclient.InferenceServerClient) -> None:
    assert client.is_server_live()
    assert client.is_server_ready()
    meta = client.get_server_metadata()
    assert meta["name"] == "tensorgate"
    assert {"binary_tensor_data", "model_configuration", "statistics"} <= set(meta["extensions"])


def test_model_metadata_and_config(client: httpclient.InferenceServerClient) -> None:
    assert client.is_model_ready("efficientnet-lite0")
    assert client.is_model_ready("efficientnet-lite0", "1")
    assert not client.is_model_ready("no-such-model")
    meta = client.get_model_metadata("efficientnet-lite0")
    assert meta["versions"] == ["1"]
    assert meta["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 3, 224, 224]}]
    assert meta["outputs"] == [{"name": "logits", "datatype": "FP32", "shape": [-1, 1000]}]
    config = client.get_model_config("efficientnet-lite0")
    assert config["max_batch_size"] == 32
    assert config["input"][0]["data_type"] == "TYPE_FP32"
    assert config["input"][0]["dims"] == [3, 224, 224]
    assert config["instance_group"][0]["count"] == 2
    meta = client.get_model_metadata("identity_bytes", "1")
    assert meta["inputs"][0]["datatype"] == "BYTES"


def test_unknown_model_is_a_clear_404(client: httpclient.InferenceServerClient) -> None:
    with pytest.raises(InferenceServerException) as info:
        client.get_model_metadata("no-such-model")
    assert info.value.status() == "404"
    assert "model 'no-such-model' is not served here" in info.value.message()


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
@pytest.mark.parametrize("datatype", ["FP32", "INT64"])
def test_infer_add_sub_all_batch_sizes(
    client: httpclient.InferenceServerClient, test_repository: Path, binary: bool, datatype: str
) -> None:
    model = f"add_sub_{datatype.lower()}"
    rng = np.random.default_rng(7)
    for rows in range(1, 9):
        a: np.ndarray
        b: np.ndarray
        if datatype == "FP32":
            a = rng.standard_normal((rows, 16)).astype(np.float32)
            b = rng.standard_normal((rows, 16)).astype(np.float32)
        else:
            a = rng.integers(-(2**40), 2**40, (rows, 16), dtype=np.int64)
            b = rng.integers(-(2**40), 2**40, (rows, 16), dtype=np.int64)
        inputs = [
            httpclient.InferInput("INPUT0", list(a.shape), datatype),
            httpclient.InferInput("INPUT1", list(b.shape), datatype),
        ]
        inputs[0].set_data_from_numpy(a, binary_data=binary)
        inputs[1].set_data_from_numpy(b, binary_data=binary)
        outputs = [
            httpclient.InferRequestedOutput("OUTPUT0", binary_data=binary),
            httpclient.InferRequestedOutput("OUTPUT1", binary_data=binary),
        ]
        result = client.infer(model, inputs, outputs=outputs, request_id=f"r{rows}")
        want0, want1 = direct(test_repository, model, {"INPUT0": a, "INPUT1": b})
        np.testing.assert_array_equal(result.as_numpy("OUTPUT0"), want0)
        np.testing.assert_array_equal(result.as_numpy("OUTPUT1"), want1)
        assert result.get_response()["id"] == f"r{rows}"


@pytest.mark.parametrize("algorithm", ["gzip", "deflate"])
def test_infer_with_a_compressed_request(
    client: httpclient.InferenceServerClient, algorithm: str
) -> None:
    a = np.full((2, 16), 3.0, np.float32)
    inputs = [httpclient.InferInput(n, [2, 16], "FP32") for n in ("INPUT0", "INPUT1")]
    for i in inputs:
        i.set_data_from_numpy(a)
    result = client.infer("add_sub_fp32", inputs, request_compression_algorithm=algorithm)
    np.testing.assert_array_equal(result.as_numpy("OUTPUT0"), a * 2)


def test_infer_without_requested_outputs_returns_all_binary(
    client: httpclient.InferenceServerClient,
) -> None:
    a = np.ones((2, 16), np.float32)
    inputs = [httpclient.InferInput(n, [2, 16], "FP32") for n in ("INPUT0", "INPUT1")]
    for i in inputs:
        i.set_data_from_numpy(a)
    result = client.infer("add_sub_fp32", inputs)
    np.testing.assert_array_equal(result.as_numpy("OUTPUT0"), a * 2)
    np.testing.assert_array_equal(result.as_numpy("OUTPUT1"), a * 0)


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_infer_uint8_and_bytes(client: httpclient.InferenceServerClient, binary: bool) -> None:
    pixels = np.arange(3 * 8, dtype=np.uint8).reshape(3, 8)
    inp = httpclient.InferInput("INPUT0", [3, 8], "UINT8")
    inp.set_data_from_numpy(pixels, binary_data=binary)
    out = httpclient.InferRequestedOutput("OUTPUT0", binary_data=binary)
    result = client.infer("identity_uint8", [inp], outputs=[out])
    np.testing.assert_array_equal(result.as_numpy("OUTPUT0"), pixels)

    words = np.array([[b"cat", b"espresso"], ["gr\u00fc\u00dfe".encode(), b""]], dtype=object)
    inp = httpclient.InferInput("INPUT0", [2, 2], "BYTES")
    inp.set_data_from_numpy(words, binary_data=binary)
    out = httpclient.InferRequestedOutput("OUTPUT0", binary_data=binary)
    result = client.infer("identity_bytes", [inp], outputs=[out])
    got = result.as_numpy("OUTPUT0")
    assert [
        [bytes(v) if isinstance(v, bytes) else str(v).encode() for v in row] for row in got
    ] == [
        [b"cat", b"espresso"],
        ["gr\u00fc\u00dfe".encode(), b""],
    ]


def test_lite0_tensor_infer_equals_onnxruntime(
    client: httpclient.InferenceServerClient, test_repository: Path
) -> None:
    rng = np.random.default_rng(3)
    for rows in (1, 5, 32):
        batch = rng.standard_normal((rows, 3, 224, 224)).astype(np.float32)
        inp = httpclient.InferInput("input", list(batch.shape), "FP32")
        inp.set_data_from_numpy(batch)
        result = client.infer("efficientnet-lite0", [inp])
        (want,) = direct(test_repository, "efficientnet-lite0", {"input": batch})
        np.testing.assert_allclose(result.as_numpy("logits"), want, rtol=1e-4, atol=1e-4)


def test_statistics_count_requests(client: httpclient.InferenceServerClient) -> None:
    before = client.get_inference_statistics("add_sub_fp32")["model_stats"][0]
    a = np.zeros((3, 16), np.float32)
    inputs = [httpclient.InferInput(n, [3, 16], "FP32") for n in ("INPUT0", "INPUT1")]
    for i in inputs:
        i.set_data_from_numpy(a)
    client.infer("add_sub_fp32", inputs)
    after = client.get_inference_statistics("add_sub_fp32")["model_stats"][0]
    assert (
        after["inference_stats"]["success"]["count"]
        == before["inference_stats"]["success"]["count"] + 1
    )
    assert after["inference_count"] == before["inference_count"] + 3
    assert after["execution_count"] == before["execution_count"] + 1
    for phase in ("compute_infer", "compute_output"):  # the run; cutting its outputs back
        assert after["inference_stats"][phase]["ns"] > before["inference_stats"][phase]["ns"]
    everything = client.get_inference_statistics()["model_stats"]
    assert {s["name"] for s in everything} >= {"add_sub_fp32", "efficientnet-lite0", "fake"}


def test_repository_index(client: httpclient.InferenceServerClient) -> None:
    index = client.get_model_repository_index()
    states = {(m["name"], m["version"]): m["state"] for m in index}
    assert states[("efficientnet-lite0", "1")] == "READY"
    assert states[("fake", "1")] == "READY"


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        (
            {"INPUT0": np.zeros((1, 16), np.float32)},
            "model 'add_sub_fp32' needs input 'INPUT1', which the request lacks",
        ),
        (
            {"INPUT0": np.zeros((1, 16), np.int32), "INPUT1": np.zeros((1, 16), np.int32)},
            "input 'INPUT0' of model 'add_sub_fp32' is FP32, but the request sent INT32",
        ),
        (
            {"INPUT0": np.zeros((1, 15), np.float32), "INPUT1": np.zeros((1, 15), np.float32)},
            "input 'INPUT0' of model 'add_sub_fp32' has shape [1, 15]; the model expects [-1, 16]",
        ),
        (
            {"INPUT0": np.zeros((9, 16), np.float32), "INPUT1": np.zeros((9, 16), np.float32)},
            "the request has 9 rows but model 'add_sub_fp32' takes at most 8 (max_batch_size)",
        ),
    ],
    ids=["missing", "dtype", "shape", "too-many-rows"],
)
def test_bad_tensors_get_400_naming_the_problem(
    client: httpclient.InferenceServerClient, inputs: dict[str, np.ndarray], message: str
) -> None:
    request = []
    for name, array in inputs.items():
        datatype = "FP32" if array.dtype == np.float32 else "INT32"
        item = httpclient.InferInput(name, list(array.shape), datatype)
        item.set_data_from_numpy(array)
        request.append(item)
    with pytest.raises(InferenceServerException) as info:
        client.infer("add_sub_fp32", request)
    assert info.value.status() == "400"
    assert message in info.value.message()
    assert client.is_server_ready()
