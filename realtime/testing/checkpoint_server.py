"""Test helpers for the checkpoint tests: deterministic tfjs checkpoints and a faulty local HTTP server.

``CheckpointServer`` serves a directory on 127.0.0.1 (random port) in a thread, with HTTP ``Range`` support,
and injects faults per path: a status code (404, 500), a connection dropped after N bytes, a wrong byte, slow
delivery, or a server that ignores ``Range``. Every request is logged (path, Range header) so tests can check
that downloads resume.
"""
from __future__ import annotations

import collections
import http.server
import threading
import time
from pathlib import Path

import numpy as np


def random_weights(seed: int, shapes: dict[str, tuple], int_names=()) -> dict[str, np.ndarray]:
    """Deterministic weights: float32 normal values (and int32 for ``int_names``), in the given order."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in shapes.items():
        if name in int_names:
            out[name] = rng.integers(-1000, 1000, size=shape, dtype=np.int32)
        else:
            out[name] = (rng.standard_normal(shape) * 0.1).astype(np.float32)
    return out


SMALL_SHAPES = {
    "rnn/lstm_cell/kernel": (20, 32),
    "rnn/lstm_cell/bias": (32,),
    "decoder/output/kernel": (8, 5),
    "decoder/output/bias": (5,),
    "global_step": (),
}


class _Handler(http.server.BaseHTTPRequestHandler):
    server_version = "tonehost-test/1"

    def log_message(self, *args):  # quiet
        pass

    def do_GET(self):  # noqa: N802
        srv: CheckpointServer = self.server.owner  # type: ignore[attr-defined]
        path = self.path.split("?", 1)[0]
        rng = self.headers.get("Range")
        with srv.lock:
            srv.log.append((path, rng))
            queue = srv.faults.get(path)
            fault = queue.popleft() if queue else srv.always.get(path)
        if fault and fault[0] == "status":
            self.send_error(fault[1])
            return
        f = srv.root / path.lstrip("/")
        if not f.is_file():
            self.send_error(404)
            return
        data = f.read_bytes()
        if fault and fault[0] == "corrupt":
            b = bytearray(data)
            b[fault[1]] ^= 0x01
            data = bytes(b)
        start = 0
        if rng and rng.startswith("bytes=") and not (fault and fault[0] == "ignore_range"):
            start = int(rng[6:].split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        if fault and fault[0] == "drop":
            self.wfile.write(body[:fault[1]])
            self.wfile.flush()
            self.close_connection = True
            return
        if fault and fault[0] == "slow":
            for i in range(0, len(body), 16384):
                self.wfile.write(body[i:i + 16384])
                self.wfile.flush()
                time.sleep(fault[1])
            return
        self.wfile.write(body)


class CheckpointServer:
    """A threaded HTTP server on 127.0.0.1 serving ``root``; ``url`` is its base URL."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.lock = threading.Lock()
        self.log: list[tuple[str, str | None]] = []
        self.faults: dict[str, collections.deque] = {}
        self.always: dict[str, tuple] = {}
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.owner = self  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    def start(self) -> "CheckpointServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)

    def add_fault(self, path: str, *fault) -> None:
        """Apply ``fault`` to the next request of ``path`` (queued: add several for several requests)."""
        with self.lock:
            self.faults.setdefault(path, collections.deque()).append(fault)

    def requests(self, path: str) -> list[str | None]:
        """The Range headers of every request of ``path`` so far."""
        with self.lock:
            return [r for p, r in self.log if p == path]
