"""The ``tensorgate`` command line: serve, classify, models, zoo, convert, optimize,
devices."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tensorgate.config import EngineSettings, ServerSettings, default_repository
from tensorgate.errors import ConfigError, TensorgateError

if TYPE_CHECKING:
    import httpx

    from tensorgate.client import Prediction

__all__ = ["app", "main"]

DEFAULT_MODEL = "efficientnet-lite0"

app = typer.Typer(
    name="tensorgate",
    help="Serve trained vision models fast, cheaply and safely.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
models_app = typer.Typer(
    help="List the models of a repository or a running server; load and unload them.",
    no_args_is_help=True,
)
zoo_app = typer.Typer(help="Pretrained models shipped in PyPI packages.", no_args_is_help=True)
app.add_typer(models_app, name="models")
app.add_typer(zoo_app, name="zoo")

RepositoryOption = Annotated[
    Path | None,
    typer.Option(
        "--repository",
        "-r",
        envvar="TENSORGATE_REPOSITORY",
        help="Model repository directory (default: the zoo's cache).",
    ),
]
UrlOption = Annotated[
    str | None,
    typer.Option(
        "--url", envvar="TENSORGATE_URL", help="Ask a running server, e.g. http://127.0.0.1:8000."
    ),
]


TokenOption = Annotated[
    str | None,
    typer.Option(
        "--auth-token", envvar="TENSORGATE_AUTH_TOKEN", help="Bearer token of the server."
    ),
]


def _remote(url: str, token: str | None) -> httpx.Client:
    import httpx

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=url.rstrip("/"), timeout=60.0, headers=headers)


def _call(
    client: httpx.Client, method: str, path: str, *, empty: bool = False, **kwargs: Any
) -> Any:
    """Send one request; on failure print what the server (or the network) said and exit 1."""
    import httpx

    try:
        response = client.request(method, path, **kwargs)
    except httpx.HTTPError as exc:
        typer.echo(f"error: cannot reach {client.base_url}: {exc}", err=True)
        raise typer.Exit(1) from None
    if response.status_code != 200:
        try:
            message = response.json()["error"]
        except (ValueError, KeyError, TypeError):
            message = response.text
        typer.echo(f"error: HTTP {response.status_code}: {message}", err=True)
        raise typer.Exit(1)
    return None if empty else response.json()


def _fail(exc: TensorgateError) -> typer.Exit:
    typer.echo(f"error: {exc.message}", err=True)
    return typer.Exit(1)


@app.command()
def serve(
    repository: Annotated[
        Path | None, typer.Argument(help="Model repository (default: the zoo's cache).")
    ] = None,
    host: Annotated[
        str, typer.Option(envvar="TENSORGATE_HOST", help="Bind address.")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(envvar="TENSORGATE_PORT", help="TCP port (0: any free one).")
    ] = 8000,
    model: Annotated[
        list[str] | None,
        typer.Option(
            "--model",
            "-m",
            help="Load only these models (repeatable); a zoo model missing from the "
            "repository is pulled first (NAME-pytorch: its torch.export form).",
        ),
    ] = None,
    instances: Annotated[
        int | None,
        typer.Option(
            help="Instances per device for every model (default: config, else one per core)."
        ),
    ] = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu or cuda:N for every model.")] = None,
    max_batch_size: Annotated[
        int | None, typer.Option(help="Override every model's max_batch_size.")
    ] = None,
    max_queue_delay_ms: Annotated[
        float | None, typer.Option(help="Override every model's batching delay, in ms.")
    ] = None,
    decode_threads: Annotated[
        int | None,
        typer.Option(min=1, help="Image decode threads (default: one per CPU core)."),
    ] = None,
    request_timeout: Annotated[
        float, typer.Option(help="Request deadline in seconds (504 after).")
    ] = 30.0,
    auth_token: Annotated[
        str | None, typer.Option(envvar="TENSORGATE_AUTH_TOKEN", help="Require this bearer token.")
    ] = None,
    log_level: Annotated[str, typer.Option(help="debug shows per-batch device time.")] = "info",
    s3_allow: Annotated[
        list[str] | None,
        typer.Option("--s3-allow", help="BUCKET or BUCKET/PREFIX remote sources may read."),
    ] = None,
    s3_endpoint: Annotated[
        str | None, typer.Option(envvar="TENSORGATE_S3_ENDPOINT", help="S3-compatible endpoint.")
    ] = None,
    s3_region: Annotated[str | None, typer.Option(help="S3 region name.")] = None,
    allow_urls: Annotated[
        bool, typer.Option("--allow-urls", help="Let remote sources fetch https:// URLs.")
    ] = False,
    url_allow_http: Annotated[
        bool, typer.Option("--url-allow-http", help="Also plain http:// URLs.")
    ] = False,
    url_trust_network: Annotated[
        list[str] | None,
        typer.Option(help="CIDR trusted even though not public (repeatable)."),
    ] = None,
    grpc_port: Annotated[
        int,
        typer.Option(
            envvar="TENSORGATE_GRPC_PORT", help="gRPC port (0: any free one; -1: no gRPC)."
        ),
    ] = 8001,
    model_control: Annotated[
        bool,
        typer.Option(
            "--model-control", help="Serve repository load/unload (needs --control-token)."
        ),
    ] = False,
    control_token: Annotated[
        str | None,
        typer.Option(
            envvar="TENSORGATE_CONTROL_TOKEN",
            help="Bearer token of load/unload (default: --auth-token).",
        ),
    ] = None,
    memory_budget: Annotated[
        list[str] | None,
        typer.Option(
            "--memory-budget",
            help="Model memory per device: 4GiB (cpu) or cuda:0=20GiB (repeatable).",
        ),
    ] = None,
    repository_poll: Annotated[
        float | None,
        typer.Option(
            "--repository-poll",
            help="Re-read the repository every SECONDS (new models and versions load).",
        ),
    ] = None,
    shutdown_delay: Annotated[
        float,
        typer.Option(help="After SIGTERM, seconds to keep serving with readiness off."),
    ] = 0.0,
) -> None:
    """Serve a model repository over HTTP (KServe V2 and /classify) and gRPC."""
    from tensorgate.server.runner import serve as run_server
    from tensorgate.sources import S3Policy, SourcePolicy, UrlPolicy

    sources = SourcePolicy(
        urls=UrlPolicy(
            enabled=allow_urls,
            schemes=("https", "http") if url_allow_http else ("https",),
            allow_networks=tuple(url_trust_network or ()),
        ),
        s3=S3Policy(allowed=tuple(s3_allow or ()), endpoint_url=s3_endpoint, region=s3_region),
    )
    from tensorgate.memory import parse_budget

    try:
        root = repository or default_repository()
        _pull_named_zoo_models(root, model or [])
        engine_settings = EngineSettings(
            repository=root,
            memory_budget=parse_budget(memory_budget or []),
            repository_poll_s=repository_poll,
            models=tuple(model or ()),
            instances=instances,
            device=device,
            max_batch_size=max_batch_size,
            max_queue_delay_ms=max_queue_delay_ms,
            request_timeout_s=request_timeout,
            sources=sources,
            decode_threads=decode_threads,
        )
        server_settings = ServerSettings(
            host=host,
            port=port,
            auth_token=auth_token,
            model_control=model_control,
            control_token=control_token,
            grpc_port=None if grpc_port < 0 else grpc_port,
            shutdown_delay_s=shutdown_delay,
        )
        run_server(engine_settings, server_settings, log_level=log_level)
    except TensorgateError as exc:
        raise _fail(exc) from None


def _pull_named_zoo_models(repository: Path, names: list[str]) -> None:
    """Export zoo models that ``--model`` names and the repository lacks."""
    from tensorgate.zoo import pull, resolve

    for name in names:
        found = resolve(name)
        if found is None or (repository / name / "config.yaml").is_file():
            continue
        zoo_model, fmt = found
        typer.echo(f"pulling {name} from the zoo into {repository} (once)", err=True)
        pull(zoo_model.name, repository, fmt=fmt)


def _print_table(rows: list[tuple[str, str, str]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for row in rows:
        typer.echo("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())


def _expand(items: list[str]) -> tuple[list[Path], list[str]]:
    """Files (globs expanded) and s3:// / https:// sources, in the order given."""
    import glob

    files: list[Path] = []
    sources: list[str] = []
    for item in items:
        if item.startswith(("s3://", "https://", "http://")):
            sources.append(item)
        elif any(c in item for c in "*?["):
            matches = sorted(glob.glob(item, recursive=True))
            if not matches:
                typer.echo(f"error: no file matches {item!r}", err=True)
                raise typer.Exit(1)
            files.extend(Path(m) for m in matches if Path(m).is_file())
        else:
            path = Path(item)
            if not path.is_file():
                typer.echo(f"error: {item!r} is not a file, a glob or an s3:// key", err=True)
                raise typer.Exit(1)
            files.append(path)
    return files, sources


def _run_clients(
    client: Any, files: list[Path], sources: list[str], model: str, top: int
) -> list[Prediction | TensorgateError]:
    """One answer per file (each its own request, so one bad file fails only itself),
    then one per source."""
    futures = [client.predict([f], model=model, top_k=top) for f in files]
    answers: list[Prediction | TensorgateError] = []
    for future in futures:
        try:
            answers.extend(future.result())
        except TensorgateError as exc:
            answers.append(exc)
    if sources:
        answers.extend(client.predict_sources(sources, model=model, top_k=top).result())
    return answers


@app.command()
def classify(
    images: Annotated[
        list[str],
        typer.Argument(help="Image files, globs ('photos/*.jpg') or s3://bucket/key URIs."),
    ],
    url: UrlOption = None,
    model: Annotated[str, typer.Option("--model", "-m", help="Model name.")] = DEFAULT_MODEL,
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, help="Classes per image.")] = 3,
    repository: RepositoryOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    auth_token: TokenOption = None,
    s3_endpoint: Annotated[
        str | None,
        typer.Option(envvar="TENSORGATE_S3_ENDPOINT", help="S3-compatible endpoint (in-process)."),
    ] = None,
) -> None:
    """Classify images, in-process or through a running server (--url).

    s3:// keys are read here (in-process, with your AWS credentials) or by the server
    (--url, from the buckets it allows). Exit code 1 if any image failed.
    """
    from tensorgate.client import Client, Predictor
    from tensorgate.sources import S3Policy, SourcePolicy

    files, sources = _expand(images)
    names = [str(f) for f in files] + sources
    try:
        if url:
            with Client(url, auth_token=auth_token) as client:
                answers = _run_clients(client, files, sources, model, top_k)
        else:
            buckets = tuple(
                sorted({s[5:].partition("/")[0] for s in sources if s.startswith("s3://")})
            )
            settings = EngineSettings(
                repository=repository or default_repository(),
                models=(model,),
                instances=1,
                sources=SourcePolicy(s3=S3Policy(allowed=buckets, endpoint_url=s3_endpoint)),
            )
            with Predictor(settings, model) as predictor:
                answers = _run_clients(predictor, files, sources, model, top_k)
    except TensorgateError as exc:
        raise _fail(exc) from None
    failed = any(isinstance(a, TensorgateError) for a in answers)
    if as_json:
        typer.echo(json.dumps([_answer_json(n, a) for n, a in zip(names, answers, strict=True)]))
    else:
        rows = [("IMAGE", "LABEL", "SCORE")]
        for name, answer in zip(names, answers, strict=True):
            if isinstance(answer, TensorgateError):
                rows.append((name, f"error: {answer.message}", "-"))
                continue
            rows.extend((name, c.label, f"{c.score:.4f}") for c in answer.classes)
        _print_table(rows)
    if failed:
        raise typer.Exit(1)


def _answer_json(name: str, answer: Prediction | TensorgateError) -> dict[str, Any]:
    if isinstance(answer, TensorgateError):
        return {"image": name, "error": answer.message, "status": answer.http_status}
    return {
        "image": name,
        "predictions": [
            {"label": c.label, "index": c.index, "score": c.score} for c in answer.classes
        ],
    }


@models_app.command("list")
def models_list(
    url: UrlOption = None, repository: RepositoryOption = None, auth_token: TokenOption = None
) -> None:
    """List models with their versions and states."""
    rows = [("MODEL", "VERSION", "STATE")]
    if url:
        with _remote(url, auth_token) as client:
            index = _call(client, "POST", "/v2/repository/index", json={})
        for item in index:
            rows.append((item["name"], item["version"] or "-", item["state"]))
    else:
        from tensorgate.repository.store import BrokenModel, scan_repository

        try:
            entries = scan_repository(repository or default_repository())
        except TensorgateError as exc:
            raise _fail(exc) from None
        for entry in entries:
            if isinstance(entry, BrokenModel):
                rows.append((entry.name, "-", f"UNAVAILABLE: {entry.reason}"))
            else:
                for version in entry.versions:
                    rows.append((entry.name, str(version), "ON DISK"))
    _print_table(rows)


ControlTokenOption = Annotated[
    str | None,
    typer.Option(
        "--control-token",
        envvar="TENSORGATE_CONTROL_TOKEN",
        help="Bearer token of model control (default: --auth-token).",
    ),
]
ServerUrl = Annotated[
    str,
    typer.Option(
        "--url", envvar="TENSORGATE_URL", help="The running server, e.g. http://127.0.0.1:8000."
    ),
]


@models_app.command("load")
def models_load(
    name: Annotated[str, typer.Argument(help="Model name in the server's repository.")],
    url: ServerUrl = "http://127.0.0.1:8000",
    control_token: ControlTokenOption = None,
    auth_token: TokenOption = None,
) -> None:
    """Load (or reload) a model on a running server; new versions swap in at once."""
    _control(url, control_token or auth_token, name, "load")


@models_app.command("unload")
def models_unload(
    name: Annotated[str, typer.Argument(help="Model name.")],
    url: ServerUrl = "http://127.0.0.1:8000",
    control_token: ControlTokenOption = None,
    auth_token: TokenOption = None,
) -> None:
    """Unload a model from a running server (its accepted requests finish first)."""
    _control(url, control_token or auth_token, name, "unload")


def _control(url: str, token: str | None, name: str, action: str) -> None:
    with _remote(url, token) as client:
        _call(client, "POST", f"/v2/repository/models/{name}/{action}", json={}, empty=True)
    typer.echo(f"{action}ed {name}")


@zoo_app.command("list")
def zoo_list() -> None:
    """List the zoo's models."""
    from tensorgate.zoo import CATALOG

    _print_table(
        [("MODEL", "PACKAGES", "DESCRIPTION")]
        + [(m.name, ", ".join(m.packages), m.description) for m in CATALOG.values()]
    )


@zoo_app.command("pull")
def zoo_pull(
    name: Annotated[str, typer.Argument(help="Zoo model name.")] = DEFAULT_MODEL,
    repository: RepositoryOption = None,
    force: Annotated[bool, typer.Option(help="Export again even if present.")] = False,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="onnx (served by onnxruntime) or pytorch (a torch.export archive, "
            "into NAME-pytorch).",
        ),
    ] = "onnx",
) -> None:
    """Export a zoo model into the repository (once; cached)."""
    from tensorgate.zoo import pull

    try:
        result = pull(name, repository or default_repository(), force=force, fmt=fmt)
    except TensorgateError as exc:
        raise _fail(exc) from None
    if result.exported:
        typer.echo(
            f"exported {name} to {result.directory} "
            f"(max |{fmt} - torch| = {result.max_abs_error:.2e})"
        )
    else:
        typer.echo(f"{name} is ready in {result.directory}")


@app.command()
def devices(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    torch: Annotated[
        bool, typer.Option("--torch/--no-torch", help="Also ask torch (imports it).")
    ] = True,
) -> None:
    """Show the CPU cores, CUDA GPUs and runtimes that `device: auto` chooses from."""
    from tensorgate.devices import discover, resolve_device

    found = discover(probe_torch=torch)
    auto = {
        b: resolve_device("auto", b) for b in ("onnxruntime", "pytorch") if torch or b != "pytorch"
    }
    if as_json:
        typer.echo(json.dumps({**dataclasses.asdict(found), "auto": auto}, indent=2))
        return
    cpu = found.cpu
    typer.echo(f"cpu        {cpu.cores} of {cpu.logical} cores usable; {cpu.model or 'unknown'}")
    typer.echo(f"           features: {', '.join(cpu.flags) or 'none of note'}")
    if not found.gpus:
        typer.echo(
            "cuda       no GPU visible (no NVIDIA driver, or CUDA_VISIBLE_DEVICES hides them)"
        )
    for gpu in found.gpus:
        typer.echo(
            f"{gpu.device:<10} {gpu.name}; {gpu.memory_total / 2**30:.1f} GiB, "
            f"{gpu.memory_free / 2**30:.1f} GiB free"
        )
    typer.echo(f"onnxruntime {', '.join(found.onnxruntime_providers)}")
    if torch:
        typer.echo(
            f"torch      {found.torch or 'not installed'}"
            + (f"; CUDA {'yes' if found.torch_cuda else 'no'}" if found.torch else "")
        )
    typer.echo(
        f"decode     JPEG on the model's GPU via {found.gpu_decoder} (nvJPEG), else CPU"
        if found.gpu_decoder
        else "decode     CPU (libjpeg-turbo); no GPU JPEG decoder installed"
    )
    typer.echo("auto       " + ", ".join(f"{b} -> {d}" for b, d in auto.items()))


def _shape(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        shape = tuple(int(v) for v in text.replace("x", ",").split(",") if v.strip())
    except ValueError:
        shape = ()
    if not shape or any(v <= 0 for v in shape):
        raise typer.BadParameter(f"{text!r} is not a shape; give sizes like 3,224,224")
    return shape


@app.command()
def convert(
    source: Annotated[
        str,
        typer.Argument(
            help="MODULE:FACTORY or file.py:FACTORY (with --checkpoint), a TorchScript .pt, "
            "a torch.export .pt2, a Keras .keras/.h5, or an MXNet PREFIX-symbol.json."
        ),
    ],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="The ONNX file to write.")
    ] = None,
    repository: RepositoryOption = None,
    name: Annotated[
        str | None,
        typer.Option(help="Write the next version of REPOSITORY/NAME (config.yaml if new)."),
    ] = None,
    input_shape: Annotated[
        str | None,
        typer.Option(help="One sample's shape without the batch axis, e.g. 3,224,224."),
    ] = None,
    checkpoint: Annotated[
        Path | None,
        typer.Option(help="Weights: a state dict (PyTorch) or PREFIX-0000.params (MXNet)."),
    ] = None,
    python: Annotated[
        str | None,
        typer.Option(help="Python of the environment with Keras/tf2onnx or MXNet."),
    ] = None,
    opset: Annotated[int, typer.Option(help="ONNX opset (PyTorch and Keras).")] = 17,
    tolerance: Annotated[
        float, typer.Option(help="Largest |onnx - source| allowed, relative to max(1, |source|).")
    ] = 1e-3,
) -> None:
    """Convert a trained model to ONNX with a dynamic batch axis; check it numerically."""
    import tempfile

    from tensorgate.convert import convert as run_convert
    from tensorgate.convert.output import model_directory

    if (output is None) == (name is None):
        raise typer.BadParameter("give either --output FILE.onnx or --name NAME (in a repository)")
    try:
        with tempfile.TemporaryDirectory(prefix="tensorgate-convert-") as scratch:
            target = output or Path(scratch) / "model.onnx"
            report = run_convert(
                source,
                target,
                input_shape=_shape(input_shape),
                checkpoint=checkpoint,
                python=python,
                opset=opset,
                tolerance=tolerance,
            )
            if name is not None:
                config = {"name": name, "backend": "onnxruntime", "max_batch_size": 32}
                written = model_directory(
                    repository or default_repository(), name, target, config, filename="model.onnx"
                )
                report = dataclasses.replace(report, target=written)
    except TensorgateError as exc:
        raise _fail(exc) from None
    for line in report.lines():
        typer.echo(line)


@app.command()
def optimize(
    model_name: Annotated[str, typer.Argument(help="A model of the repository (ONNX).")],
    mode: Annotated[
        str, typer.Option(help="int8-static (calibrated), int8-dynamic, or fp16 (for GPUs).")
    ] = "int8-static",
    calibration: Annotated[
        list[str] | None,
        typer.Option(help="Calibration images: files, directories or globs (repeatable)."),
    ] = None,
    repository: RepositoryOption = None,
    name: Annotated[
        str | None, typer.Option(help="The new model's name (default: MODEL-MODE).")
    ] = None,
    min_agreement: Annotated[
        float, typer.Option(help="Refuse below this top-1 agreement with fp32 (0-1).")
    ] = 0.90,
    device: Annotated[str, typer.Option(help="Where speed and agreement are measured.")] = "cpu",
    seconds: Annotated[float, typer.Option(help="Seconds of speed measurement.")] = 3.0,
) -> None:
    """Write an int8 or fp16 copy of a model, measured beside fp32 on calibration images."""
    from tensorgate.errors import AccuracyError
    from tensorgate.optimize import find_images
    from tensorgate.optimize import optimize as run_optimize

    root = repository or default_repository()
    try:
        images = find_images(calibration or [])
        report = run_optimize(
            root / model_name,
            mode,
            images,
            name=name,
            min_agreement=min_agreement,
            device=device,
            seconds=seconds,
        )
    except AccuracyError as exc:
        if exc.report is not None:
            for line in exc.report.lines():
                typer.echo(line)
        raise _fail(exc) from None
    except TensorgateError as exc:
        raise _fail(exc) from None
    for line in report.lines():
        typer.echo(line)


@app.command()
def batch(
    model: Annotated[str, typer.Option("--model", "-m", help="The model that scores.")],
    inputs: Annotated[
        str,
        typer.Option(
            "--input", "-i", help="A directory, a glob, a manifest file or s3://bucket/prefix."
        ),
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Output file: .parquet, .csv or .jsonl.")
    ],
    engine: Annotated[str, typer.Option(help="local (this process), ray or spark.")] = "local",
    top_k: Annotated[int, typer.Option(help="Classes kept per input.")] = 5,
    repository: RepositoryOption = None,
    device: Annotated[
        str | None, typer.Option(help="auto, cpu or cuda:N (default: the model's config).")
    ] = None,
    instances: Annotated[
        int | None, typer.Option(help="Model instances per engine (default: per core).")
    ] = None,
    s3_endpoint: Annotated[
        str | None, typer.Option(help="S3-compatible endpoint URL for s3:// inputs.")
    ] = None,
    ray_address: Annotated[
        str | None, typer.Option(help="Ray cluster to join (default: a local one).")
    ] = None,
    spark_master: Annotated[
        str | None, typer.Option(help="Spark master (default: local[CORES]).")
    ] = None,
    overwrite: Annotated[
        bool, typer.Option(help="Discard an existing output and unfinished state first.")
    ] = False,
    commit_every: Annotated[
        int, typer.Option(help="Make results durable at least every this many rows.")
    ] = 4096,
    quiet: Annotated[bool, typer.Option(help="No progress line.")] = False,
) -> None:
    """Score every image of a folder, glob, manifest or S3 prefix into a file; rerun the
    same command after a crash to resume."""
    import sys

    from tensorgate.pipeline import run as run_job
    from tensorgate.sources import S3Policy

    try:
        root = repository or default_repository()
        _pull_named_zoo_models(root, [model])
        summary = run_job(
            model,
            inputs,
            output,
            engine=engine,
            top_k=top_k,
            settings=EngineSettings(repository=root, device=device, instances=instances),
            s3=S3Policy(endpoint_url=s3_endpoint),
            overwrite=overwrite,
            progress=None if quiet else sys.stderr,
            ray_address=ray_address,
            spark_master=spark_master,
            commit_rows=commit_every,
        )
    except TensorgateError as exc:
        raise _fail(exc) from None
    typer.echo(summary.render())


def _levels(text: str | None, kind: type[int] | type[float], what: str) -> tuple[Any, ...]:
    if not text:
        return ()
    try:
        return tuple(kind(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a list of {what} like 1,2,4,8") from None


@app.command("bench")
def bench_command(
    url: Annotated[
        str | None, typer.Option(help="A running server (default: start one here).")
    ] = None,
    model: Annotated[str, typer.Option("--model", "-m", help="The model to load.")] = (
        "efficientnet-lite0"
    ),
    repository: RepositoryOption = None,
    protocol: Annotated[str, typer.Option(help="http or grpc.")] = "http",
    payload: Annotated[str, typer.Option(help="tensor (random rows) or image (JPEG).")] = (
        "tensor"
    ),
    image: Annotated[Path | None, typer.Option(help="The image for image payloads.")] = None,
    grpc_url: Annotated[
        str | None, typer.Option(help="HOST:PORT of the gRPC door of --url's server.")
    ] = None,
    rows: Annotated[int, typer.Option(help="Rows per tensor request.")] = 1,
    endpoint: Annotated[
        str | None,
        typer.Option(help="Image payloads: the path to POST to (another server's route)."),
    ] = None,
    image_as: Annotated[
        str,
        typer.Option(help="Image payloads as the raw body, a multipart form or a V2 BYTES tensor."),
    ] = "body",
    field: Annotated[
        str, typer.Option(help="The form field or V2 input name (--image-as form|v2).")
    ] = "image",
    concurrency: Annotated[
        str, typer.Option(help="Closed-loop levels, e.g. 1,2,4,8 (empty: none).")
    ] = "1,2,4,8",
    rate: Annotated[
        str | None, typer.Option(help="Open-loop Poisson rates in requests/s, e.g. 50,100.")
    ] = None,
    seconds: Annotated[float, typer.Option(help="Measured seconds per level.")] = 5.0,
    warmup: Annotated[float, typer.Option(help="Warm-up seconds before each level.")] = 1.0,
    output: Annotated[Path | None, typer.Option(help="Save steps as .json or .csv.")] = None,
    chart: Annotated[Path | None, typer.Option(help="PNG of throughput against p99.")] = None,
    capacity: Annotated[
        Path | None, typer.Option(help="Write the planner's capacity JSON for --option.")
    ] = None,
    option: Annotated[
        str | None, typer.Option(help="The price-table option this machine stands for.")
    ] = None,
    p99_target_ms: Annotated[
        float | None, typer.Option(help="Capacity counts only steps within this p99.")
    ] = None,
) -> None:
    """Load a server closed-loop (concurrency sweep) and open-loop (Poisson rates): img/s,
    p50/p90/p99, and the server's queue vs compute split per level."""
    from contextlib import nullcontext
    from dataclasses import replace

    from tensorgate.bench import BenchConfig, report, run_bench
    from tensorgate.server.process import spawn_server

    if protocol not in ("http", "grpc") or payload not in ("tensor", "image"):
        raise _fail(
            ConfigError(
                f"--protocol {protocol!r} / --payload {payload!r}: use http|grpc, tensor|image"
            )
        )
    if capacity is not None and option is None:
        raise _fail(ConfigError("--capacity needs --option NAME (the price-table option)"))
    levels = _levels(concurrency, int, "integers")
    rates = _levels(rate, float, "numbers")
    try:
        data = image.read_bytes() if image is not None else None
    except OSError as exc:
        raise _fail(ConfigError(f"cannot read --image {image}: {exc.strerror}")) from None
    root = repository or default_repository()
    try:
        config = BenchConfig(
            url=url or "", model=model, protocol=protocol, payload=payload,  # type: ignore[arg-type]
            grpc_url=grpc_url, image=data, rows=rows, seconds=seconds, warmup_s=warmup,
            concurrency=levels, rates=rates, endpoint=endpoint,
            image_as=image_as, field=field,  # type: ignore[arg-type]
        )  # fmt: skip
        if url is None:
            _pull_named_zoo_models(root, [model])
        server = spawn_server(root, "--model", model) if url is None else nullcontext(None)
        with server as started:
            if started is not None:
                config = replace(config, url=started.url, grpc_url=grpc_url or started.grpc)
            header = report.table([])
            typer.echo(header[0])
            typer.echo(header[1])
            steps = run_bench(config, on_step=lambda s: typer.echo(report.table([s])[2]))
        if output is not None:
            report.save(output, steps)
            typer.echo(f"\nsteps: {output}")
        if chart is not None:
            title = f"{model}, {protocol} {payload} payloads, {seconds:g} s per level"
            report.chart(chart, steps, title)
            typer.echo(f"chart: {chart}")
        if capacity is not None and option is not None:
            record = report.capacity(steps, option, p99_target_ms)
            capacity.write_text(json.dumps([record], indent=2) + "\n", encoding="utf-8")
            typer.echo(f"capacity for tensorgate plan --measured: {capacity}")
    except TensorgateError as exc:
        raise _fail(exc) from None


@app.command()
def tune(
    model: Annotated[str, typer.Option("--model", "-m", help="The model to tune.")] = (
        "efficientnet-lite0"
    ),
    repository: RepositoryOption = None,
    p99_target_ms: Annotated[float, typer.Option(help="The p99 latency to stay within.")] = 100.0,
    payload: Annotated[str, typer.Option(help="tensor or image (with --image).")] = "tensor",
    image: Annotated[Path | None, typer.Option(help="The image for image payloads.")] = None,
    concurrency: Annotated[str, typer.Option(help="Load levels per candidate.")] = "2,4,8,16,32",
    seconds: Annotated[float, typer.Option(help="Measured seconds per level.")] = 2.0,
    batch_sizes: Annotated[str, typer.Option(help="max_batch_size values to try.")] = (
        "1,4,8,16,32"
    ),
    delays_ms: Annotated[str, typer.Option(help="max_queue_delay_ms values to try.")] = ("0,1,2,5"),
    dry_run: Annotated[bool, typer.Option(help="Report only; leave config.yaml alone.")] = False,
) -> None:
    """Search instances, threads, max_batch_size and max_queue_delay_ms for the highest
    throughput within a p99 target, measured on real servers; write the winner."""
    from tensorgate.bench import BenchConfig
    from tensorgate.bench.tune import tune_model
    from tensorgate.devices import cpu_count

    root = repository or default_repository()
    try:
        data = image.read_bytes() if image is not None else None
    except OSError as exc:
        raise _fail(ConfigError(f"cannot read --image {image}: {exc.strerror}")) from None
    try:
        load = BenchConfig(
            url="", model=model, payload=payload, image=data, seconds=seconds,  # type: ignore[arg-type]
            warmup_s=min(1.0, seconds / 2), concurrency=_levels(concurrency, int, "integers"),
        )  # fmt: skip
        _pull_named_zoo_models(root, [model])
        typer.echo(
            f"| candidate | img/s within p99 ≤ {p99_target_ms:g} ms | p99 ms | at concurrency |"
        )
        typer.echo("| --- | --- | --- | --- |")
        best, trials = tune_model(
            root,
            model,
            load,
            p99_target_ms,
            cores=cpu_count(),
            batch_sizes=_levels(batch_sizes, int, "integers"),
            delays_ms=_levels(delays_ms, float, "numbers"),
            write=not dry_run,
            on_trial=lambda t: typer.echo(
                f"| {t.candidate.label()} | {t.images_per_s:.1f} | {t.p99_ms:.1f} | "
                f"{t.concurrency:g} |" + (f" {t.error}" if t.error else "")
            ),
        )
    except TensorgateError as exc:
        raise _fail(exc) from None
    first = trials[0]
    gain = best.images_per_s / first.images_per_s if first.images_per_s else float("inf")
    typer.echo(
        f"\nbest: {best.candidate.label()}: {best.images_per_s:.1f} img/s "
        f"(×{gain:.2f} the current config's {first.images_per_s:.1f})"
    )
    if best.candidate == first.candidate:
        typer.echo("the current config is already the best found; config.yaml unchanged")
    elif dry_run:
        typer.echo("dry run: config.yaml unchanged")
    else:
        typer.echo(f"wrote {root / model / 'config.yaml'} (the old one: config.yaml.bak)")


@app.command()
def plan(
    images_per_month: Annotated[
        str | None, typer.Option(help="Monthly volume to plan for: 50M, 1.5B, 2e9.")
    ] = None,
    throughput: Annotated[
        list[str] | None,
        typer.Option(help="OPTION=IMAGES_PER_S[@P99_MS] per instance (repeatable)."),
    ] = None,
    latency: Annotated[
        list[str] | None,
        typer.Option(help="Serverless OPTION=MS_PER_REQUEST[@P99_MS] (repeatable)."),
    ] = None,
    measured: Annotated[
        Path | None, typer.Option(help="JSON capacities, as tensorgate bench writes them.")
    ] = None,
    prices: Annotated[
        Path | None, typer.Option(help="Price table YAML (default: the shipped one).")
    ] = None,
    peak_to_average: Annotated[float, typer.Option(help="Peak rate over average.")] = 3.0,
    headroom: Annotated[float, typer.Option(help="Spare capacity at peak (0.3 = 30%).")] = 0.3,
    min_instances: Annotated[int, typer.Option(help="Instances kept for redundancy.")] = 2,
    p99_target_ms: Annotated[
        float | None, typer.Option(help="Options slower than this at p99 are infeasible.")
    ] = None,
    volumes: Annotated[
        str, typer.Option(help="Range for the table, chart and crossovers: LOW..HIGH.")
    ] = "1M..10B",
    chart: Annotated[Path | None, typer.Option(help="Write a PNG of cost by volume.")] = None,
    write_prices: Annotated[
        Path | None, typer.Option(help="Copy the shipped price table here to edit; exit.")
    ] = None,
) -> None:
    """Monthly cost of each deployment option from measured capacity, a dated price table
    and traffic; the crossover volumes; a chart."""
    from tensorgate.plan import crossovers, default_prices, load_prices
    from tensorgate.plan.cost import Traffic
    from tensorgate.plan.prices import default_text
    from tensorgate.plan.report import parse_capacity, parse_count, read_measured, render

    if write_prices is not None:
        if write_prices.exists():
            raise _fail(ConfigError(f"{write_prices} exists; choose another path"))
        write_prices.write_text(default_text(), encoding="utf-8")
        typer.echo(
            f"wrote {write_prices}: edit the prices and the date, then --prices {write_prices}"
        )
        return
    try:
        if images_per_month is None:
            raise ConfigError("give --images-per-month (e.g. 50M)")
        table = load_prices(prices) if prices else default_prices()
        capacities = read_measured(measured) if measured else []
        capacities += [parse_capacity(t, serverless=False) for t in throughput or []]
        capacities += [parse_capacity(t, serverless=True) for t in latency or []]
        if not capacities:
            raise ConfigError(
                "give at least one option's capacity: --throughput OPTION=IMG_PER_S, "
                "--latency OPTION=MS (serverless) or --measured FILE"
            )
        for capacity in capacities:
            table.option(capacity.option)  # unknown names fail here, listing the table
        low_text, _, high_text = volumes.partition("..")
        low, high = parse_count(low_text), parse_count(high_text or low_text)
        if not 0 < low < high:
            raise ConfigError(f"--volumes {volumes!r} must be LOW..HIGH with 0 < LOW < HIGH")
        traffic = Traffic(
            parse_count(images_per_month), peak_to_average, headroom, min_instances, p99_target_ms
        )
        decades = [low * 10**i for i in range(20) if low * 10**i <= high]
        crossings = crossovers(table, capacities, traffic, [low, high])
        for line in render(table, capacities, traffic, decades, crossings):
            typer.echo(line)
        if chart is not None:
            from tensorgate.plan.chart import cost_chart

            points = [low * (high / low) ** (i / 200) for i in range(201)]
            cost_chart(chart, table, capacities, traffic, points, crossings)
            typer.echo(f"\nchart: {chart}")
    except TensorgateError as exc:
        raise _fail(exc) from None


def main() -> None:
    """Entry point of the ``tensorgate`` script."""
    app()
