"""The training loop: SGD with Nesterov momentum on a one-cycle cosine schedule, label smoothing,
an exponential moving average of the weights (the average is what is evaluated and kept), and
early stopping on validation accuracy."""

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

from ai_worker.training.augment import Augmentation, augment, resize
from ai_worker.training.network import build_network


@dataclass(frozen=True, slots=True)
class TrainConfig:
    architecture: str = "resnet18-half"
    image_size: int = 128  # the network's input
    stored_size: int = 144  # photos are held in memory at this size, crops come from it
    epochs: int = 100
    batch_size: int = 64
    learning_rate: float = 0.1
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    warmup_epochs: int = 3
    ema_decay: float = 0.995
    dropout: float = 0.1
    patience: int = 30  # epochs without a better validation accuracy before stopping
    seed: int = 0
    threads: int | None = None
    augmentation: Augmentation = field(default_factory=Augmentation)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class EpochRecord:
    epoch: int
    train_loss: float
    val_accuracy: float
    val_loss: float
    seconds: float


@dataclass(slots=True)
class Trained:
    network: nn.Module  # the averaged weights of the best epoch, in eval mode
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
    train_images: torch.Tensor,
    train_labels: torch.Tensor,
    val_images: torch.Tensor,
    val_labels: torch.Tensor,
    num_classes: int,
    *,
    device: torch.device,
    on_epoch: Callable[[EpochRecord], None] = lambda record: None,
    on_step: Callable[[], object] = lambda: None,
) -> Trained:
    if config.threads:
        torch.set_num_threads(config.threads)
    generator = seed_everything(config.seed)
    network = build_network(config.architecture, num_classes, config.dropout)
    network = network.to(device, memory_format=torch.channels_last)  # type: ignore[call-overload]
    average = copy.deepcopy(network).eval()
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for parameter in network.parameters():
        # Norm scales and biases are not shrunk towards zero: that only fights the norm.
        (no_decay if parameter.ndim <= 1 else decay).append(parameter)
    optimiser = torch.optim.SGD(
        [
            {"params": decay, "weight_decay": config.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=config.learning_rate,
        momentum=0.9,
        nesterov=True,
    )
    steps_per_epoch = max(1, len(train_labels) // config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    warmup_steps = steps_per_epoch * config.warmup_epochs
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: _one_cycle(step, warmup_steps, total_steps)
    )
    val_inputs = resize(val_images, config.image_size)
    best = (-1.0, -1)
    best_state: dict[str, torch.Tensor] = {}
    history: list[EpochRecord] = []
    stopped_early = False
    for epoch in range(1, config.epochs + 1):
        started = time.perf_counter()
        network.train()
        order = torch.randperm(len(train_labels), generator=generator)
        losses = []
        for step in range(steps_per_epoch):
            batch = order[step * config.batch_size : (step + 1) * config.batch_size]
            inputs = augment(
                train_images[batch], config.image_size, config.augmentation, generator
            ).to(device)
            targets = train_labels[batch].to(device)
            loss = F.cross_entropy(network(inputs), targets, label_smoothing=config.label_smoothing)
            optimiser.zero_grad(set_to_none=True)
            torch.autograd.backward(loss)
            optimiser.step()
            schedule.step()
            # The average warms up (as timm's does): early on, the random start would dominate.
            done = (epoch - 1) * steps_per_epoch + step
            _update_average(average, network, min(config.ema_decay, (1 + done) / (10 + done)))
            losses.append(loss.item())
            on_step()
        val_logits = predict_logits(average, val_inputs, device)
        val_loss = F.cross_entropy(val_logits, val_labels).item()
        val_accuracy = (val_logits.argmax(1) == val_labels).float().mean().item()
        record = EpochRecord(
            epoch, float(np.mean(losses)), val_accuracy, val_loss, time.perf_counter() - started
        )
        history.append(record)
        on_epoch(record)
        if val_accuracy > best[0]:
            best = (val_accuracy, epoch)
            best_state = {k: v.detach().clone() for k, v in average.state_dict().items()}
        elif epoch - best[1] >= config.patience:
            stopped_early = True
            break
    average.load_state_dict(best_state)
    return Trained(average.eval(), best[1], best[0], history, stopped_early)


def _one_cycle(step: int, warmup: int, total: int) -> float:
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


@torch.no_grad()  # not inference mode: calibration differentiates through these logits
def predict_logits(
    network: nn.Module, inputs: torch.Tensor, device: torch.device, batch_size: int = 128
) -> torch.Tensor:
    network.eval()
    chunks = [
        network(inputs[start : start + batch_size].to(device)).float().cpu()
        for start in range(0, len(inputs), batch_size)
    ]
    return torch.cat(chunks)
