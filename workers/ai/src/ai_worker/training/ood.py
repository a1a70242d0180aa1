"""How far a photo is from what the waste head was trained on, fitted on training features and
calibrated on held-out ones.

Two scores: the Mahalanobis distance of the pooled features to the nearest class mean under a
shared, shrunk covariance (Lee et al. 2018), and the energy of the waste logits (Liu et al.
2020). Each becomes a typicality in [0, 1] through a logistic curve placed on the held-out
photos' own scores: 0.99 at their median, 0.5 at their 99th percentile, so about one held-out
photo in a hundred is judged atypical by each.
"""

from __future__ import annotations

import math

import torch

from ai_worker.classifier.combine import Typicality

SHRINKAGE = 0.1  # of the covariance towards its mean variance: 1,280 dimensions, ~2,000 photos
AT_MEDIAN = 0.99
EDGE_QUANTILE = 0.99


def fit_whitening(
    features: torch.Tensor, labels: torch.Tensor, num_classes: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(whitening W, whitened class means WμT): the distance to class c is ‖W f - (Wμ)_c‖."""
    features = features.double()
    means = torch.stack([features[labels == c].mean(dim=0) for c in range(num_classes)])
    centred = features - means[labels]
    covariance = centred.T @ centred / max(1, len(features) - num_classes)
    # Features that never vary (a tiny dataset's) still get a finite distance.
    spread = covariance.diagonal().mean().clamp(min=1e-6)
    target = spread * torch.eye(covariance.shape[0], dtype=torch.float64)
    shrunk = (1 - SHRINKAGE) * covariance + SHRINKAGE * target
    eigenvalues, eigenvectors = torch.linalg.eigh(shrunk)
    whitening = (eigenvectors / eigenvalues.clamp(min=1e-12).sqrt()).T
    return whitening.float(), (means @ whitening.T).float()


def mahalanobis(
    features: torch.Tensor, whitening: torch.Tensor, whitened_means: torch.Tensor
) -> torch.Tensor:
    """The distance of each row to its nearest class mean."""
    whitened = features.float() @ whitening.T
    return torch.cdist(whitened, whitened_means).min(dim=1).values


def energy(waste_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """T·logsumexp(z / T): high where some class fits well (the negative of Liu et al.'s
    energy, so that for both scores here "high" means the same thing as for a distance)."""
    return temperature * torch.logsumexp(waste_logits / temperature, dim=1)


def fit_typicality(scores: torch.Tensor, *, higher_is_typical: bool) -> Typicality:
    """The logistic curve through the held-out scores' median (AT_MEDIAN) and edge (0.5)."""
    sign = 1.0 if higher_is_typical else -1.0
    signed = scores.double() * sign
    median = float(signed.quantile(0.5))
    edge = float(signed.quantile(1 - EDGE_QUANTILE))
    width = max((median - edge) / math.log(AT_MEDIAN / (1 - AT_MEDIAN)), 1e-6)
    return Typicality(centre=edge * sign, width=width * sign)
