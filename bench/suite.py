"""`make bench`: the platform's performance figures, all from one run on this machine.

In turn: the accept path of Bunri and both baselines (bench.accept), the whole pipeline end to
end at a low and a high rate (bench.e2e), the AI worker's dynamic batching and pool memory with
the shipped model (bench.ai_batching), the storage worker's pools against S3 answering
20 ms late (bench.storage_pools), my-api's profile read at 300/s with the cache warm
(bench.profile_read), character-api's read and mission claims and a reward campaign for
100,000 users through the character worker (bench.character), and location-api's nearby searches
by people clustered in six cities, cached by cell, Kakao faked (bench.location). Each prints its
lines as it goes; at the end bench.report writes `bench/results/latest.md` (one table, each
target checked, and the plots beside it), `bench/results/latest.json` (every figure) and puts the
table into the README.

    .venv/bin/python -m bench.suite [--seconds 8] [--images 80] [--no-readme]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import ai_batching, character, e2e, location, profile_read, report
from bench.accept import TARGETS, Result, printer, run_accept
from bench.storage_pools import PoolSetting, run_matrix
from bunri.logging import configure_logging

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
ACCEPT_RATES = [10.0, 30.0, 100.0]
ACCEPT_CLIENTS = 50
E2E_RATES = [5.0, 20.0]
AI_BATCHES = [4, 8, 16]
AI_POOL = 4
STORAGE_POOLS = [PoolSetting("eventlet", 100), PoolSetting("prefork", 4), PoolSetting("threads", 8)]
STORAGE_LATENCY_MS = 20.0
PROFILE_RATE = 300.0
PROFILE_SECONDS = 20.0


def machine() -> dict[str, Any]:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout

    commit = git("rev-parse", "--short", "HEAD").strip()
    if commit and git("status", "--porcelain", "--untracked-files=no").strip():
        commit += " with uncommitted changes"
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "commit": commit or "unknown",
    }


def accept_figures(result: Result) -> dict[str, Any]:
    figures: dict[str, Any] = {
        "label": result.label,
        "n": len(result.latencies_ms),
        "errors": result.errors,
        "p50": statistics.median(result.latencies_ms) if result.latencies_ms else 0.0,
        "p99": result.percentile(0.99),
        "p999": result.percentile(0.999),
        "throughput": result.throughput,
    }
    if result.label.startswith("open loop"):
        figures["rate"] = float(result.label.split()[2].rstrip("/s"))
    return figures


def e2e_figures(result: e2e.RateResult) -> dict[str, Any]:
    def spread(values: list[float]) -> dict[str, float]:
        if not values:
            return {"p50": 0.0, "p99": 0.0}
        return {"p50": statistics.median(values), "p99": e2e.percentile(values, 0.99)}

    return {
        "rate": result.rate,
        "completed": result.completed,
        "failed": result.failed,
        "unfinished": result.unfinished,
        **spread(result.total_ms),
        "stages": {f"{a} → {b}": spread(spans) for (a, b), spans in result.stages_ms.items()},
    }


def ai_figures(figures: ai_batching.AiFigures, model: str) -> dict[str, Any]:
    def throughput(run: ai_batching.ThroughputResult) -> dict[str, Any]:
        return {
            "clients": run.clients,
            "images_per_second": run.images_per_second,
            "p50": statistics.median(run.latencies_ms),
            "p99": run.percentile(0.99),
        }

    alone, *batched = figures.throughput
    return {
        "model": model,
        "number_format": figures.number_format,
        "one_at_a_time": throughput(alone),
        "batched": [
            throughput(run) | {"max_batch": size}
            for run, size in zip(batched, AI_BATCHES, strict=True)
        ],
        "forward_pass": {str(size): rate for size, rate in figures.forward_pass.items()},
        "memory": {
            "pool_processes": figures.memory.pool_processes,
            "pool_pss_mib": figures.memory.pool_pss_mib,
            "inference_pss_mib": figures.memory.inference_pss_mib,
            "one_child_rss_mib": figures.memory.one_child_rss_mib,
        },
    }


def say(line: str) -> None:
    print(line, flush=True)


def run_all(seconds: float, images: int) -> dict[str, Any]:
    began = time.monotonic()
    figures: dict[str, Any] = {
        "machine": machine(),
        "accept_rates": ACCEPT_RATES,
        "accept_clients": ACCEPT_CLIENTS,
        "accept": {},
    }
    say("== accept path (bench.accept)")
    for target in TARGETS:
        results = run_accept(
            target, ACCEPT_RATES, ACCEPT_CLIENTS, seconds, on_result=printer(target)
        )
        figures["accept"][target] = [accept_figures(result) for result in results]
    say("== end to end (bench.e2e)")
    e2e_results = e2e.run_e2e(E2E_RATES, seconds, lambda result: say("\n".join(result.lines())))
    figures["e2e"] = [e2e_figures(result) for result in e2e_results]
    say("== AI worker (bench.ai_batching, the shipped model)")
    ai = ai_batching.run("local", seconds, AI_BATCHES, AI_POOL, on_line=say)
    figures["ai"] = ai_figures(ai, "local")
    say(f"== storage worker pools (bench.storage_pools, S3 +{STORAGE_LATENCY_MS:g} ms)")
    storage = run_matrix(STORAGE_POOLS, [STORAGE_LATENCY_MS], images)
    figures["storage"] = [
        {
            "pool": run.pool,
            "concurrency": run.concurrency,
            "s3_latency_ms": run.s3_latency_ms,
            "images": run.images,
            "stored": run.stored,
            "images_per_second": run.images_per_second,
            "cpu_ms_per_image": run.cpu_ms_per_image,
            "peak_pss_mib": run.peak_pss_mib,
            "peak_rss_mib": run.peak_rss_mib,
        }
        for run in storage
    ]
    say(f"== profile read (bench.profile_read, {PROFILE_RATE:g}/s, warm cache)")
    profile = profile_read.run_profile_read(PROFILE_RATE, PROFILE_SECONDS)
    figures["profile"] = profile_read.figures(profile, PROFILE_RATE, PROFILE_SECONDS)
    say(profile_read.line(figures["profile"]))
    say(f"== character (bench.character, reads at {character.RATE:g}/s, claims, a campaign)")
    figures["character"] = character.run_character(on_line=say)
    say(
        f"== location (bench.location, nearby searches at {location.RATE:g}/s after "
        f"{location.WARM_SECONDS:g} s of warm-up)"
    )
    figures["location"] = location.run_location(on_line=say)
    figures["duration_s"] = time.monotonic() - began
    figures["finished"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return figures


def write(figures: dict[str, Any], folder: Path, readme: Path | None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "latest.json").write_text(json.dumps(figures, indent=1, ensure_ascii=False) + "\n")
    plots = report.plot(figures, folder)
    (folder / "latest.md").write_text(report.markdown_report(figures, plots))
    if readme is not None:
        report.update_readme(readme, figures, folder.relative_to(readme.parent).as_posix())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=8.0, help="per measured load")
    parser.add_argument("--images", type=int, default=80, help="scans per storage-pool run")
    parser.add_argument(
        "--from-json", type=Path, help="write the report from these figures, measuring nothing"
    )
    parser.add_argument("--no-readme", action="store_true", help="leave README.md as it is")
    args = parser.parse_args()
    configure_logging(service="bench", level="WARNING", json=False)
    if args.from_json:
        figures = json.loads(args.from_json.read_text())
    else:
        figures = run_all(args.seconds, args.images)
    write(figures, RESULTS, None if args.no_readme else ROOT / "README.md")
    say(f"== {RESULTS.relative_to(ROOT)}/latest.md")
    say(report.markdown_table(figures))


if __name__ == "__main__":
    main()


def record_section(section: str, figures: dict[str, Any]) -> Path:
    """One benchmark's figures (run on its own) into the last `make bench`'s `section`, and the
    report and README table written again from them."""
    from datetime import UTC, datetime

    latest = RESULTS / "latest.json"
    everything = json.loads(latest.read_text())
    everything[section] = figures | {
        "finished": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": machine()["commit"],
    }
    write(everything, RESULTS, ROOT / "README.md")
    return RESULTS / "latest.md"
