"""`bunri evaluate`: how good a trained model is, on photos it never saw, through the same
preparation and the same combination of heads the AI worker uses; written as a Markdown report
with a confusion-matrix picture. Each check says what it shows and what it cannot."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont, ImageOps

from ai_worker.classifier.combine import Combined
from ai_worker.classifier.local import LocalClassifier
from ai_worker.training.calibration import expected_calibration_error
from ai_worker.training.composite import studio_mask
from ai_worker.training.data import Dataset, decode_all
from ai_worker.training.pipeline import middle_level, relabel_of, scene_view

THROUGHPUT_BATCHES = (1, 8, 32)
STORED_SIZE = 256  # what the held-out scenes are composed at, as in training


@dataclass(slots=True)
class ClassFigures:
    name: str
    precision: float
    recall: float
    support: int


@dataclass(slots=True)
class Answers:
    """What a person is told about a set of photos: the combined answer at the middle class."""

    name: str
    images: int
    right: float  # the answer's middle class is the photo's, sure or not
    sure_share: float
    sure_right: float  # of the sure answers, the share right
    confidently_wrong: float  # of all photos: sure and wrong
    calibration_error: float | None = None
    # Per true class: (photos, answered sure, of those right); per answer given sure: (count, right)
    by_class: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    by_answer: dict[str, tuple[int, int]] = field(default_factory=dict)


@dataclass(slots=True)
class Abstention:
    """Photos of no item the model knows: how many it was unsure of, and what the sure ones said."""

    name: str
    images: int
    unsure_share: float
    sure_answers: Counter[str]


@dataclass(slots=True)
class Evaluation:
    model: str
    split: str
    images: int
    top1: float
    top3: float
    # Where some photos were trained under another class: top-1 against their folders, each
    # such class counted as the folder its photos came from (the dataset's own figure).
    folder_top1: float | None
    per_class: list[ClassFigures]
    confusion: np.ndarray  # rows: true class, columns: predicted
    calibration_error: float  # with the model's temperature
    raw_calibration_error: float  # without it
    unsure_below: float
    answers: list[Answers]
    abstentions: list[Abstention]
    # Top-1 agreement with the pretrained network, where it is at hand: (photos, share agreeing)
    imagenet_agreement: dict[str, tuple[int, float]]
    one_thread_ms: float  # p50, one photo: preparation and forward pass on one thread
    prepare_ms: float  # per photo: decode-free resize and normalisation
    throughput: dict[int, float]  # batch size → images/s through the network
    runs_on: str  # the device, its threads on CPU, and the number format the network computes in


def evaluate(
    classifier: LocalClassifier,
    dataset: Dataset,
    split: str,
    *,
    backgrounds: torch.Tensor,
    original: torch.nn.Module | None = None,
) -> Evaluation:
    """`backgrounds`: held-out scenes (uint8, STORED_SIZE square; may be empty: made-up ones
    are used); `original`: the pretrained network, to measure what fine-tuning did to the
    ImageNet head."""
    metadata = classifier.metadata
    classes = metadata.classes
    if tuple(dataset.classes) != classes:
        raise ValueError(f"the data's classes {dataset.classes} are not the model's {classes}")
    photos = [_open(sample.path) for sample in dataset.samples]
    started = time.perf_counter()
    pixels = classifier.prepare(photos)
    prepare_ms = (time.perf_counter() - started) * 1000 / len(photos)
    labels = dataset.labels
    waste, imagenet, _ = classifier.outputs(pixels)
    logits = torch.from_numpy(waste)
    probabilities = (logits / metadata.waste_temperature).softmax(dim=1)
    predicted = probabilities.argmax(dim=1)
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
    plain = classifier.combined(pixels)
    stored = decode_all(dataset, STORED_SIZE)
    in_scenes = scene_view(stored, studio_mask(stored), backgrounds, metadata.image_size, 3)
    scene_pixels = in_scenes.contiguous().numpy()
    scenes = classifier.combined(scene_pixels)
    empty = _empty_scenes(backgrounds, metadata.image_size)
    agreement = {}
    if original is not None:
        reference = _logits(original, pixels)
        confident = torch.from_numpy(reference).softmax(dim=1).max(dim=1).values.numpy() >= 0.5
        agreement = {f"the {split} photos": _agreeing(reference, imagenet)}
        if confident.any():
            agreement[f"the {split} photos the pretrained network is sure of (p >= 0.5)"] = (
                _agreeing(reference[confident], imagenet[confident])
            )
        if len(empty):
            agreement["the held-out scenes with no item"] = _agreeing(
                _logits(original, empty), classifier.outputs(empty)[1]
            )
    return Evaluation(
        model=classifier.model_name,
        split=split,
        images=len(labels),
        top1=float((predicted == labels).float().mean()),
        folder_top1=_folder_top1(dataset, predicted, relabel_of(metadata)),
        top3=float(top3.float().mean()),
        per_class=per_class,
        confusion=confusion,
        calibration_error=expected_calibration_error(probabilities, labels),
        raw_calibration_error=expected_calibration_error(logits.softmax(dim=1), labels),
        unsure_below=classifier.unsure_below,
        answers=[
            _answers(f"the {split} photos as taken", plain, classifier, labels),
            _answers(f"the {split} photos laid in held-out scenes", scenes, classifier, labels),
        ],
        abstentions=[
            _abstention("scenes with no item in them", classifier.combined(empty), classifier),
            _abstention(
                "random noise",
                classifier.combined(_noise(len(empty) or 32, metadata.image_size)),
                classifier,
            ),
        ],
        imagenet_agreement=agreement,
        one_thread_ms=_one_thread_ms(classifier, photos[0]),
        prepare_ms=prepare_ms,
        throughput=measure_throughput(classifier, pixels),
        runs_on=_runs_on(classifier),
    )


def _folder_top1(
    dataset: Dataset, predicted: torch.Tensor, relabel: dict[str, str]
) -> float | None:
    if not relabel:
        return None
    folders: dict[str, set[str]] = {}
    for photo, label in relabel.items():
        folders.setdefault(label, set()).add(photo.split("/")[0])
    if any(len(sources) != 1 for sources in folders.values()):
        return None
    folder_of = {label: next(iter(sources)) for label, sources in folders.items()}
    right = [
        folder_of.get(dataset.classes[int(guess)], dataset.classes[int(guess)])
        == sample.path.parent.name
        for sample, guess in zip(dataset.samples, predicted, strict=True)
    ]
    return sum(right) / len(right)


def _answers(
    name: str, combined: Combined, classifier: LocalClassifier, labels: torch.Tensor
) -> Answers:
    per_middle, truth = middle_level(combined, classifier.metadata, labels)
    confidence, answer = per_middle.max(dim=1)
    sure = confidence >= classifier.unsure_below
    right = answer == truth
    middles = list(dict.fromkeys(key[1] for key in combined.keys))
    by_class: dict[str, tuple[int, int, int]] = {}
    for index, class_name in enumerate(classifier.metadata.classes):
        chosen = labels == index
        by_class[class_name] = (
            int(chosen.sum()),
            int((chosen & sure).sum()),
            int((chosen & sure & right).sum()),
        )
    by_answer: dict[str, tuple[int, int]] = {}
    for index, middle in enumerate(middles):
        given = sure & (answer == index)
        if given.any():
            by_answer[middle] = (int(given.sum()), int((given & right).sum()))
    return Answers(
        name=name,
        images=len(labels),
        right=float(right.float().mean()),
        sure_share=float(sure.float().mean()),
        sure_right=_ratio(int((sure & right).sum()), int(sure.sum())),
        confidently_wrong=float((sure & ~right).float().mean()),
        calibration_error=expected_calibration_error(per_middle, truth),
        by_class=by_class,
        by_answer=by_answer,
    )


def _abstention(name: str, combined: Combined, classifier: LocalClassifier) -> Abstention:
    middles, per_middle = combined.middles()
    sure = per_middle.max(axis=1) >= classifier.unsure_below
    said = Counter(middles[int(index)][1] for index in per_middle.argmax(axis=1)[sure])
    images = len(per_middle)
    return Abstention(name, images, _ratio(int((~sure).sum()), images), said)


def _empty_scenes(backgrounds: torch.Tensor, size: int) -> np.ndarray:
    if len(backgrounds) == 0:
        return np.zeros((0, 3, size, size), np.float32)
    from ai_worker.training.augment import resize

    return resize(backgrounds, size).contiguous().numpy()


def _noise(count: int, size: int) -> np.ndarray:
    generator = np.random.default_rng(0)
    return generator.uniform(-1, 1, (count, 3, size, size)).astype(np.float32)


def _logits(network: torch.nn.Module, pixels: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        batches = [network(torch.from_numpy(pixels[i : i + 32])) for i in range(0, len(pixels), 32)]
    logits: np.ndarray = torch.cat(batches).numpy()
    return logits


def _agreeing(reference: np.ndarray, tuned: np.ndarray) -> tuple[int, float]:
    """How often the fine-tuned ImageNet head's top class is the pretrained network's."""
    return len(reference), float((reference.argmax(1) == tuned.argmax(1)).mean())


def _one_thread_ms(classifier: LocalClassifier, photo: Image.Image, runs: int = 60) -> float:
    """Median time to prepare one photo and run it through the network on one thread: the
    serving budget's own measure."""
    threads = torch.get_num_threads()
    classifier.use_threads(1)
    try:
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            classifier.classify([photo])
            times.append(time.perf_counter() - started)
        return float(np.median(times[5:]) * 1000)
    finally:
        classifier.use_threads(threads)


def measure_throughput(
    classifier: LocalClassifier, pixels: np.ndarray, seconds: float = 2.0, trials: int = 5
) -> dict[int, float]:
    """Images per second through the network at each batch size (what dynamic batching buys):
    the best of `trials` runs, as `timeit` takes the best, since the machine's other work only
    ever slows a run down."""
    rates = {}
    for batch in THROUGHPUT_BATCHES:
        inputs = np.ascontiguousarray(np.resize(pixels, (batch, *pixels.shape[1:])))
        classifier.outputs(inputs)  # warm-up
        rates[batch] = batch * max(
            _passes_per_second(classifier, inputs, seconds / trials) for _ in range(trials)
        )
    return rates


def _passes_per_second(classifier: LocalClassifier, inputs: np.ndarray, seconds: float) -> float:
    passes, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        classifier.outputs(inputs)
        passes += 1
    return passes / (time.perf_counter() - started)


def _runs_on(classifier: LocalClassifier) -> str:
    if classifier.device.type == "cpu":
        return (
            f"CPU, {torch.get_num_threads()} threads, {classifier.engine}, "
            f"{classifier.number_format}"
        )
    return f"{classifier.device}, {classifier.engine}, {classifier.number_format}"


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
        "## The waste head on the test photos",
        "",
        "What it shows: how well the fine-tuned head tells apart the dataset's own classes on "
        "photos like its training photos (one item, a plain board). What it cannot: how it does "
        "on photos taken elsewhere.",
        "",
        "| measure | value |",
        "|---|---|",
        f"| top-1 accuracy | {e.top1:.1%} |",
        *(
            [
                f"| top-1 accuracy against the dataset's own folders (a relabelled class counted "
                f"as the folder its photos came from) | {e.folder_top1:.1%} |"
            ]
            if e.folder_top1 is not None
            else []
        ),
        f"| top-3 accuracy | {e.top3:.1%} |",
        f"| expected calibration error (15 bins) | {e.calibration_error:.3f} "
        f"(before temperature scaling {e.raw_calibration_error:.3f}) |",
        "",
        "| class | precision | recall | photos |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {c.name} | {c.precision:.1%} | {c.recall:.1%} | {c.support} |" for c in e.per_class
    ]
    lines += [
        "",
        f"![confusion matrix]({picture.name})",
        "",
        "## The answer a person is told",
        "",
        "The waste head and the ImageNet head combined, at the middle class (cardboard and paper "
        f'are both 종이); unsure below {e.unsure_below:.2f} confidence. "In held-out scenes": '
        "the same test items cut out of their board and laid on backgrounds kept out of "
        "training, with clutter, hands and uneven light. What it shows: that the answer holds "
        "when the board is gone. What it cannot: real photos of the same kinds of items, whose "
        "light, angles and wear no composite reproduces.",
        "",
        "| photos | right | answered sure | sure and right | confidently wrong | "
        "calibration error |",
        "|---|---|---|---|---|---|",
    ]
    for a in e.answers:
        lines.append(
            f"| {a.name} ({a.images}) | {a.right:.1%} | {a.sure_share:.1%} | "
            f"{a.sure_right:.1%} | {a.confidently_wrong:.1%} | {a.calibration_error:.3f} |"
        )
    for a in e.answers:
        lines += [
            "",
            f"How often a sure answer is right, {a.name}:",
            "",
            "| true class | photos | answered sure | sure and right |",
            "|---|---|---|---|",
        ]
        for name, (photos, sure, right) in a.by_class.items():
            lines.append(f"| {name} | {photos} | {sure} | {_share(right, sure)} |")
        lines += ["", "| sure answer given | times | right |", "|---|---|---|"]
        for middle, (given, right) in a.by_answer.items():
            lines.append(f"| {middle} | {given} | {_share(right, given)} |")
    lines += [
        "",
        "## Photos of nothing it knows",
        "",
        "What it shows: that with no item of a known kind in view, the answer is unsure. What "
        "it cannot: every unknown object (these are scenes, textures and noise, not, say, a "
        "toy or a tool).",
        "",
        "| photos | answered unsure | sure answers given |",
        "|---|---|---|",
    ]
    for b in e.abstentions:
        said = ", ".join(f"{middle} {count}" for middle, count in b.sure_answers.most_common())
        lines.append(f"| {b.name} ({b.images}) | {b.unsure_share:.1%} | {said or 'none'} |")
    lines += [
        "",
        "## The ImageNet head after fine-tuning",
        "",
        "What it shows: how much of what the pretrained network recognised the fine-tuned one "
        "still recognises (the ImageNet map relies on it). What it cannot: its accuracy on "
        "ImageNet itself, which is not here.",
        "",
    ]
    if e.imagenet_agreement:
        lines += ["| photos | top-1 agreement with the pretrained network |", "|---|---|"]
        lines += [
            f"| {name} ({count}) | {share:.1%} |"
            for name, (count, share) in e.imagenet_agreement.items()
        ]
    else:
        lines.append("Not measured: the pretrained weights are not installed (the training extra).")
    lines += [
        "",
        "## Speed",
        "",
        "| measure | value |",
        "|---|---|",
        f"| one photo on one CPU thread: preparation and forward pass (median) | "
        f"{e.one_thread_ms:.1f} ms |",
        f"| preparation per photo | {e.prepare_ms:.2f} ms |",
    ]
    for batch, rate in e.throughput.items():
        lines.append(f"| network, batch {batch}, {e.runs_on} | {rate:.0f} images/s |")
    lines += ["", card]
    report = directory / "report.md"
    report.write_text("\n".join(lines) + "\n", "utf-8")
    return report


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else "-"


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
