"""`bunri scan PHOTO`: upload, follow the progress live, print what it is and how to dispose
of it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from bunri_programs.client.api import BunriClient

STATUS_LABELS = {
    "queued": "대기 queued",
    "storing": "저장 중 storing",
    "stored": "저장됨 stored",
    "analyzing": "분석 중 analyzing",
    "completed": "완료 completed",
    "failed": "실패 failed",
}


def run_scan(client: BunriClient, photo: Path, note: str | None, console: Console) -> int:
    accepted = client.submit(photo, note)
    scan_id = accepted["scan_id"]
    console.print(f"[dim]scan {scan_id} accepted[/dim]")
    final: dict[str, Any] | None = None
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        bar = progress.add_task(STATUS_LABELS["queued"], total=100)
        for event in client.events(scan_id):
            progress.update(
                bar,
                completed=event.data["progress"],
                description=STATUS_LABELS.get(event.event, event.event),
            )
            if "scan" in event.data:
                final = event.data["scan"]
    final = final or client.scan(scan_id)
    if final["status"] == "failed":
        error = final["error"]
        console.print(
            Panel(
                f"{error['message']}\n[dim]{error['code']}[/dim]",
                title="스캔 실패 · Scan failed",
                border_style="red",
            )
        )
        return 1
    print_result(final["result"], console)
    return 0


def print_result(result: dict[str, Any], console: Console) -> None:
    found = result["classification"]
    guide = result["guide"]
    what = " / ".join(part for part in (found["major"], found["middle"], found["minor"]) if part)
    confidence = f"{found['confidence']:.0%}"
    header = f"[bold]{what}[/bold]  ({confidence})"
    if found["unsure"]:
        others = ", ".join(
            f"{alt['middle']} {alt['confidence']:.0%}" for alt in found["alternatives"]
        )
        header += (
            "\n[yellow]확실하지 않아요 · Not sure: try a closer photo.[/yellow]"
            f"\n[dim]Other possibilities: {others}[/dim]"
        )
    console.print(Panel(header, title="분류 · Classification", border_style="green"))
    print_guide(guide, console)
    model = result["model"]
    console.print(f"[dim]model: {model['backend']} {model['name']}[/dim]")


def print_guide(guide: Mapping[str, Any], console: Console) -> None:
    lines = [f"[bold]{guide['title']}[/bold]  [dim]{guide['title_en']}[/dim]", ""]
    for index, (step, step_en) in enumerate(zip(guide["steps"], guide["steps_en"], strict=True), 1):
        lines.append(f"{index}. {step}\n   [dim]{step_en}[/dim]")
    if guide["cautions"]:
        lines.append("\n[bold]주의 · Cautions[/bold]")
        lines += [
            f"• {ko}\n  [dim]{en}[/dim]"
            for ko, en in zip(guide["cautions"], guide["cautions_en"], strict=True)
        ]
    if guide["not_accepted"]:
        lines.append("\n[bold]안 되는 것 · Not accepted[/bold]")
        lines += [
            f"• {ko}\n  [dim]{en}[/dim]"
            for ko, en in zip(guide["not_accepted"], guide["not_accepted_en"], strict=True)
        ]
    console.print(Panel("\n".join(lines), title="배출 방법 · How to dispose of it"))
