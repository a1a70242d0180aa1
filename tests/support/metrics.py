"""Reading Prometheus metrics in tests: every sample of a /metrics page, over HTTP or from an app
behind an in-process client, and the sum of the samples of a name with some labels."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str) -> Samples:
    """Every sample of a /metrics page over HTTP: (name, labels) → value."""
    return samples_of(httpx.get(url, timeout=10))


async def scrape_in_process(client: httpx.AsyncClient) -> Samples:
    """The same, from an app behind an in-process client (the test process's own figures)."""
    return samples_of(await client.get("/metrics"))


def samples_of(response: httpx.Response) -> Samples:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def sample(samples: Samples, name: str, **labels: str) -> float:
    """The sum of `name`'s samples whose labels include `labels` (0 if there is none)."""
    wanted = set(labels.items())
    return sum(
        value
        for (sample_name, sample_labels), value in samples.items()
        if sample_name == name and wanted <= sample_labels
    )
