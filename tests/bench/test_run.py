"""``tensorgate bench`` against a real server on loopback: closed and open loop, HTTP and
gRPC, tensor and image payloads, files, chart, capacity for the planner; bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import pytest
from typer.testing import CliRunner

from tensorgate.bench import BenchConfig, run_bench
from tensorgate.bench.report import capacity
from tensorgate.bench.run import image_request
from tensorgate.cli import app
from tensorgate.errors import ConfigError
from tensorgate.protocol.v2 import parse_infer_request
from tensorgate.server.process import ServerProcess

MODEL = "efficientnet-lite0"


def test_closed_and_open_loop_over_http(server: ServerProcess) -> None:
    seen: list[float] = []
    config = BenchConfig(
        server.url, MODEL, seconds=0.6, warmup_s=0.1, concurrency=(1, 3), rates=(20.0,)
    )
    steps = run_bench(config, on_step=lambda s: seen.append(s.level))
    assert seen == [1, 3, 20.0]
    assert [s.mode for s in steps] == ["closed", "closed", "open"]
    for step in steps:
        assert step.errors == 0, step.first_error
        assert step.requests > 0
        assert step.latency.p50 <= step.latency.p90 <= step.latency.p99
        assert step.server.requests >= step.requests  # the server saw at least ours
        assert step.server.compute_ms > 0
        assert step.server.queue_ms >= 0
    assert steps[2].requests == pytest.approx(12, abs=10)  # 20 req/s for 0.6 s, Poisson


def test_grpc_tensors_and_http_images(server: ServerProcess, cat_jpeg: bytes) -> None:
    assert server.grpc is not None
    grpc = run_bench(
        BenchConfig(server.url, MODEL, "grpc", grpc_url=server.grpc, seconds=0.4, warmup_s=0.1,
                    concurrency=(2,), rows=2)
    )  # fmt: skip
    assert grpc[0].errors == 0, grpc[0].first_error
    assert grpc[0].images_per_s == pytest.approx(2 * grpc[0].requests / grpc[0].seconds)
    images = run_bench(
        BenchConfig(server.url, MODEL, payload="image", image=cat_jpeg, seconds=0.4,
                    warmup_s=0.1, concurrency=(2,))
    )  # fmt: skip
    assert images[0].errors == 0, images[0].first_error
    assert images[0].requests > 0


def test_any_route_can_take_the_image_load(server: ServerProcess, cat_jpeg: bytes) -> None:
    # The same raw-JPEG load on another route (here tensorgate's own, with top_k=3), as
    # it is driven at other servers' routes.
    (step,) = run_bench(
        BenchConfig(server.url, MODEL, payload="image", image=cat_jpeg, seconds=0.3,
                    warmup_s=0, concurrency=(1,), endpoint=f"/v2/models/{MODEL}/classify?top_k=3")
    )  # fmt: skip
    assert step.errors == 0, step.first_error
    assert step.requests > 0


def test_images_go_as_a_multipart_form_too(server: ServerProcess, cat_jpeg: bytes) -> None:
    # LitServe and BentoML take files only as forms; tensorgate's /classify takes both.
    (step,) = run_bench(
        BenchConfig(server.url, MODEL, payload="image", image=cat_jpeg, seconds=0.3,
                    warmup_s=0, concurrency=(1,), image_as="form", field="images")
    )  # fmt: skip
    assert step.errors == 0, step.first_error
    assert step.requests > 0


def test_images_as_v2_bytes_tensors_are_valid_infer_requests(cat_jpeg: bytes) -> None:
    # As Triton takes encoded images: a [1, 1] BYTES input, binary tensor extension.
    config = BenchConfig("http://x", MODEL, payload="image", image=cat_jpeg, image_as="v2")
    path, body, headers = image_request(config)
    assert path == f"/v2/models/{MODEL}/infer"
    request = parse_infer_request(body, int(headers["Inference-Header-Content-Length"]))
    (tensor,) = request.inputs.values()
    assert list(request.inputs) == ["image"]
    assert tensor.shape == (1, 1)
    assert tensor[0, 0] == cat_jpeg


def test_several_images_per_request_as_a_form_or_a_v2_tensor(
    server: ServerProcess, cat_jpeg: bytes
) -> None:
    config = BenchConfig("http://x", MODEL, payload="image", image=cat_jpeg, image_as="v2", rows=3)
    _, body, headers = image_request(config)
    request = parse_infer_request(body, int(headers["Inference-Header-Content-Length"]))
    (tensor,) = request.inputs.values()
    assert tensor.shape == (3, 1)
    assert list(tensor[:, 0]) == [cat_jpeg] * 3
    ways: tuple[tuple[Literal["form", "v2"], str], ...] = (("form", "images"), ("v2", "image"))
    for image_as, field in ways:
        (step,) = run_bench(
            BenchConfig(server.url, MODEL, payload="image", image=cat_jpeg, seconds=0.3,
                        warmup_s=0, concurrency=(1,), image_as=image_as, field=field, rows=3)
        )  # fmt: skip
        assert step.errors == 0, step.first_error
        assert step.images_per_s == pytest.approx(3 * step.requests / step.seconds)


def test_a_bad_image_is_counted_as_errors_not_fatal(server: ServerProcess) -> None:
    (step,) = run_bench(
        BenchConfig(server.url, MODEL, payload="image", image=b"not an image", seconds=0.3,
                    warmup_s=0, concurrency=(1,))
    )  # fmt: skip
    assert step.requests == 0
    assert step.errors > 0
    assert "HTTP 400" in step.first_error


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"protocol": "grpc", "payload": "image", "image": b"x"}, "gRPC carries tensors only"),
        ({"payload": "image"}, "need an image"),
        ({"concurrency": (), "rates": ()}, "at least one"),
        ({"concurrency": (0,)}, "≥ 1"),
        ({"protocol": "smtp"}, "protocol 'smtp' is unknown"),
        ({"seconds": 0}, "seconds > 0"),
        ({"endpoint": "/predict"}, "for image payloads"),
        ({"payload": "image", "image": b"x", "endpoint": "predict"}, "starting with /"),
        ({"payload": "image", "image": b"x", "image_as": "json"}, "image_as 'json' is unknown"),
        ({"image_as": "form"}, "needs an image payload"),
        ({"payload": "image", "image": b"x", "image_as": "v2", "field": ""}, "a field name"),
        ({"payload": "image", "image": b"x", "rows": 2}, "a raw body carries one image"),
    ],
)
def test_bad_configs_are_refused(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        BenchConfig("http://127.0.0.1:1", MODEL, **kwargs)  # type: ignore[arg-type]


def test_an_unreachable_server_is_named() -> None:
    with pytest.raises(ConfigError, match=r"cannot reach http://127\.0\.0\.1:9"):
        run_bench(BenchConfig("http://127.0.0.1:9", MODEL, seconds=0.1, warmup_s=0))


def test_the_cli_writes_steps_chart_and_capacity(server: ServerProcess, tmp_path: Path) -> None:
    out, chart, cap = tmp_path / "steps.csv", tmp_path / "perf.png", tmp_path / "cap.json"
    result = CliRunner().invoke(
        app,
        [
            "bench", "--url", server.url, "--concurrency", "1,2", "--seconds", "0.4",
            "--warmup", "0.1", "--output", str(out), "--chart", str(chart),
            "--capacity", str(cap), "--option", "c7i.large",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.output.startswith("| load | img/s | p50 ms |")
    assert "| concurrency 2 |" in result.output
    assert out.read_text().splitlines()[0].startswith("mode,level,protocol,payload,requests")
    assert chart.read_bytes()[:4] == b"\x89PNG"
    (record,) = json.loads(cap.read_text())
    assert record["option"] == "c7i.large"
    assert record["images_per_s"] > 0
    planned = CliRunner().invoke(app, ["plan", "--images-per-month", "10M", "--measured", str(cap)])
    assert planned.exit_code == 0, planned.output
    assert "(measured: cap.json)" in planned.output


def test_capacity_respects_the_p99_target(server: ServerProcess) -> None:
    steps = run_bench(BenchConfig(server.url, MODEL, seconds=0.3, warmup_s=0, concurrency=(1,)))
    with pytest.raises(ConfigError, match="no closed-loop step met the p99 target"):
        capacity(steps, "c7i.large", p99_target_ms=0.001)
    assert capacity(steps, "c7i.large", None)["latency_ms"] > 0
