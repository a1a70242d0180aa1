"""`bunri train` and `bunri evaluate`, added to the `bunri` command line by this package (its
`bunri.commands` entry point): they need torch, which only the AI worker's install carries."""

from __future__ import annotations

from pathlib import Path

import typer

from ai_worker.models import BUNDLED_MODEL, TRASHNET_TAXONOMY_MAP
from ai_worker.settings import Precision

DEFAULT_DATA = Path("../shared/data/trashnet")
DEFAULT_REPORT = Path("bench/results/local-model")


def register(app: typer.Typer) -> None:
    app.command()(train)
    app.command()(evaluate)


def train(
    data: Path = typer.Option(DEFAULT_DATA, help="A folder of class folders of photos."),
    taxonomy_map: Path = typer.Option(
        None,
        help="JSON: each class folder → 'major/middle[/minor]'. Default: TrashNet's classes.",
        show_default=False,
    ),
    output: Path = typer.Option(
        None,
        help="Where to write the model (default: the one this package ships).",
        show_default=False,
    ),
    architecture: str = typer.Option("resnet18-half", help="See ai_worker.training.network."),
    epochs: int = typer.Option(100, min=1),
    patience: int = typer.Option(30, min=1, help="Stop after this many epochs without gain."),
    image_size: int = typer.Option(128, min=32, help="The network's input, in pixels."),
    batch_size: int = typer.Option(64, min=2),
    seed: int = typer.Option(0),
    device: str = typer.Option("auto", help="cpu, cuda, cuda:1 ... or auto (CUDA when present)."),
) -> None:
    """Train the compact waste classifier from scratch, calibrate it on the validation split,
    and write the model with its card (a Markdown file beside it)."""
    from ai_worker.training.pipeline import TrainingRun, run_training
    from ai_worker.training.train import TrainConfig

    config = TrainConfig(
        architecture=architecture,
        epochs=epochs,
        patience=patience,
        image_size=image_size,
        stored_size=round(image_size * 9 / 8),
        batch_size=batch_size,
        seed=seed,
    )
    run = TrainingRun(
        data=data,
        taxonomy_map=taxonomy_map or TRASHNET_TAXONOMY_MAP,
        output=output or BUNDLED_MODEL,
        config=config,
        device=device,
    )
    try:
        written = run_training(run)
    except ValueError as exc:
        typer.echo(f"cannot train: {exc}", err=True)
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
    report: Path = typer.Option(DEFAULT_REPORT, help="Folder for report.md and confusion.png."),
    device: str = typer.Option("cpu", help="torch device."),
    precision: Precision = typer.Option(
        "auto", help="float32, bfloat16, or auto: bfloat16 where the device has it natively."
    ),
) -> None:
    """Top-1 and top-3 accuracy, per-class precision and recall, the confusion matrix,
    calibration error and images/s of a trained model on photos held out from its training."""
    from ai_worker.classifier.base import ModelUnavailable
    from ai_worker.classifier.local import LocalClassifier
    from ai_worker.training.pipeline import evaluation_split
    from ai_worker.training.report import evaluate as run_evaluation
    from ai_worker.training.report import write_report

    path = model or BUNDLED_MODEL
    try:
        classifier = LocalClassifier(path, device=device, precision=precision)
        dataset = evaluation_split(data, classifier.metadata, split)
        evaluation = run_evaluation(classifier, dataset, split)
    except (ModelUnavailable, ValueError) as exc:
        typer.echo(f"cannot evaluate: {exc}", err=True)
        raise typer.Exit(2) from exc
    card = path.with_suffix(".md")
    written = write_report(
        evaluation, report, card=card.read_text("utf-8") if card.is_file() else ""
    )
    typer.echo(
        f"top-1 {evaluation.top1:.1%}  top-3 {evaluation.top3:.1%}  "
        f"calibration error {evaluation.calibration_error:.3f}  "
        f"{max(evaluation.throughput.values()):.0f} images/s\nreport: {written}"
    )
