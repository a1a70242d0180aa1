"""The performance report of one `make bench` run: the figures (a JSON-able dict, as
`bench.suite` gathers them) turned into one Markdown table, with each target checked, and PNG
plots. Pure rendering: it measures nothing, so a test can feed it figures of its own."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Figures = dict[str, Any]

TARGETS = ("bunri", "naive", "synchronous")
TARGET_NAMES = {"bunri": "Bunri", "naive": "naive queued", "synchronous": "synchronous"}
README_START = "<!-- bench-table:start (written by `make bench`) -->"
README_END = "<!-- bench-table:end -->"

# The targets of issue 7, each a check of the figures.
ACCEPT_30_P50_MS = 8.0
ACCEPT_30_P99_MS = 25.0
ACCEPT_100_P99_MS = 60.0
THROUGHPUT_OVER_NAIVE = 4.0
BATCHING_GAIN = 2.5
POOL_MEMORY_RATIO = 1.5
# DESIGN.md section 10: a profile read, the cache warm; a character read likewise.
PROFILE_READ_P99_MS = 15.0
CHARACTER_READ_P99_MS = 15.0
# The location issue's: nearby searches answered from the cache, and how fast those are.
LOCATION_HIT_RATE = 0.90
LOCATION_HIT_P99_MS = 15.0


@dataclass(frozen=True)
class Row:
    measure: str
    cells: tuple[str, ...]  # Bunri, naive queued, synchronous
    target: str = ""
    met: bool | None = None  # None: no target

    def markdown(self) -> str:
        verdict = "" if self.met is None else ("met" if self.met else "**missed**")
        return f"| {self.measure} | {' | '.join(self.cells)} | {self.target} | {verdict} |"


def accept_run(figures: Figures, target: str, label: str) -> dict[str, float] | None:
    for run in figures["accept"].get(target, []):
        if run["label"] == label:
            return dict(run)
    return None


def _latency(run: dict[str, float] | None, *keys: str) -> str:
    if run is None:
        return "—"
    text = " / ".join(_ms(run[key]) for key in keys)
    if run["throughput"] < run.get("rate", 0) * 0.95:
        text += f" (serves {run['throughput']:.0f}/s)"
    if run["errors"]:
        text += f" ({run['errors']:.0f} failed or timed out)"
    return text


def _ms(value: float) -> str:
    return f"{value:,.0f} ms" if value >= 100 else f"{value:.1f} ms"


def rows(figures: Figures) -> list[Row]:
    return [
        *_accept_rows(figures),
        *_e2e_rows(figures),
        *_ai_rows(figures),
        *_storage_rows(figures),
        *_profile_rows(figures),
        *_character_rows(figures),
        *_location_rows(figures),
    ]


def _accept_rows(figures: Figures) -> list[Row]:
    rates = figures["accept_rates"]
    result = []
    for rate in rates:
        label = f"open loop {rate:g}/s"
        runs = [accept_run(figures, target, label) for target in TARGETS]
        row_target, met = "", None
        bunri = runs[0]
        if rate == 30 and bunri is not None:
            row_target = f"p50 ≤ {ACCEPT_30_P50_MS:g} ms, p99 ≤ {ACCEPT_30_P99_MS:g} ms"
            met = bunri["p50"] <= ACCEPT_30_P50_MS and bunri["p99"] <= ACCEPT_30_P99_MS
        elif rate == 100 and bunri is not None:
            row_target = f"p99 ≤ {ACCEPT_100_P99_MS:g} ms"
            met = bunri["p99"] <= ACCEPT_100_P99_MS
        cells = tuple(_latency(run, "p50", "p99", "p999") for run in runs)
        measure = f"accept, {rate:g} uploads/s: p50 / p99 / p99.9"
        result.append(Row(measure, cells, row_target, met))
    label = f"closed loop, {figures['accept_clients']} clients"
    closed = [accept_run(figures, target, label) for target in TARGETS]
    if closed[0] is not None:
        cells = tuple("—" if run is None else f"{run['throughput']:.0f}/s" for run in closed)
        row_target, met = "", None
        if closed[1] is not None:
            ratio = closed[0]["throughput"] / closed[1]["throughput"]
            row_target = f"≥ {THROUGHPUT_OVER_NAIVE:g}x naive (here {ratio:.1f}x)"
            met = ratio >= THROUGHPUT_OVER_NAIVE
        result.append(Row(f"accept, most uploads/s ({label})", cells, row_target, met))
    return result


def _e2e_rows(figures: Figures) -> list[Row]:
    result = []
    for run in figures.get("e2e", []):
        text = f"p50 {_ms(run['p50'])}, p99 {_ms(run['p99'])}" if run["completed"] else "none"
        unfinished = run["failed"] + run["unfinished"]
        if unfinished:
            text += f" ({run['failed']} failed, {run['unfinished']} unfinished)"
        measure = f"end to end, {run['rate']:g} scans/s: upload → `completed` (model ~1 ms)"
        result.append(Row(measure, (text, "—", "—")))
    return result


def batching_gains(ai: Figures) -> tuple[float, float, int]:
    """(best batched worker throughput / one at a time, best forward pass / batch 1, the batch
    size of the latter)."""
    alone = ai["one_at_a_time"]["images_per_second"]
    worker = max(run["images_per_second"] for run in ai["batched"]) / alone
    forward = {int(size): rate for size, rate in ai["forward_pass"].items()}
    best = max(forward, key=lambda size: forward[size])
    return worker, forward[best] / forward[min(forward)], best


def _ai_rows(figures: Figures) -> list[Row]:
    ai = figures.get("ai")
    if not ai:
        return []
    alone = ai["one_at_a_time"]
    result = [
        Row(
            f"AI worker, one image at a time ({alone['clients']} children, 1 thread each, "
            f"{ai.get('number_format', 'float32')})",
            (f"{alone['images_per_second']:.0f} images/s, p99 {_ms(alone['p99'])}", "—", "—"),
        )
    ]
    for run in ai["batched"]:
        gain = run["images_per_second"] / alone["images_per_second"]
        result.append(
            Row(
                f"AI worker, dynamic batching B ≤ {run['max_batch']}",
                (
                    f"{run['images_per_second']:.0f} images/s ({gain:.2f}x), p99 {_ms(run['p99'])}",
                    "—",
                    "—",
                ),
            )
        )
    worker_gain, forward_gain, best = batching_gains(ai)
    forward = {int(size): rate for size, rate in ai["forward_pass"].items()}
    result.append(
        Row(
            "AI worker, batching gain (best batched / one at a time)",
            (f"{worker_gain:.2f}x", "—", "—"),
            f"≥ {BATCHING_GAIN:g}x",
            worker_gain >= BATCHING_GAIN,
        )
    )
    result.append(
        Row(
            f"AI model's forward pass, batch {best} / batch 1 (all cores)",
            (
                f"{forward_gain:.2f}x ({forward[min(forward)]:.0f} → {forward[best]:.0f} images/s)",
                "—",
                "—",
            ),
            f"≥ {BATCHING_GAIN:g}x",
            forward_gain >= BATCHING_GAIN,
        )
    )
    memory = ai["memory"]
    ratio = memory["pool_pss_mib"] / memory["one_child_rss_mib"]
    result.append(
        Row(
            f"AI prefork pool, PSS of parent + {memory['pool_processes'] - 1} children / one "
            "child's RSS",
            (
                f"{ratio:.2f}x ({memory['pool_pss_mib']:.0f} / "
                f"{memory['one_child_rss_mib']:.0f} MiB; the inference process beside them "
                f"{memory['inference_pss_mib']:.0f} MiB)",
                "—",
                "—",
            ),
            f"≤ {POOL_MEMORY_RATIO:g}x",
            ratio <= POOL_MEMORY_RATIO,
        )
    )
    return result


def _storage_rows(figures: Figures) -> list[Row]:
    return [
        Row(
            f"storage worker, {run['pool']} c={run['concurrency']}, "
            f"S3 +{run['s3_latency_ms']:g} ms",
            (
                f"{run['images_per_second']:.1f} images/s, {run['cpu_ms_per_image']:.0f} ms CPU "
                f"an image, peak PSS {run['peak_pss_mib']:.0f} MiB",
                "—",
                "—",
            ),
        )
        for run in figures.get("storage", [])
    ]


def _profile_rows(figures: Figures) -> list[Row]:
    run = figures.get("profile")
    if not run:
        return []
    return [
        Row(
            f"profile read p50/p99 at {run['rate']:g}/s (warm cache)",
            (_latency(run, "p50", "p99"), "—", "—"),
            f"p99 ≤ {PROFILE_READ_P99_MS:g} ms",
            run["p99"] <= PROFILE_READ_P99_MS and not run["errors"],
        )
    ]


def _character_rows(figures: Figures) -> list[Row]:
    character = figures.get("character")
    if not character:
        return []
    result = []
    read = character.get("read")
    if read:
        result.append(
            Row(
                f"character read p50/p99 at {read['rate']:g}/s (warm cache, "
                f"{character['users']:,} users)",
                (_latency(read, "p50", "p99"), "—", "—"),
                f"p99 ≤ {CHARACTER_READ_P99_MS:g} ms",
                read["p99"] <= CHARACTER_READ_P99_MS and not read["errors"],
            )
        )
    claim, second = character.get("claim"), character.get("second_claim")
    if claim and second:
        text = _latency(claim, "p50", "p99")
        text += f"; second claim: 409 {second['already_claimed']:,} of {second['n']:,}"
        result.append(
            Row(
                f"mission claim p50/p99 at {claim['rate']:g}/s (each user once)",
                (text, "—", "—"),
            )
        )
    campaign = character.get("campaign")
    if campaign:
        text = (
            f"{campaign['users_per_second']:,.0f} users/s ({campaign['seconds']:.1f} s"
            f"{'' if campaign['verified'] else '; awards do not add up'})"
        )
        result.append(
            Row(
                f"reward campaign for {campaign['users']:,} users (character worker "
                f"c={campaign['concurrency']}, chunks of 1,000)",
                (text, "—", "—"),
            )
        )
    return result


def _location_rows(figures: Figures) -> list[Row]:
    location = figures.get("location")
    if not location:
        return []
    measured, hour = location["measured"], location["hour"]
    hits, misses = measured["hits"], measured["misses"]
    text = f"{_ms(hits['p50'])} / {_ms(hits['p99'])}"
    if measured["errors"]:
        text += f" ({measured['errors']:.0f} failed or timed out)"
    rate = (
        f"{measured['hit_rate']:.1%} (misses: p50 / p99 {_ms(misses['p50'])} / "
        f"{_ms(misses['p99'])})"
    )
    cold = hour.get("cold") or {}
    if cold.get("n"):
        rate += (
            f"; cold start (the hour's first {cold['seconds']:g} s, the cache empty) "
            f"{cold['hit_rate']:.1%}"
        )
    calls = (
        f"{hour['kakao_calls']:,} / {hour['kakao_without_cache']:,} "
        f"({hour['saved_share']:.0%} saved); the measured {measured['seconds']:g} s: "
        f"{measured['kakao_calls']:,} for its new keys / {measured['kakao_without_cache']:,}"
    )
    return [
        Row(
            f"location search p50/p99 on cache hits at {measured['rate']:g}/s "
            f"({location['people']:,} people in 6 cities, the cache warm)",
            (text, "—", "—"),
            f"p99 ≤ {LOCATION_HIT_P99_MS:g} ms",
            hits["p99"] <= LOCATION_HIT_P99_MS and not measured["errors"],
        ),
        Row(
            f"location cache hit rate, {measured['seconds']:g} s after {hour['seconds'] / 60:g} "
            f"min of the same people's searches ({hour['searches']:,}, replayed one a key)",
            (rate, "—", "—"),
            f"≥ {LOCATION_HIT_RATE:.0%}",
            measured["hit_rate"] >= LOCATION_HIT_RATE,
        ),
        Row(
            f"location, Kakao searches made / without the cache (the {hour['seconds'] / 60:g} min "
            "before, Kakao 0.2-0.5 s)",
            (calls, "—", "—"),
        ),
    ]


def markdown_table(figures: Figures) -> str:
    header = "| measure | Bunri | naive queued | synchronous | target | |"
    lines = [header, "|---|---|---|---|---|---|"]
    lines += [row.markdown() for row in rows(figures)]
    return "\n".join(lines)


def summary(figures: Figures) -> str:
    machine = figures["machine"]
    text = (
        f"One run of `make bench` ({figures['finished']}, {figures['duration_s'] / 60:.1f} min, "
        f"commit {machine['commit']}) on {machine['cpus']} vCPUs ({machine['cpu']}), "
        f"Python {machine['python']}; PostgreSQL, RabbitMQ, Redis and an S3 stand-in on the "
        "same machine. Baselines: `bench/baselines` (naive queued: FastAPI, file on disk, ORM "
        "row, Celery `.delay()` on Redis, no token check; synchronous: the whole job in the "
        "request), one uvicorn worker each, like scan-api."
    )
    profile = figures.get("profile") or {}
    if profile.get("finished", figures["finished"]) != figures["finished"]:
        text += (
            " The profile read was measured on its own on the same machine "
            f"(`make bench-profile`, {profile['finished']}, commit {profile['commit']})."
        )
    character = figures.get("character") or {}
    if character.get("finished", figures["finished"]) != figures["finished"]:
        text += (
            " The character rows were measured on their own on the same machine "
            f"(`make bench-character`, {character['finished']}, commit {character['commit']})."
        )
    location = figures.get("location") or {}
    if location.get("finished", figures["finished"]) != figures["finished"]:
        text += (
            " The location rows were measured on their own on the same machine "
            f"(`make bench-location`, {location['finished']}, commit {location['commit']})."
        )
    return text


def markdown_report(figures: Figures, plots: list[str]) -> str:
    lines = ["# Benchmarks", "", summary(figures), "", markdown_table(figures), ""]
    lines += [f"![{Path(plot).stem}]({plot})" for plot in plots]
    return "\n".join(lines) + "\n"


def update_readme(readme: Path, figures: Figures, results_folder: str) -> None:
    """Put the table between the README's markers, with links to the report and its plots."""
    text = readme.read_text()
    pattern = re.compile(re.escape(README_START) + ".*?" + re.escape(README_END), re.DOTALL)
    if not pattern.search(text):
        raise ValueError(f"{readme} has no {README_START!r} ... {README_END!r} section")
    block = "\n".join(
        [
            README_START,
            summary(figures),
            f"Plots and the raw figures: [`{results_folder}/`]({results_folder}/latest.md).",
            "",
            markdown_table(figures),
            README_END,
        ]
    )
    readme.write_text(pattern.sub(lambda _: block, text))


def plot(figures: Figures, folder: Path) -> list[str]:
    """Write the PNG plots into `folder`; their file names."""
    import matplotlib

    matplotlib.use("Agg")
    written = []
    for name, draw in PLOTS.items():
        if draw(figures, folder / name):
            written.append(name)
    return written


def _plot_accept(figures: Figures, path: Path) -> bool:
    import matplotlib.pyplot as plt

    rates = figures["accept_rates"]
    figure, (latency, throughput) = plt.subplots(1, 2, figsize=(12, 4.5))
    width = 0.8 / len(TARGETS)
    for index, target in enumerate(TARGETS):
        runs = [accept_run(figures, target, f"open loop {rate:g}/s") for rate in rates]
        positions = [r + (index - 1) * width for r in range(len(rates))]
        p50 = [run["p50"] if run else 0 for run in runs]
        p99 = [run["p99"] if run else 0 for run in runs]
        latency.bar(positions, p99, width, alpha=0.35, color=f"C{index}")
        latency.bar(positions, p50, width, color=f"C{index}", label=TARGET_NAMES[target])
    latency.set_yscale("log")
    latency.set_xticks(range(len(rates)), [f"{rate:g}/s" for rate in rates])
    latency.set_ylabel("ms from scheduled start (solid p50, light p99)")
    latency.set_title("accept latency, open loop")
    latency.legend()
    label = f"closed loop, {figures['accept_clients']} clients"
    closed = [accept_run(figures, target, label) for target in TARGETS]
    throughput.bar(
        [TARGET_NAMES[t] for t in TARGETS],
        [run["throughput"] if run else 0 for run in closed],
        color=[f"C{i}" for i in range(len(TARGETS))],
    )
    throughput.set_ylabel("uploads/s")
    throughput.set_title(label)
    return _saved(figure, path)


def _plot_ai(figures: Figures, path: Path) -> bool:
    import matplotlib.pyplot as plt

    ai = figures.get("ai")
    if not ai:
        return False
    forward = {int(size): rate for size, rate in ai["forward_pass"].items()}
    figure, axes = plt.subplots(figsize=(7, 4.5))
    axes.plot(list(forward), list(forward.values()), "o-", label="forward pass alone, all cores")
    batched = ai["batched"]
    axes.plot(
        [run["max_batch"] for run in batched],
        [run["images_per_second"] for run in batched],
        "s-",
        label="AI worker, dynamic batching (B ≤ x)",
    )
    axes.axhline(
        ai["one_at_a_time"]["images_per_second"],
        color="C2",
        linestyle="--",
        label="AI worker, one image at a time",
    )
    axes.set_xscale("log", base=2)
    axes.set_xticks(list(forward), [str(size) for size in forward])
    axes.set_xlabel("batch size")
    axes.set_ylabel("images/s")
    axes.set_title(f"AI worker, {ai['model']} model, {figures['machine']['cpus']} vCPUs")
    axes.set_ylim(bottom=0)
    axes.legend()
    return _saved(figure, path)


def _plot_storage(figures: Figures, path: Path) -> bool:
    import matplotlib.pyplot as plt

    runs = figures.get("storage")
    if not runs:
        return False
    names = [f"{run['pool']}\nc={run['concurrency']}" for run in runs]
    figure, (speed, memory) = plt.subplots(1, 2, figsize=(10, 4))
    speed.bar(names, [run["images_per_second"] for run in runs], color="C0")
    speed.set_ylabel("images/s")
    speed.set_title(f"storage worker, S3 +{runs[0]['s3_latency_ms']:g} ms")
    memory.bar(names, [run["peak_pss_mib"] for run in runs], color="C1")
    memory.set_ylabel("peak PSS, MiB (all processes)")
    memory.set_title("storage worker memory")
    return _saved(figure, path)


def _plot_e2e(figures: Figures, path: Path) -> bool:
    import matplotlib.pyplot as plt

    runs = [run for run in figures.get("e2e", []) if run["completed"]]
    if not runs:
        return False
    figure, axes = plt.subplots(figsize=(7, 4))
    names = [f"{run['rate']:g} scans/s" for run in runs]
    bottom = [0.0] * len(runs)
    for stage in runs[0]["stages"]:
        values = [run["stages"].get(stage, {}).get("p50", 0.0) for run in runs]
        axes.bar(names, values, bottom=bottom, label=stage)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    axes.set_ylabel("ms, p50 of each stage")
    axes.set_title("end to end, stage by stage")
    axes.legend()
    return _saved(figure, path)


def _saved(figure: Any, path: Path) -> bool:
    import matplotlib.pyplot as plt

    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return True


PLOTS: dict[str, Callable[[Figures, Path], bool]] = {
    "accept.png": _plot_accept,
    "end_to_end.png": _plot_e2e,
    "ai_batching.png": _plot_ai,
    "storage_pools.png": _plot_storage,
}
