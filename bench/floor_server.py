"""The floor: the least a V2 binary server can do, to measure tensorgate's overhead against.

    .venv/bin/python -m bench.floor_server MODEL.onnx DATATYPE [SESSIONS]

One uvloop protocol on httptools, no framework: it parses the request's JSON header,
views the binary input in place, runs it on a single-thread onnxruntime session in a
thread of its own (one hand-off there, one ``call_soon_threadsafe`` back, as a server
that keeps its event loop free must) and writes the first output back as a binary V2
answer in one ``writelines``. ``SESSIONS`` (default 1) such threads take requests from
one queue, each pinned to a core of its own (as tensorgate pins its instances), one
request at a time: the floor of throughput with a session per core. No limits, checks, batching, metrics or errors: what is
left between its latency and raw onnxruntime's is the machine's (loopback, wake-ups)
and the client's, not a serving layer's. Prints ``{"url": …}`` once it listens.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import sys
import threading
from pathlib import Path
from typing import Any, cast

import httptools
import numpy as np
import uvloop

from bench.serving import session

DTYPES = {"FP32": np.float32, "UINT8": np.uint8}


class FloorProtocol(asyncio.Protocol):
    def __init__(self, calls: queue.SimpleQueue[Any], dtype: Any, shape: tuple[int, ...]) -> None:
        self.calls, self.dtype, self.shape = calls, dtype, shape
        self.parser = httptools.HttpRequestParser(self)
        self.body = bytearray()
        self.header_length = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast("asyncio.Transport", transport)  # uvloop's own class

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"inference-header-content-length":
            self.header_length = int(value)

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        body, self.body = self.body, bytearray()
        request = json.loads(bytes(body[: self.header_length]))
        rows = request["inputs"][0]["shape"][0]
        tensor = np.frombuffer(body, self.dtype, offset=self.header_length)
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.calls.put((loop, future, tensor.reshape(rows, *self.shape[1:])))
        future.add_done_callback(self.answer)

    def answer(self, future: asyncio.Future[np.ndarray]) -> None:
        output = future.result()
        spec = {"name": "logits", "datatype": "FP32", "shape": list(output.shape)}
        header = json.dumps(
            {"outputs": [{**spec, "parameters": {"binary_data_size": output.nbytes}}]}
        ).encode()
        data = output.tobytes()
        self.transport.writelines(
            [
                b"HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\n"
                b"inference-header-content-length: %d\r\ncontent-length: %d\r\n\r\n"
                % (len(header), len(header) + len(data)),
                header,
                data,
            ]
        )


def main() -> None:
    path, datatype = Path(sys.argv[1]), sys.argv[2]
    sessions = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    runners = [session(path) for _ in range(sessions)]
    name = runners[0].get_inputs()[0].name
    shape = tuple(runners[0].get_inputs()[0].shape)
    calls: queue.SimpleQueue[Any] = queue.SimpleQueue()
    cores = sorted(os.sched_getaffinity(0))

    def infer(index: int) -> None:
        if sessions > 1:
            os.sched_setaffinity(0, {cores[index % len(cores)]})
        runner = runners[index]
        while True:
            loop, future, tensor = calls.get()
            output = runner.run(None, {name: tensor})[0]
            loop.call_soon_threadsafe(future.set_result, output)

    for index in range(sessions):
        threading.Thread(target=infer, args=(index,), daemon=True).start()

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: FloorProtocol(calls, DTYPES[datatype], shape), "127.0.0.1", 0
        )
        port = server.sockets[0].getsockname()[1]
        print(json.dumps({"url": f"http://127.0.0.1:{port}"}), flush=True)
        await server.serve_forever()

    uvloop.run(serve())


if __name__ == "__main__":
    main()
