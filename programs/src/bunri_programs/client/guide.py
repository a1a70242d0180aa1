"""`bunri guide NAME`: the guide of the best match for a name, as the search box finds it."""

from __future__ import annotations

from rich.console import Console
from rich.panel import Panel

from bunri.guides.loader import load_taxonomy
from bunri.info.search import search
from bunri_programs.client.scan import print_guide


def show_guide(name: str, console: Console) -> int:
    """0 when something matched, 1 when nothing the guides know goes by `name`."""
    hits = search(name, limit=4)
    if not hits:
        console.print(
            f"[yellow]'{name}': nothing in the guides goes by that name.[/yellow] "
            "Try another word for it, or photograph it with [bold]bunri scan[/bold]."
        )
        return 1
    best, others = hits[0], hits[1:]
    target = best.target
    what = " / ".join(part for part in (target.major, target.middle, target.minor) if part)
    header = f"[bold]{what}[/bold]\n[dim]matched '{best.name}' ({best.how})[/dim]"
    if others:
        header += "\n[dim]also: " + ", ".join(hit.target.middle for hit in others) + "[/dim]"
    console.print(Panel(header, title="찾은 것 · Found", border_style="green"))
    middle = load_taxonomy().middle(target.major, target.middle)
    print_guide(middle.guide.as_api(), console)
    return 0
