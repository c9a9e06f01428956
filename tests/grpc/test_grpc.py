"""The official tritonclient.grpc (not our code) against a real server on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.grpc import service_pb2, service_pb2_grpc
from tritonclient.utils import InferenceServerException

from tensorgate.server.process import ServerProcess
from tests.server.test_tritonclient import direct


@pytest.fixture
def client(server: ServerProcess) -> Iterator[grpcclient.InferenceServerClient]:
    assert server.grpc is not None
    c = grpcclient.InferenceServerClient(server.grpc)
    yield c
    c.close()


@pytest.fixture
def http(server: ServerProcess) -> Iterator[httpclient.InferenceServerClient]:
    c = httpclient.InferenceServerClient(server.host_port, network_timeout=60)
    yield c
    c.close()


@pytest.fixture
def stub(server: ServerProcess) -> Iterator[service_pb2_grpc.GRPCInferenceServiceStub]:
    assert server.grpc is not None
    with grpc.insecure_channel(server.grpc) as channel:
        yield service_pb2_grpc.GRPCInferenceServiceStub(channel)


def datatype(array: np.ndarray) -> str:
    if array.dtype == object:
        return "BYTES"
    name = str(array.dtype).upper()
    return {"FLOAT32": "FP32"}.get(name, name)


def grpc_infer(
    client: grpcclient.InferenceServerClient, model: str, feed: dict[str, np.ndarray], **kw: str
) -> grpcclient.InferResult:
    inputs = []
    for name, array in feed.items():
        item = grpcclient.InferInput(name, list(array.shape), datatype(array))
        item.set_data_from_numpy(array)
        inputs.append(item)
    return client.infer(model, inputs, **kw)


def http_infer(
    client: httpclient.InferenceServerClient, model: str, feed: dict[str, np.ndarray]
) -> httpclient.InferResult:
    inputs = []
    for name, array in feed.items():
        item = httpclient.InferInput(name, list(array.shape), datatype(array))
        item.set_data_from_numpy(array, binary_data=True)
        inputs.append(item)
    return client.infer(model, inputs)


def test_health_and_metadata(
    client: grpcclient.InferenceServerClient, http: httpclient.InferenceServerClient
) -> None:
    assert client.is_server_live()
    assert client.is_server_ready()
    meta = client.get_server_metadata()
    assert meta.name == "tensorgate"
    assert {"model_repository", "statistics"} <= set(meta.extensions)
    assert client.is_model_ready("efficientnet-lite0")
    assert client.is_model_ready("efficientnet-lite0", "1")
    assert not client.is_model_ready("no-such-model")
    model = client.get_model_metadata("efficientnet-lite0", as_json=True)
    same = http.get_model_metadata("efficientnet-lite0")
    assert model["inputs"] == [
        {"name": i["name"], "datatype": i["datatype"], "shape": [str(d) for d in i["shape"]]}
        for i in same["inputs"]
    ]  # protobuf's JSON spells int64 as strings
    assert model["versions"] == same["versions"] == ["1"]
    config = client.get_model_config("efficientnet-lite0").config
    assert config.max_batch_size == 32
    assert list(config.input[0].dims) == [3, 224, 224]
    assert config.instance_group[0].count == 2


@pytest.mark.parametrize("datatype", ["FP32", "INT64"])
def test_infer_every_batch_size_equals_http_and_onnxruntime(
    client: grpcclient.InferenceServerClient,
    http: httpclient.InferenceServerClient,
    test_repository: Path,
    datatype: str,
) -> None:
    model = f"add_sub_{datatype.lower()}"
    rng = np.random.default_rng(11)
    for rows in (1, 2, 5, 8):
        feed: dict[str, np.ndarray]
        if datatype == "FP32":
            feed = {f"INPUT{i}": rng.standard_normal((rows, 16)).astype(np.float32) for i in (0, 1)}
        else:
            feed = {f"INPUT{i}": rng.integers(-(2**40), 2**40, (rows, 16)) for i in (0, 1)}
        result = grpc_infer(client, model, feed)
        over_http = http_infer(http, model, feed)
        want = direct(test_repository, model, feed)
        for index, name in enumerate(("OUTPUT0", "OUTPUT1")):
            np.testing.assert_array_equal(result.as_numpy(name), want[index])
            np.testing.assert_array_equal(result.as_numpy(name), over_http.as_numpy(name))
        assert result.get_response().model_version == "1"


def test_infer_uint8_bytes_and_named_version(client: grpcclient.InferenceServerClient) -> None:
    pixels = np.arange(24, dtype=np.uint8).reshape(3, 8)
    out = grpc_infer(client, "identity_uint8", {"INPUT0": pixels}, model_version="1")
    np.testing.assert_array_equal(out.as_numpy("OUTPUT0"), pixels)
    words = np.array([[b"tensor", b""], [b"g\x00ate", "é".encode()]], dtype=object)
    out = grpc_infer(client, "identity_bytes", {"INPUT0": words})
    np.testing.assert_array_equal(out.as_numpy("OUTPUT0"), words)


def test_lite0_over_grpc_equals_http(
    client: grpcclient.InferenceServerClient, http: httpclient.InferenceServerClient
) -> None:
    batch = np.random.default_rng(3).standard_normal((4, 3, 224, 224)).astype(np.float32)
    got = grpc_infer(client, "efficientnet-lite0", {"input": batch}).as_numpy("logits")
    want = http_infer(http, "efficientnet-lite0", {"input": batch}).as_numpy("logits")
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


def test_statistics_and_repository_index(client: grpcclient.InferenceServerClient) -> None:
    before = client.get_inference_statistics("identity_uint8").model_stats[0].inference_count
    grpc_infer(client, "identity_uint8", {"INPUT0": np.zeros((2, 8), np.uint8)})
    (stats,) = client.get_inference_statistics("identity_uint8").model_stats
    assert stats.inference_count == before + 2
    assert stats.memory_usage[0].type == "CPU"
    assert stats.memory_usage[0].byte_size > 0
    index = {m.name: m.state for m in client.get_model_repository_index().models}
    assert index["efficientnet-lite0"] == "READY"


def test_errors_carry_the_matching_status(client: grpcclient.InferenceServerClient) -> None:
    with pytest.raises(InferenceServerException) as info:
        client.get_model_metadata("no-such-model")
    assert info.value.status() == "StatusCode.NOT_FOUND"
    assert "model 'no-such-model' is not served here" in info.value.message()
    with pytest.raises(InferenceServerException) as info:
        grpc_infer(client, "add_sub_fp32", {"INPUT0": np.zeros((1, 3), np.float32)})
    assert info.value.status() == "StatusCode.INVALID_ARGUMENT"
    with pytest.raises(InferenceServerException) as info:
        client.load_model("identity_uint8")
    assert info.value.status() == "StatusCode.PERMISSION_DENIED"
    assert "model control is off on this server" in info.value.message()
    assert client.is_server_live()


def test_typed_contents_and_malformed_requests(
    stub: service_pb2_grpc.GRPCInferenceServiceStub,
) -> None:
    request = service_pb2.ModelInferRequest(model_name="add_sub_fp32")
    for name, value in (("INPUT0", 1.5), ("INPUT1", 0.5)):
        tensor = request.inputs.add(name=name, datatype="FP32", shape=[1, 16])
        tensor.contents.fp32_contents.extend([value] * 16)
    response = stub.ModelInfer(request)
    assert np.frombuffer(response.raw_output_contents[0], "<f4").tolist() == [2.0] * 16
    bad = service_pb2.ModelInferRequest(model_name="add_sub_fp32")
    bad.inputs.add(name="INPUT0", datatype="FP32", shape=[1, 16]).contents.fp32_contents.extend(
        [1.0] * 3
    )
    with pytest.raises(grpc.RpcError) as info:
        stub.ModelInfer(bad)
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "shape [1, 16] needs 16 elements, but contents.fp32_contents holds 3" in str(
        info.value.details()
    )
    weird = service_pb2.ModelInferRequest(model_name="add_sub_fp32", model_version="latest")
    with pytest.raises(grpc.RpcError, match="model_version 'latest' is not a positive"):
        stub.ModelInfer(weird)


def test_stream_infer_answers_each_request(client: grpcclient.InferenceServerClient) -> None:
    answers: list[tuple[object, object]] = []
    client.start_stream(callback=lambda result, error: answers.append((result, error)))
    ok = grpcclient.InferInput("INPUT0", [1, 8], "UINT8")
    ok.set_data_from_numpy(np.full((1, 8), 7, np.uint8))
    wrong = grpcclient.InferInput("INPUT0", [1, 3], "UINT8")
    wrong.set_data_from_numpy(np.zeros((1, 3), np.uint8))
    for item in (ok, wrong, ok):
        client.async_stream_infer("identity_uint8", [item])
    client.stop_stream()
    assert len(answers) == 3
    first, failed, last = answers
    assert first[1] is None
    assert last[1] is None
    assert isinstance(failed[1], InferenceServerException)
    assert first[0].as_numpy("OUTPUT0").tolist() == [[7] * 8]  # type: ignore[attr-defined]
