"""``tensorgate bench``, ``tune`` and ``plan``: measure, tune and price."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from tensorgate.cli._shared import RepositoryOption, levels, pull_named_zoo_models
from tensorgate.config import default_repository
from tensorgate.errors import ConfigError

__all__ = ["bench", "plan", "tune"]


def bench(
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
    rows: Annotated[
        int, typer.Option(help="Rows per tensor request, or images per image request (form, v2).")
    ] = 1,
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
        raise ConfigError(
            f"--protocol {protocol!r} / --payload {payload!r}: use http|grpc, tensor|image"
        )
    if capacity is not None and option is None:
        raise ConfigError("--capacity needs --option NAME (the price-table option)")
    closed = levels(concurrency, int, "integers")
    rates = levels(rate, float, "numbers")
    try:
        data = image.read_bytes() if image is not None else None
    except OSError as exc:
        raise ConfigError(f"cannot read --image {image}: {exc.strerror}") from None
    root = repository or default_repository()
    config = BenchConfig(
        url=url or "", model=model, protocol=protocol, payload=payload,  # type: ignore[arg-type]
        grpc_url=grpc_url, image=data, rows=rows, seconds=seconds, warmup_s=warmup,
        concurrency=closed, rates=rates, endpoint=endpoint,
        image_as=image_as, field=field,  # type: ignore[arg-type]
    )  # fmt: skip
    if url is None:
        pull_named_zoo_models(root, [model])
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
        raise ConfigError(f"cannot read --image {image}: {exc.strerror}") from None
    load = BenchConfig(
        url="", model=model, payload=payload, image=data, seconds=seconds,  # type: ignore[arg-type]
        warmup_s=min(1.0, seconds / 2), concurrency=levels(concurrency, int, "integers"),
    )  # fmt: skip
    pull_named_zoo_models(root, [model])
    typer.echo(f"| candidate | img/s within p99 ≤ {p99_target_ms:g} ms | p99 ms | at concurrency |")
    typer.echo("| --- | --- | --- | --- |")
    best, trials = tune_model(
        root,
        model,
        load,
        p99_target_ms,
        cores=cpu_count(),
        batch_sizes=levels(batch_sizes, int, "integers"),
        delays_ms=levels(delays_ms, float, "numbers"),
        write=not dry_run,
        on_trial=lambda t: typer.echo(
            f"| {t.candidate.label()} | {t.images_per_s:.1f} | {t.p99_ms:.1f} | "
            f"{t.concurrency:g} |" + (f" {t.error}" if t.error else "")
        ),
    )
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
    day_images: Annotated[
        str | None,
        typer.Option(help="Simulate a day: this many images over a diurnal curve (5M)."),
    ] = None,
    peak_to_trough: Annotated[
        float, typer.Option(help="Diurnal day: the peak minute's rate over the trough's.")
    ] = 10.0,
    peak_hour: Annotated[float, typer.Option(help="Diurnal day: the hour of the peak.")] = 14.0,
    day_csv: Annotated[
        Path | None, typer.Option(help="Simulate a day from per-minute rates (images/s).")
    ] = None,
    service_ms: Annotated[
        str | None,
        typer.Option(help="Day: one request alone on a fleet instance, MS[@P99_MS] (16@22)."),
    ] = None,
    cold_start_ms: Annotated[
        float | None, typer.Option(help="Day: a serverless cold start (init), in ms.")
    ] = None,
    keep_alive_s: Annotated[
        float, typer.Option(help="Day: how long serverless keeps an idle environment.")
    ] = 600.0,
    target_utilisation: Annotated[
        float, typer.Option(help="Day: the autoscaler's target utilisation.")
    ] = 0.7,
    max_instances: Annotated[int, typer.Option(help="Day: the autoscaler's maximum.")] = 6,
    scale_up_delay_s: Annotated[
        float, typer.Option(help="Day: seconds from load to the autoscaler acting.")
    ] = 60.0,
    scale_down_window_s: Annotated[
        float, typer.Option(help="Day: the autoscaler's scale-down stabilisation window.")
    ] = 300.0,
    startup_s: Annotated[
        float, typer.Option(help="Day: seconds from an instance's start to ready.")
    ] = 30.0,
    day_chart: Annotated[
        Path | None, typer.Option(help="Day: write a PNG of instances, p99 and cost.")
    ] = None,
) -> None:
    """Monthly cost of each deployment option from measured capacity, a dated price table
    and traffic; the crossover volumes; a chart. With --day-images or --day-csv: a day
    simulated minute by minute, an autoscaled fleet beside serverless."""
    from tensorgate.plan import crossovers, default_prices, load_prices
    from tensorgate.plan.cost import Traffic
    from tensorgate.plan.prices import default_text
    from tensorgate.plan.report import (
        decades,
        gather_capacities,
        parse_count,
        parse_volumes,
        render,
        sweep,
    )

    if write_prices is not None:
        if write_prices.exists():
            raise ConfigError(f"{write_prices} exists; choose another path")
        write_prices.write_text(default_text(), encoding="utf-8")
        typer.echo(
            f"wrote {write_prices}: edit the prices and the date, then --prices {write_prices}"
        )
        return
    if images_per_month is None and day_images is None and day_csv is None:
        raise ConfigError("give --images-per-month (e.g. 50M), or a day: --day-images or --day-csv")
    table = load_prices(prices) if prices else default_prices()
    capacities = gather_capacities(table, measured, throughput or [], latency or [])
    if day_images is not None or day_csv is not None:
        from tensorgate.plan.autoscale import ScalingRule
        from tensorgate.plan.day import Day
        from tensorgate.plan.dayreport import DayInputs, simulate_day

        day = (
            Day.from_csv(day_csv)
            if day_csv is not None
            else Day.diurnal(parse_count(day_images or "0"), peak_to_trough, peak_hour)
        )
        rule = ScalingRule(
            target_utilisation, min_instances, max_instances, scale_up_delay_s,
            scale_down_window_s, startup_s,
        )  # fmt: skip
        inputs = DayInputs(day, rule, service_ms, cold_start_ms, keep_alive_s, p99_target_ms)
        result = simulate_day(table, capacities, inputs)
        for line in result.lines:
            typer.echo(line)
        if day_chart is not None:
            from tensorgate.plan.chart import day_chart as draw_day

            draw_day(day_chart, day, result.fleet, result.serverless, p99_target_ms, table.currency)
            typer.echo(f"\nchart: {day_chart}")
        if images_per_month is None:
            return
        typer.echo("")
    assert images_per_month is not None
    low, high = parse_volumes(volumes)
    traffic = Traffic(
        parse_count(images_per_month), peak_to_average, headroom, min_instances, p99_target_ms
    )
    crossings = crossovers(table, capacities, traffic, [low, high])
    for line in render(table, capacities, traffic, decades(low, high), crossings):
        typer.echo(line)
    if chart is not None:
        from tensorgate.plan.chart import cost_chart

        cost_chart(chart, table, capacities, traffic, sweep(low, high), crossings)
        typer.echo(f"\nchart: {chart}")
