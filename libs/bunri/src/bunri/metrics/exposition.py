"""What a `/metrics` scrape returns: this process's metrics, or every process's when several
share a multiprocess directory (the AI worker's pool children), plus collectors that read their
figures at scrape time (the journal's)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence

from prometheus_client import REGISTRY, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from bunri.metrics.multiprocess import MULTIPROCESS_DIR_VARIABLE, forget_dead_processes

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _Together:
    """Several collectors read as one registry, without registering anything anywhere."""

    def __init__(self, collectors: Iterable[Collector]) -> None:
        self._collectors = list(collectors)

    def collect(self) -> Iterator[Metric]:
        for collector in self._collectors:
            yield from collector.collect()


def render_metrics(extra: Sequence[Collector] = ()) -> bytes:
    """The Prometheus text format of everything this process should report."""
    directory = os.environ.get(MULTIPROCESS_DIR_VARIABLE)
    if directory:
        forget_dead_processes(directory)
        processes: Collector = MultiProcessCollector(None, path=directory)  # type: ignore[no-untyped-call]
    else:
        processes = REGISTRY
    return generate_latest(_Together([processes, *extra]))
