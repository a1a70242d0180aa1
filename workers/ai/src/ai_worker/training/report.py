"""`bunri evaluate`: how good a trained model is, on photos it never saw, through the same
preparation the AI worker uses; written as a Markdown report with a confusion-matrix picture."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont, ImageOps

from ai_worker.classifier.local import LocalClassifier
from ai_worker.training.calibration import expected_calibration_error
from ai_worker.training.data import Dataset

THROUGHPUT_BATCHES = (1, 8, 32)


@dataclass(slots=True)
class ClassFigures:
    name: str
    precision: float
    recall: float
    support: int


@dataclass(slots=True)
class Evaluation:
    model: str
    split: str
    images: int
    top1: float
    top3: float
    per_class: list[ClassFigures]
    confusion: np.ndarray  # rows: true class, columns: predicted
    calibration_error: float  # with the model's temperature
    raw_calibration_error: float  # without it
    unsure_below: float
    sure_share: float
    sure_accuracy: float
    unsure_accuracy: float
    prepare_ms: float  # per photo: decode-free resize and normalisation
    throughput: dict[int, float]  # batch size → images/s through the network
    runs_on: str  # the device, its threads on CPU, and the number format the network computes in


def evaluate(classifier: LocalClassifier, dataset: Dataset, split: str) -> Evaluation:
    classes = classifier.metadata.classes
    if tuple(dataset.classes) != classes:
        raise ValueError(f"the data's classes {dataset.classes} are not the model's {classes}")
    photos = [_open(sample.path) for sample in dataset.samples]
    started = time.perf_counter()
    pixels = torch.from_numpy(classifier.prepare(photos))
    prepare_ms = (time.perf_counter() - started) * 1000 / len(photos)
    labels = dataset.labels
    logits = classifier.logits(pixels)
    probabilities = (logits / classifier.metadata.temperature).softmax(dim=1)
    confidence, predicted = probabilities.max(dim=1)
    correct = predicted == labels
    top3 = (probabilities.topk(min(3, len(classes)), dim=1).indices == labels[:, None]).any(1)
    confusion = np.zeros((len(classes), len(classes)), dtype=int)
    for truth, guess in zip(labels.tolist(), predicted.tolist(), strict=True):
        confusion[truth, guess] += 1
    per_class = [
        ClassFigures(
            name,
            precision=_ratio(confusion[index, index], confusion[:, index].sum()),
            recall=_ratio(confusion[index, index], confusion[index, :].sum()),
            support=int(confusion[index, :].sum()),
        )
        for index, name in enumerate(classes)
    ]
    sure = confidence >= classifier.unsure_below
    return Evaluation(
        model=classifier.model_name,
        split=split,
        images=len(labels),
        top1=correct.float().mean().item(),
        top3=top3.float().mean().item(),
        per_class=per_class,
        confusion=confusion,
        calibration_error=expected_calibration_error(probabilities, labels),
        raw_calibration_error=expected_calibration_error(logits.softmax(dim=1), labels),
        unsure_below=classifier.unsure_below,
        sure_share=sure.float().mean().item(),
        sure_accuracy=_ratio(int((correct & sure).sum()), int(sure.sum())),
        unsure_accuracy=_ratio(int((correct & ~sure).sum()), int((~sure).sum())),
        prepare_ms=prepare_ms,
        throughput=measure_throughput(classifier, pixels),
        runs_on=_runs_on(classifier),
    )


def measure_throughput(
    classifier: LocalClassifier, pixels: torch.Tensor, seconds: float = 2.0, trials: int = 5
) -> dict[int, float]:
    """Images per second through the network at each batch size (what dynamic batching buys):
    the best of `trials` runs, as `timeit` takes the best, since the machine's other work only
    ever slows a run down (single runs moved the batch-32 / batch-1 ratio between 2.0 and 2.7)."""
    rates = {}
    for batch in THROUGHPUT_BATCHES:
        inputs = pixels[:batch].repeat(max(1, batch // len(pixels[:batch])), 1, 1, 1)[:batch]
        classifier.logits(inputs)  # warm-up
        rates[batch] = batch * max(
            _passes_per_second(classifier, inputs, seconds / trials) for _ in range(trials)
        )
    return rates


def _passes_per_second(classifier: LocalClassifier, inputs: torch.Tensor, seconds: float) -> float:
    passes, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        classifier.logits(inputs)
        passes += 1
    return passes / (time.perf_counter() - started)


def _runs_on(classifier: LocalClassifier) -> str:
    if classifier.device.type == "cpu":
        return f"CPU, {torch.get_num_threads()} threads, {classifier.number_format}"
    return f"{classifier.device}, {classifier.number_format}"


def _open(path: Path) -> Image.Image:
    with Image.open(path) as opened:
        return ImageOps.exif_transpose(opened).convert("RGB")


def _ratio(part: int | np.integer, whole: int | np.integer) -> float:
    return float(part) / float(whole) if whole else float("nan")


def write_report(evaluation: Evaluation, directory: Path, *, card: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    picture = directory / "confusion.png"
    draw_confusion(evaluation, picture)
    e = evaluation
    lines = [
        f"# Evaluation of `{e.model}`",
        "",
        f"{datetime.now(UTC):%Y-%m-%d}, `bunri evaluate`, {e.images} photos of the {e.split} "
        "split, prepared exactly as the AI worker prepares a scan.",
        "",
        "| measure | value |",
        "|---|---|",
        f"| top-1 accuracy | {e.top1:.1%} |",
        f"| top-3 accuracy | {e.top3:.1%} |",
        f"| expected calibration error (15 bins) | {e.calibration_error:.3f} "
        f"(before temperature scaling {e.raw_calibration_error:.3f}) |",
        f"| unsure below confidence | {e.unsure_below:.2f} |",
        f"| answers given as sure | {e.sure_share:.1%}, right {e.sure_accuracy:.1%} of the time |",
        f"| answers given as unsure | {1 - e.sure_share:.1%}, right {e.unsure_accuracy:.1%} "
        "of the time |",
        f"| preparation per photo | {e.prepare_ms:.2f} ms |",
    ]
    for batch, rate in e.throughput.items():
        lines.append(f"| network, batch {batch}, {e.runs_on} | {rate:.0f} images/s |")
    lines += [
        "",
        "## Per class",
        "",
        "| class | precision | recall | photos |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {c.name} | {c.precision:.1%} | {c.recall:.1%} | {c.support} |" for c in e.per_class
    ]
    lines += ["", "## Confusion matrix", "", f"![confusion matrix]({picture.name})", "", card]
    report = directory / "report.md"
    report.write_text("\n".join(lines) + "\n", "utf-8")
    return report


def draw_confusion(evaluation: Evaluation, path: Path, cell: int = 64) -> None:
    """A heat map of the confusion matrix, counts in the cells, true classes down the side."""
    names = [figures.name for figures in evaluation.per_class]
    matrix = evaluation.confusion
    margin = 110
    size = margin + cell * len(names)
    image = Image.new("RGB", (size + 10, size + 10), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=13)
    row_totals = matrix.sum(axis=1, keepdims=True).clip(min=1)
    for row, name in enumerate(names):
        draw.text((6, margin + row * cell + cell // 2 - 7), name, fill="black", font=font)
        draw.text((margin + row * cell + 4, margin - 22), name[:9], fill="black", font=font)
        for column in range(len(names)):
            share = matrix[row, column] / row_totals[row, 0]
            shade = int(255 - 200 * share)
            box = (margin + column * cell, margin + row * cell)
            draw.rectangle(
                (*box, box[0] + cell - 1, box[1] + cell - 1),
                fill=(shade, shade, 255),
                outline="grey",
            )
            text_colour = "white" if share > 0.5 else "black"
            draw.text(
                (box[0] + cell // 2 - 10, box[1] + cell // 2 - 7),
                str(matrix[row, column]),
                fill=text_colour,
                font=font,
            )
    draw.text((6, 6), "rows: true class, columns: predicted", fill="black", font=font)
    image.save(path)
