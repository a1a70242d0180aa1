"""One training run from a data folder to a model file and its card: read and split the photos,
train, calibrate on the validation split, save, and measure the saved file on the test split."""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import torch
from tqdm import tqdm

from ai_worker.classifier.hf import read_label_map
from ai_worker.classifier.local import LocalClassifier, ModelMetadata, save_model
from ai_worker.training.augment import resize
from ai_worker.training.calibration import fit_temperature, unsure_threshold
from ai_worker.training.data import Dataset, DatasetError, decode_all, discover, split
from ai_worker.training.train import EpochRecord, TrainConfig, predict_logits, train

VAL_SHARE = 0.13  # the shares of TrashNet's own lists, for data folders without lists
TEST_SHARE = 0.17


@dataclass(frozen=True, slots=True)
class TrainingRun:
    data: Path
    taxonomy_map: Path
    output: Path
    config: TrainConfig
    device: str = "auto"


def choose_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def run_training(run: TrainingRun) -> Path:
    dataset = discover(run.data)
    taxonomy = _taxonomy_for(dataset, run.taxonomy_map)
    parts = split(dataset, run.data, seed=run.config.seed, val=VAL_SHARE, test=TEST_SHARE)
    if not parts.train.samples or not parts.val.samples:
        raise DatasetError(f"{run.data}: too few photos for a training and a validation split")
    device = choose_device(run.device)
    size = run.config.stored_size
    with tqdm(total=3, desc="reading photos", unit="split") as bar:
        train_images = decode_all(parts.train, size)
        bar.update()
        val_images = decode_all(parts.val, size)
        bar.update()
        test_images = decode_all(parts.test, size) if parts.test.samples else None
        bar.update()
    steps = run.config.epochs * max(1, len(parts.train.samples) // run.config.batch_size)
    with tqdm(total=steps, desc="training", unit="step") as bar:

        def show(record: EpochRecord) -> None:
            bar.set_postfix(
                epoch=record.epoch,
                loss=f"{record.train_loss:.3f}",
                val=f"{record.val_accuracy:.1%}",
            )

        trained = train(
            run.config,
            train_images,
            parts.train.labels,
            val_images,
            parts.val.labels,
            len(dataset.classes),
            device=device,
            on_epoch=show,
            on_step=bar.update,
        )
    network = trained.network.cpu()
    val_logits = predict_logits(
        network, resize(val_images, run.config.image_size), torch.device("cpu")
    )
    temperature = fit_temperature(val_logits, parts.val.labels)
    calibrated = (val_logits / temperature).softmax(dim=1)
    metadata = ModelMetadata(
        architecture=run.config.architecture,
        classes=dataset.classes,
        taxonomy=taxonomy,
        stored_size=run.config.stored_size,
        image_size=run.config.image_size,
        temperature=temperature,
        unsure_below=round(unsure_threshold(calibrated, parts.val.labels), 4),
        extra={
            "trained": datetime.now(UTC).strftime("%Y-%m-%d"),
            "data": str(run.data),
            "split": parts.source,
            "photos": {
                "train": len(parts.train.samples),
                "val": len(parts.val.samples),
                "test": len(parts.test.samples),
            },
            "best_epoch": trained.best_epoch,
            "epochs_run": len(trained.history),
            "val_accuracy": round(trained.best_val_accuracy, 4),
            "config": run.config.as_dict(),
            "device": f"{device.type} ({platform.processor() or platform.machine()})",
            "seconds": round(sum(record.seconds for record in trained.history)),
        },
    )
    save_model(run.output, network, metadata)
    test_accuracy = None
    if test_images is not None:
        saved = LocalClassifier(run.output)  # the file as shipped: half-precision weights
        logits = saved.logits(resize(test_images, run.config.image_size))
        test_accuracy = (logits.argmax(1) == parts.test.labels).float().mean().item()
    run.output.with_suffix(".md").write_text(
        model_card(run.output, metadata, test_accuracy), "utf-8"
    )
    return run.output


def _taxonomy_for(dataset: Dataset, taxonomy_map: Path) -> dict[str, str]:
    try:
        mapped = read_label_map(taxonomy_map)
    except (OSError, KeyError) as exc:
        raise DatasetError(f"the taxonomy map {taxonomy_map} is unusable: {exc}") from exc
    missing = [name for name in dataset.classes if mapped.get(name) is None]
    if missing:
        raise DatasetError(f"{taxonomy_map} does not say where these classes go: {missing}")
    raw: dict[str, str] = json.loads(taxonomy_map.read_text("utf-8"))
    return {name: raw[name] for name in dataset.classes}


def evaluation_split(data: Path, metadata: ModelMetadata, part: str) -> Dataset:
    """The photos of `part` of the same split the model was trained with."""
    if part not in ("train", "val", "test"):
        raise ValueError(f"split is one of train, val, test, not {part!r}")
    config = metadata.extra.get("config")
    seed = int(config.get("seed", 0)) if isinstance(config, dict) else 0
    chosen: Dataset = getattr(
        split(discover(data), data, seed=seed, val=VAL_SHARE, test=TEST_SHARE), part
    )
    if not chosen.samples:
        raise DatasetError(f"{data}: the {part} split holds no photos")
    return chosen


def model_card(path: Path, metadata: ModelMetadata, test_accuracy: float | None) -> str:
    facts = metadata.extra
    config = facts["config"]
    assert isinstance(config, dict)
    photos = facts["photos"]
    assert isinstance(photos, dict)
    mapping = "\n".join(f"| {name} | {target} |" for name, target in metadata.taxonomy.items())
    tested = (
        f"{test_accuracy:.1%} top-1 on the {photos['test']} test photos (the saved file; "
        "`bunri evaluate` gives the full report)"
        if test_accuracy is not None
        else "no test split in the data"
    )
    return f"""# Model card: `{path.name}`

- **What it does**: sorts a photo of one item of waste into one of {len(metadata.classes)} \
classes, each mapped to the Korean disposal taxonomy (below). It knows only these classes: \
anything else (food, batteries, furniture...) gets one of them, with low confidence.
- **Trained**: {facts["trained"]} by `bunri train`, from scratch (no pretrained weights), on \
{facts["device"]} in {facts["seconds"]} s; {facts["epochs_run"]} epochs run, the weights of \
epoch {facts["best_epoch"]} kept (exponential moving average).
- **Data**: `{facts["data"]}`; split: {facts["split"]}; {photos["train"]} training, \
{photos["val"]} validation, {photos["test"]} test photos.
- **Architecture**: `{metadata.architecture}` (ai_worker.training.network), input \
{metadata.image_size}x{metadata.image_size} pixels (the whole photo squeezed square), \
weights stored in half precision.
- **Accuracy**: {facts["val_accuracy"]:.1%} on validation; {tested}.
- **Calibration**: temperature {metadata.temperature:.3f}, fitted on the validation split; an \
answer below {metadata.unsure_below:.2f} confidence is marked unsure (above it, validation \
answers were right at least 95% of the time).
- **Training settings**: {json.dumps(config, sort_keys=True)}

| class | taxonomy |
|---|---|
{mapping}
"""
