"""A worker's own small HTTP server: `/metrics` for Prometheus and `/healthz`, which answers from
the same heartbeat as `bunri worker alive` (a busy worker passes; a stuck consumer loop fails).

A thread of the worker's main process (a green thread under eventlet); the pool children never
serve.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client.registry import Collector

from bunri.logging import get_logger
from bunri.metrics.exposition import CONTENT_TYPE, render_metrics

log = get_logger(__name__)

_NOT_FOUND = b'{"error":{"code":"not_found","message":"Only /metrics and /healthz are here."}}'

# Seconds since the last heartbeat, or None if there is none.
HeartbeatAge = Callable[[], float | None]


def serve_worker_metrics(
    port: int,
    *,
    heartbeat_age: HeartbeatAge,
    max_heartbeat_age: float,
    collectors: Sequence[Collector] = (),
    host: str = "0.0.0.0",  # noqa: S104 (scraped from outside the container)
) -> ThreadingHTTPServer:
    """Start serving on `port` in a daemon thread; the server is returned to be shut down."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._answer(200, CONTENT_TYPE, render_metrics(collectors))
            elif path == "/healthz":
                age = heartbeat_age()
                healthy = age is not None and age <= max_heartbeat_age
                body = {"status": "ok" if healthy else "stale", "heartbeat_age_seconds": age}
                self._answer(200 if healthy else 503, "application/json", json.dumps(body).encode())
            else:
                self._answer(404, "application/json", _NOT_FOUND)

        def _answer(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # a scrape every few seconds is not worth a log line

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="metrics-server", daemon=True)
    thread.start()
    log.info("metrics served", port=port)
    return server
