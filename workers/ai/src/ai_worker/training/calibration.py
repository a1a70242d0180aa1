"""Making a classifier's confidence mean what it says: temperature scaling (Guo et al. 2017)
fitted on the validation split, the expected calibration error, and the confidence below which
an answer is better given as "not sure"."""

from __future__ import annotations

import math
from itertools import pairwise

import torch
import torch.nn.functional as F  # noqa: N812 (torch's own convention)

# A "sure" answer should be right at least this often on the validation split.
SURE_PRECISION = 0.95


# Where validation answers are all right, the likelihood keeps rising as T falls to zero; the
# bounds keep a model that saw few photos from claiming certainty it has not earned.
TEMPERATURE_BOUNDS = (0.25, 10.0)


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """The temperature T (within the bounds) minimising the negative log-likelihood of
    softmax(logits / T): a golden-section search over log T, where that likelihood has a single
    minimum."""

    def loss(log_temperature: float) -> float:
        return F.cross_entropy(logits / math.exp(log_temperature), labels).item()

    low, high = (math.log(bound) for bound in TEMPERATURE_BOUNDS)
    ratio = (math.sqrt(5) - 1) / 2
    for _ in range(60):
        left, right = high - ratio * (high - low), low + ratio * (high - low)
        if loss(left) < loss(right):
            high = right
        else:
            low = left
    return math.exp((low + high) / 2)


def expected_calibration_error(
    probabilities: torch.Tensor, labels: torch.Tensor, bins: int = 15
) -> float:
    """The gap between confidence and accuracy, averaged over equal-width confidence bins and
    weighted by how many answers fall in each."""
    confidence, predicted = probabilities.max(dim=1)
    correct = (predicted == labels).float()
    edges = torch.linspace(0, 1, bins + 1)
    error = torch.zeros(())
    for low, high in pairwise(edges):
        inside = (confidence > low) & (confidence <= high)
        if inside.any():
            gap = (confidence[inside].mean() - correct[inside].mean()).abs()
            error += gap * inside.float().mean()
    return float(error)


def unsure_threshold(
    probabilities: torch.Tensor, labels: torch.Tensor, precision: float = SURE_PRECISION
) -> float:
    """The lowest confidence above which the answers are right at least `precision` of the time
    (on these, the validation answers); below it a result says it is unsure."""
    confidence, predicted = probabilities.max(dim=1)
    order = confidence.argsort(descending=True)
    correct = (predicted[order] == labels[order]).float()
    running_precision = correct.cumsum(0) / torch.arange(1, len(correct) + 1)
    acceptable = (running_precision >= precision).nonzero()
    if len(acceptable) == 0:
        return 1.0  # never sure: every answer comes with its alternatives
    return float(confidence[order][int(acceptable[-1])])
