"""Fine-tuning an ImageNet-pretrained EfficientNet-Lite on waste photos without forgetting
ImageNet (Learning without Forgetting, Li & Hoiem 2016).

The network gets a second head for the waste classes; its ImageNet head stays and is kept saying
what the original network says, by distillation on every training scene and on scenes with no
item at all. The earliest blocks (edges, textures) stay frozen, which also lets the original
network's remaining blocks run on the same frozen activations as the teacher. AdamW on a cosine
schedule with warm-up, label smoothing, an exponential moving average of the weights (the average
is what is evaluated and kept), and early stopping on validation accuracy.
"""

from __future__ import annotations

import copy
import math
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 (torch's own convention)
from torch import nn

from ai_worker.training.augment import Augmentation, augment, in_scenes, resize
from ai_worker.training.composite import random_backgrounds
from ai_worker.training.efficientnet import WasteNetwork


@dataclass(frozen=True, slots=True)
class TrainConfig:
    backbone: str = "efficientnet-lite0"
    image_size: int = 224  # the network's input
    stored_size: int = 256  # photos are held in memory at this size, crops come from it
    epochs: int = 15
    batch_size: int = 32
    head_learning_rate: float = 3e-3
    learning_rate: float = 6e-4  # the pretrained blocks'
    weight_decay: float = 0.02
    label_smoothing: float = 0.1
    warmup_epochs: int = 1
    ema_decay: float = 0.995
    dropout: float = 0.3
    drop_path: float = 0.1
    frozen_layers: int = 8  # of `backbone.features`: the stem and the first five blocks
    distillation_weight: float = 1.0
    distillation_temperature: float = 2.0
    scenes_without_item: float = 0.25  # per labelled photo in a batch; distillation only
    patience: int = 6  # epochs without a better validation accuracy before stopping
    seed: int = 0
    threads: int | None = None
    augmentation: Augmentation = field(default_factory=Augmentation)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class TrainingData:
    images: torch.Tensor  # uint8 (N, 3, stored, stored)
    masks: torch.Tensor  # uint8 (N, 1, stored, stored): the item's opacity
    labels: torch.Tensor
    backgrounds: torch.Tensor  # uint8 (M, 3, stored, stored); may be empty
    val_views: list[tuple[str, torch.Tensor, torch.Tensor]]  # (name, inputs, labels)


@dataclass(slots=True)
class EpochRecord:
    epoch: int
    train_loss: float
    distillation_loss: float
    val_accuracy: dict[str, float]
    seconds: float

    @property
    def score(self) -> float:
        return float(np.mean(list(self.val_accuracy.values())))


@dataclass(slots=True)
class Trained:
    network: WasteNetwork  # the averaged weights of the best epoch, in eval mode
    best_epoch: int
    best_val_accuracy: float
    history: list[EpochRecord]
    stopped_early: bool


def seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def train(
    config: TrainConfig,
    network: WasteNetwork,
    data: TrainingData,
    *,
    device: torch.device,
    on_epoch: Callable[[EpochRecord], None] = lambda record: None,
    on_step: Callable[[], object] = lambda: None,
) -> Trained:
    """`network` arrives with its pretrained weights and a fresh waste head."""
    if config.threads:
        torch.set_num_threads(config.threads)
    generator = seed_everything(config.seed)
    network = network.to(device, memory_format=torch.channels_last)  # type: ignore[call-overload]
    teacher = copy.deepcopy(network.backbone).eval().requires_grad_(False)
    frozen = network.backbone.features[: config.frozen_layers].requires_grad_(False)
    average = copy.deepcopy(network).eval()
    optimiser = _optimiser(network, config)
    steps_per_epoch = max(1, len(data.labels) // config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    warmup_steps = steps_per_epoch * config.warmup_epochs
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: _cosine_with_warmup(step, warmup_steps, total_steps)
    )
    unlabelled = round(config.batch_size * config.scenes_without_item)
    best = (-1.0, -1)
    best_state: dict[str, torch.Tensor] = {}
    history: list[EpochRecord] = []
    stopped_early = False
    for epoch in range(1, config.epochs + 1):
        started = time.perf_counter()
        network.train()
        frozen.eval()  # its norms keep ImageNet's statistics
        order = torch.randperm(len(data.labels), generator=generator)
        losses, distillation_losses = [], []
        for step in range(steps_per_epoch):
            batch = order[step * config.batch_size : (step + 1) * config.batch_size]
            inputs = _training_inputs(config, data, batch, unlabelled, generator).to(device)
            targets = data.labels[batch].to(device)
            with torch.no_grad():
                shared = frozen(inputs)
                taught = teacher.classifier(
                    teacher.features[config.frozen_layers :](shared).mean((2, 3))
                )
            features = network.backbone.features[config.frozen_layers :](shared).mean((2, 3))
            waste, imagenet, _ = network.heads(features)
            classification = F.cross_entropy(
                waste[: len(batch)], targets, label_smoothing=config.label_smoothing
            )
            distillation = _distillation(imagenet, taught, config.distillation_temperature)
            loss = classification + config.distillation_weight * distillation
            optimiser.zero_grad(set_to_none=True)
            torch.autograd.backward(loss)
            optimiser.step()
            schedule.step()
            done = (epoch - 1) * steps_per_epoch + step
            # The average warms up (as timm's does): early on, the starting head would dominate.
            _update_average(average, network, min(config.ema_decay, (1 + done) / (10 + done)))
            losses.append(classification.item())
            distillation_losses.append(distillation.item())
            on_step()
        accuracy = {
            name: _accuracy(average, inputs, labels, device)
            for name, inputs, labels in data.val_views
        }
        record = EpochRecord(
            epoch,
            float(np.mean(losses)),
            float(np.mean(distillation_losses)),
            accuracy,
            time.perf_counter() - started,
        )
        history.append(record)
        on_epoch(record)
        if record.score > best[0]:
            best = (record.score, epoch)
            best_state = {k: v.detach().clone() for k, v in average.state_dict().items()}
        elif epoch - best[1] >= config.patience:
            stopped_early = True
            break
    average.load_state_dict(best_state)
    return Trained(average.eval(), best[1], best[0], history, stopped_early)


def _optimiser(network: WasteNetwork, config: TrainConfig) -> torch.optim.Optimizer:
    groups: dict[tuple[float, float], list[nn.Parameter]] = {}
    for name, parameter in network.named_parameters():
        if not parameter.requires_grad:
            continue
        rate = config.head_learning_rate if name.startswith("head.") else config.learning_rate
        # Norm scales and biases are not shrunk towards zero: that only fights the norm.
        decay = config.weight_decay if parameter.ndim > 1 else 0.0
        groups.setdefault((rate, decay), []).append(parameter)
    return torch.optim.AdamW(
        [
            {"params": params, "lr": rate, "weight_decay": decay}
            for (rate, decay), params in groups.items()
        ]
    )


def _training_inputs(
    config: TrainConfig,
    data: TrainingData,
    batch: torch.Tensor,
    unlabelled: int,
    generator: torch.Generator,
) -> torch.Tensor:
    """The batch's photos in augmented scenes, then `unlabelled` scenes with no item."""
    size = config.stored_size
    backgrounds = random_backgrounds(len(batch) + unlabelled, size, data.backgrounds, generator)
    scenes = in_scenes(
        data.images[batch],
        data.masks[batch],
        backgrounds[: len(batch)],
        config.augmentation,
        generator,
    )
    everything = torch.cat([scenes, backgrounds[len(batch) :]])
    return augment(everything, config.image_size, config.augmentation, generator)


def _distillation(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """KL(teacher ‖ student) at a raised temperature, scaled by T² so that its gradients keep
    their size whatever the temperature (Hinton et al. 2015)."""
    return (
        F.kl_div(
            F.log_softmax(student / temperature, dim=1),
            F.log_softmax(teacher / temperature, dim=1),
            log_target=True,
            reduction="batchmean",
        )
        * temperature**2
    )


def _cosine_with_warmup(step: int, warmup: int, total: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


@torch.no_grad()
def _update_average(average: nn.Module, network: nn.Module, decay: float) -> None:
    for kept, current in zip(average.parameters(), network.parameters(), strict=True):
        kept.lerp_(current, 1 - decay)
    # Batch-norm statistics are already running averages: copy them.
    for kept_buffer, current_buffer in zip(average.buffers(), network.buffers(), strict=True):
        kept_buffer.copy_(current_buffer)


def _accuracy(
    network: WasteNetwork, inputs: torch.Tensor, labels: torch.Tensor, device: torch.device
) -> float:
    waste, _, _ = predict(network, inputs, device)
    return float((waste.argmax(1) == labels).float().mean())


@torch.no_grad()  # not inference mode: calibration differentiates through these logits
def predict(
    network: WasteNetwork, inputs: torch.Tensor, device: torch.device, batch_size: int = 64
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Waste logits, ImageNet logits and pooled features of already prepared inputs."""
    network.eval()
    parts: list[tuple[torch.Tensor, ...]] = []
    for start in range(0, len(inputs), batch_size):
        outputs = network(inputs[start : start + batch_size].to(device))
        parts.append(tuple(output.float().cpu() for output in outputs))
    waste, imagenet, features = (torch.cat(column) for column in zip(*parts, strict=True))
    return waste, imagenet, features


def evaluation_inputs(images: torch.Tensor, size: int) -> torch.Tensor:
    return resize(images, size)
