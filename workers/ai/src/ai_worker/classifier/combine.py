"""One answer from the local model's two heads: the waste head (fine-tuned on waste photos, sure
of itself only on things like them) and the ImageNet head (a thousand everyday things, some of
which the ImageNet map places in the taxonomy).

The answer is a mixture of two experts, weighted by how much the photo is one the waste head
knows:

    p(k) = t · p_waste(k) + (1 - t) · p_imagenet→taxonomy(k)
    t    = typical(features) · typical(waste logits) · (1 - ImageNet's mass on classes the
           waste head has never seen: food, clothes, furniture...)

What ImageNet puts on classes the map leaves out (animals, people, landscapes...) goes nowhere:
the scores then sum to less than one, and the rest is "none of these", so a photo of nothing the
model knows has no confident answer.

A mixture of calibrated experts is not itself calibrated (the weight t is rarely exactly 1 even
for a typical photo), so the answer gets a temperature of its own, fitted on held-out photos:
each middle class's probability, and that of "none of these", raised to 1/T and renormalised.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ai_worker.classifier.base import ClassKey, Scores

Array = NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class Typicality:
    """A logistic curve from a score to how typical it is of the training photos, in [0, 1]:
    0.5 at `centre`; `width` is negative where a lower score is more typical (a distance)."""

    centre: float
    width: float

    def __call__(self, scores: Array) -> Array:
        exponent = np.clip(-(scores - self.centre) / self.width, -60.0, 60.0)
        typical: Array = (1.0 / (1.0 + np.exp(exponent))).astype(np.float32)
        return typical


@dataclass(frozen=True, slots=True)
class Mixture:
    """What the combination needs of a trained model."""

    waste_keys: Sequence[ClassKey]  # where each waste class goes
    imagenet_keys: Mapping[int, ClassKey]  # the ImageNet map: class index → where it goes
    waste_temperature: float
    imagenet_temperature: float
    whitening: Array  # (D, D): the Mahalanobis distance is ‖W f - (Wμ)_c‖
    whitened_means: Array  # (classes, D)
    distance: Typicality
    energy: Typicality
    answer_temperature: float = 1.0


@dataclass(frozen=True, slots=True)
class Combined:
    keys: list[ClassKey]
    probabilities: Array  # (N, keys); rows sum to at most 1
    trust: Array  # (N,): t, the waste head's weight
    feature_typicality: Array
    logit_typicality: Array
    unseen_mass: Array  # ImageNet's mass on classes outside the waste head's

    def middles(self) -> tuple[list[tuple[str, str]], Array]:
        """The middle classes, and each one's probability (its minors' summed), (N, middles)."""
        return _per_middle(self.keys, self.probabilities)

    def scores(self) -> list[Scores]:
        return [
            {key: float(p) for key, p in zip(self.keys, row, strict=True)}
            for row in self.probabilities
        ]


def softmax(logits: Array, temperature: float) -> Array:
    scaled = logits / temperature
    scaled = scaled - scaled.max(axis=1, keepdims=True)
    exponentials = np.exp(scaled)
    result: Array = exponentials / exponentials.sum(axis=1, keepdims=True)
    return result


def mahalanobis(features: Array, whitening: Array, whitened_means: Array) -> Array:
    whitened = features @ whitening.T
    squared = (
        (whitened**2).sum(axis=1, keepdims=True)
        - 2 * whitened @ whitened_means.T
        + (whitened_means**2).sum(axis=1)
    )
    distance: Array = np.sqrt(np.maximum(squared.min(axis=1), 0.0))
    return distance


def energy(waste_logits: Array, temperature: float) -> Array:
    scaled = waste_logits / temperature
    top = scaled.max(axis=1)
    result: Array = temperature * (top + np.log(np.exp(scaled - top[:, None]).sum(axis=1)))
    return result


def combine(
    mixture: Mixture, waste_logits: Array, imagenet_logits: Array, features: Array
) -> Combined:
    keys = list(dict.fromkeys([*mixture.waste_keys, *mixture.imagenet_keys.values()]))
    column = {key: index for index, key in enumerate(keys)}
    from_waste = np.zeros((len(mixture.waste_keys), len(keys)), np.float32)
    for row, key in enumerate(mixture.waste_keys):
        from_waste[row, column[key]] = 1.0
    from_imagenet = np.zeros((imagenet_logits.shape[1], len(keys)), np.float32)
    for index, key in mixture.imagenet_keys.items():
        from_imagenet[index, column[key]] = 1.0
    known_middles = {key[:2] for key in mixture.waste_keys}
    unseen = np.array([key[:2] not in known_middles for key in keys], np.float32)

    waste = softmax(waste_logits.astype(np.float32), mixture.waste_temperature) @ from_waste
    imagenet = (
        softmax(imagenet_logits.astype(np.float32), mixture.imagenet_temperature) @ from_imagenet
    )
    feature_typicality = mixture.distance(
        mahalanobis(features.astype(np.float32), mixture.whitening, mixture.whitened_means)
    )
    logit_typicality = mixture.energy(energy(waste_logits, mixture.waste_temperature))
    unseen_mass: Array = (imagenet @ unseen).astype(np.float32)
    trust: Array = (feature_typicality * logit_typicality * (1.0 - unseen_mass)).astype(np.float32)
    probabilities: Array = trust[:, None] * waste + (1.0 - trust[:, None]) * imagenet
    if mixture.answer_temperature != 1.0:
        probabilities = _with_temperature(keys, probabilities, mixture.answer_temperature)
    return Combined(keys, probabilities, trust, feature_typicality, logit_typicality, unseen_mass)


def _middle_columns(keys: Sequence[ClassKey]) -> tuple[list[tuple[str, str]], Array]:
    middles = list(dict.fromkeys(key[:2] for key in keys))
    summing = np.zeros((len(keys), len(middles)), np.float32)
    for row, key in enumerate(keys):
        summing[row, middles.index(key[:2])] = 1.0
    return middles, summing


def _per_middle(
    keys: Sequence[ClassKey], probabilities: Array
) -> tuple[list[tuple[str, str]], Array]:
    middles, summing = _middle_columns(keys)
    per_middle: Array = probabilities @ summing
    return middles, per_middle


def with_none(per_middle: Array) -> Array:
    """Each middle class's probability and, last, that of "none of these"."""
    rest = np.clip(1.0 - per_middle.sum(axis=1, keepdims=True), 0.0, 1.0)
    stacked: Array = np.concatenate([per_middle, rest], axis=1).astype(np.float32)
    return stacked


def _with_temperature(keys: Sequence[ClassKey], probabilities: Array, temperature: float) -> Array:
    _, summing = _middle_columns(keys)
    per_middle = probabilities @ summing
    stacked = np.maximum(with_none(per_middle), 1e-12)
    powered = stacked ** (1.0 / temperature)
    powered /= powered.sum(axis=1, keepdims=True)
    # Each key keeps its share of its middle class; the middle class takes its new probability.
    factor = powered[:, :-1] / np.maximum(per_middle, 1e-12)
    scaled: Array = (probabilities * (factor @ summing.T)).astype(np.float32)
    return scaled
