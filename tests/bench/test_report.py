"""bench.report: the table `make bench` writes, from figures made up here (nothing measured)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench import report

ROOT = Path(__file__).resolve().parents[2]


def accept(
    label: str, p50: float, p99: float, throughput: float, rate: float = 0
) -> dict[str, Any]:
    run = {"label": label, "n": 100, "errors": 0, "p50": p50, "p99": p99, "p999": p99 * 2}
    run["throughput"] = throughput
    return run | ({"rate": rate} if rate else {})


def figures() -> dict[str, Any]:
    def target(p50: float, closed: float, served_at_100: float = 100.0) -> list[dict[str, Any]]:
        return [
            accept("open loop 30/s", p50, p50 * 2, 30.0, 30),
            accept("open loop 100/s", p50, p50 * 3, served_at_100, 100),
            accept("closed loop, 50 clients", 200.0, 400.0, closed),
        ]

    return {
        "machine": {"cpus": 2, "cpu": "a CPU", "python": "3.11.7", "commit": "abc1234"},
        "finished": "2026-12-05 12:00 UTC",
        "duration_s": 600.0,
        "accept_rates": [30.0, 100.0],
        "accept_clients": 50,
        "accept": {
            "bunri": target(6.0, 400.0),
            "naive": target(7.0, 100.0),
            "synchronous": target(50.0, 30.0, served_at_100=38.0),
        },
        "e2e": [
            {
                "rate": 5.0,
                "completed": 50,
                "failed": 0,
                "unfinished": 0,
                "p50": 120.0,
                "p99": 150.0,
                "stages": {"queued → storing": {"p50": 5.0, "p99": 9.0}},
            }
        ],
        "ai": {
            "model": "local",
            "one_at_a_time": {"clients": 2, "images_per_second": 100.0, "p50": 9.0, "p99": 11.0},
            "batched": [
                {"clients": 8, "images_per_second": 260.0, "p50": 30.0, "p99": 40.0, "max_batch": 8}
            ],
            "forward_pass": {"1": 100.0, "8": 200.0, "32": 300.0},
            "memory": {
                "pool_processes": 5,
                "pool_pss_mib": 300.0,
                "inference_pss_mib": 50.0,
                "one_child_rss_mib": 250.0,
            },
        },
        "storage": [
            {
                "pool": "eventlet",
                "concurrency": 100,
                "s3_latency_ms": 20.0,
                "images": 80,
                "stored": 80,
                "images_per_second": 29.5,
                "cpu_ms_per_image": 38.0,
                "peak_pss_mib": 340.0,
                "peak_rss_mib": 360.0,
            }
        ],
        "profile": {
            "rate": 300.0,
            "seconds": 20.0,
            "n": 6000,
            "errors": 0,
            "p50": 2.0,
            "p99": 9.5,
            "p999": 20.0,
            "throughput": 300.0,
        },
        "character": {
            "users": 1000,
            "read": {
                "rate": 300.0,
                "seconds": 20.0,
                "n": 6000,
                "errors": 0,
                "p50": 1.5,
                "p99": 4.0,
                "p999": 30.0,
                "throughput": 300.0,
                "cache_fills": 0,
            },
            "claim": {
                "rate": 50.0,
                "n": 900,
                "errors": 0,
                "p50": 8.0,
                "p99": 20.0,
                "p999": 25.0,
                "throughput": 50.0,
            },
            "second_claim": {"rate": 50.0, "n": 1000, "already_claimed": 1000},
            "campaign": {
                "users": 100_000,
                "concurrency": 2,
                "seconds": 50.0,
                "users_per_second": 2000.0,
                "verified": True,
            },
        },
    }


def row(table: str, starts: str) -> list[str]:
    [line] = [line for line in table.splitlines() if line.startswith(f"| {starts}")]
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_each_target_is_checked_against_the_figures() -> None:
    table = report.markdown_table(figures())
    assert row(table, "accept, 30 uploads/s")[1:] == [
        "6.0 ms / 12.0 ms / 24.0 ms",
        "7.0 ms / 14.0 ms / 28.0 ms",
        "50.0 ms / 100 ms / 200 ms",
        "p50 ≤ 8 ms, p99 ≤ 25 ms",
        "met",
    ]
    assert row(table, "accept, 100 uploads/s")[3].endswith("(serves 38/s)")
    assert row(table, "accept, most uploads/s")[4:] == ["≥ 4x naive (here 4.0x)", "met"]
    assert row(table, "AI worker, batching gain")[1:2] + row(table, "AI worker, batching")[5:] == [
        "2.60x",
        "met",
    ]
    assert row(table, "AI model's forward pass, batch 32")[1].startswith("3.00x")
    assert row(table, "AI prefork pool")[1:2] + row(table, "AI prefork pool")[5:] == [
        "1.20x (300 / 250 MiB; the inference process beside them 50 MiB)",
        "met",
    ]


def test_the_profile_read_is_checked_against_its_target() -> None:
    table = report.markdown_table(figures())
    assert row(table, "profile read p50/p99 at 300/s (warm cache)")[1:] == [
        "2.0 ms / 9.5 ms",
        "—",
        "—",
        "p99 ≤ 15 ms",
        "met",
    ]
    slow = figures()
    slow["profile"]["p99"] = 16.0
    assert row(report.markdown_table(slow), "profile read")[5] == "**missed**"
    failing = figures()
    failing["profile"]["errors"] = 3
    cells = row(report.markdown_table(failing), "profile read")
    assert cells[1].endswith("(3 failed or timed out)")
    assert cells[5] == "**missed**"
    without = figures()
    del without["profile"]
    assert "profile read" not in report.markdown_table(without)


def test_a_profile_read_measured_on_its_own_says_so() -> None:
    assert "on its own" not in report.summary(figures())
    separate = figures()
    separate["profile"] |= {"finished": "2026-12-06 09:00 UTC", "commit": "def5678"}
    assert "measured on its own" in report.summary(separate)
    assert "2026-12-06 09:00 UTC, commit def5678" in report.summary(separate)


def test_the_character_rows() -> None:
    table = report.markdown_table(figures())
    assert row(table, "character read p50/p99 at 300/s (warm cache, 1,000 users)")[1:] == [
        "1.5 ms / 4.0 ms",
        "—",
        "—",
        "p99 ≤ 15 ms",
        "met",
    ]
    assert row(table, "mission claim p50/p99 at 50/s")[1] == (
        "8.0 ms / 20.0 ms; second claim: 409 1,000 of 1,000"
    )
    assert row(table, "reward campaign for 100,000 users (character worker c=2")[1] == (
        "2,000 users/s (50.0 s)"
    )
    slow = figures()
    slow["character"]["read"]["p99"] = 15.5
    assert row(report.markdown_table(slow), "character read")[5] == "**missed**"
    unverified = figures()
    unverified["character"]["campaign"]["verified"] = False
    assert row(report.markdown_table(unverified), "reward campaign")[1].endswith(
        "; awards do not add up)"
    )
    without = figures()
    del without["character"]["campaign"]
    assert "reward campaign" not in report.markdown_table(without)
    assert "character read" in report.markdown_table(without)
    del without["character"]
    assert "character read" not in report.markdown_table(without)


def test_character_rows_measured_on_their_own_say_so() -> None:
    assert "on their own" not in report.summary(figures())
    separate = figures()
    separate["character"] |= {"finished": "2026-12-07 20:00 UTC", "commit": "def5678"}
    assert "`make bench-character`, 2026-12-07 20:00 UTC, commit def5678" in report.summary(
        separate
    )


def test_failed_requests_are_shown() -> None:
    failing = figures()
    failing["accept"]["naive"][1]["errors"] = 7
    assert row(report.markdown_table(failing), "accept, 100 uploads/s")[2].endswith(
        "(7 failed or timed out)"
    )


def test_a_missed_target_says_so() -> None:
    slow = figures()
    slow["accept"]["bunri"][0]["p50"] = 8.5
    slow["ai"]["memory"]["pool_pss_mib"] = 400.0
    table = report.markdown_table(slow)
    assert row(table, "accept, 30 uploads/s")[5] == "**missed**"
    assert row(table, "AI prefork pool")[5] == "**missed**"


def test_the_report_and_its_plots_are_written(tmp_path: Path) -> None:
    plots = report.plot(figures(), tmp_path)
    assert sorted(plots) == sorted(report.PLOTS)
    for name in plots:
        assert (tmp_path / name).read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    text = report.markdown_report(figures(), plots)
    assert "![accept](accept.png)" in text
    assert report.markdown_table(figures()) in text


def test_the_readme_gets_the_table_between_its_markers(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"before\n{report.README_START}\nold table\n{report.README_END}\nafter\n")
    report.update_readme(readme, figures(), "bench/results")
    text = readme.read_text()
    assert text.startswith("before\n")
    assert text.endswith("after\n")
    assert "old table" not in text
    assert report.markdown_table(figures()) in text
    report.update_readme(readme, figures(), "bench/results")  # the markers stay: again is the same
    assert readme.read_text() == text


def test_the_repository_readme_has_the_markers() -> None:
    text = (ROOT / "README.md").read_text()
    assert text.count(report.README_START) == 1
    assert text.count(report.README_END) == 1


def test_a_readme_without_markers_is_refused(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("no markers\n")
    with pytest.raises(ValueError, match="has no"):
        report.update_readme(readme, figures(), "bench/results")
