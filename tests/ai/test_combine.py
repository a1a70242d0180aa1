"""The local model's combination of its two heads and its abstention, with fixed logits and
features: each case is a photo whose heads are set to say something, and the answer checked."""

from __future__ import annotations

import numpy as np
import pytest

from ai_worker.classifier.base import ClassKey
from ai_worker.classifier.combine import Mixture, Typicality, combine, energy, mahalanobis

PAPER: ClassKey = ("재활용폐기물", "종이", None)
METAL: ClassKey = ("재활용폐기물", "금속류", None)
FOOD: ClassKey = ("음식물류폐기물", "음식물쓰레기", "과일껍질")
CLOTHES: ClassKey = ("재활용폐기물", "의류및원단", "티셔츠")
ENVELOPE, BANANA, JERSEY, DOG = 549, 954, 610, 207  # ImageNet indices; the dog is unmapped
DIMENSIONS = 4


def mixture() -> Mixture:
    return Mixture(
        waste_keys=[PAPER, METAL],
        imagenet_keys={ENVELOPE: PAPER, BANANA: FOOD, JERSEY: CLOTHES},
        waste_temperature=1.0,
        imagenet_temperature=1.0,
        whitening=np.eye(DIMENSIONS, dtype=np.float32),
        # The two waste classes' feature means, whitened: paper at +x, metal at -x.
        whitened_means=np.array([[3, 0, 0, 0], [-3, 0, 0, 0]], np.float32),
        # Typical up to a distance of about 2, atypical beyond 4.
        distance=Typicality(centre=3.0, width=-0.25),
        # Typical when some waste class has a logit of about 4 or more.
        energy=Typicality(centre=2.0, width=0.25),
    )


def photo(
    waste: tuple[float, float], imagenet: dict[int, float], features: tuple[float, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    imagenet_logits = np.full((1, 1000), -5.0, np.float32)
    for index, logit in imagenet.items():
        imagenet_logits[0, index] = logit
    return (
        np.array([waste], np.float32),
        imagenet_logits,
        np.array([features], np.float32),
    )


def answer(*heads: np.ndarray) -> tuple[ClassKey, float, float]:
    combined = combine(mixture(), *heads)
    (scores,) = combined.scores()
    best = max(scores, key=scores.__getitem__)
    return best, scores[best], float(combined.trust[0])


def test_a_photo_like_the_training_photos_gets_the_waste_heads_answer() -> None:
    best, confidence, trust = answer(*photo((8.0, 0.0), {DOG: 2.0}, (3.0, 0.2, 0, 0)))
    assert best == PAPER
    assert trust > 0.95
    assert confidence > 0.9


def test_food_the_waste_head_never_saw_gets_imagenets_answer() -> None:
    # The waste head is sure it is metal (it has only seen six kinds of thing), but ImageNet is
    # sure it is a banana, and the features are far from every waste class.
    best, confidence, trust = answer(*photo((0.0, 9.0), {BANANA: 9.0}, (0.0, 6.0, 0, 0)))
    assert best == FOOD
    assert trust < 0.05
    assert confidence > 0.9


def test_imagenets_mass_on_unseen_classes_outweighs_a_typical_looking_photo() -> None:
    # A white T-shirt can look like paper to features trained on paper; ImageNet knows better.
    best, _, trust = answer(*photo((8.0, 0.0), {JERSEY: 9.0}, (3.0, 0.0, 0, 0)))
    assert best == CLOTHES
    assert trust < 0.05


def test_a_photo_of_nothing_either_head_knows_is_left_unanswered() -> None:
    combined = combine(mixture(), *photo((0.0, 9.0), {DOG: 9.0}, (0.0, 0.0, 7.0, 0)))
    (scores,) = combined.scores()
    assert max(scores.values()) < 0.05  # the rest of the mass is "none of these"
    assert sum(scores.values()) < 0.1


def test_imagenet_agreeing_with_the_waste_head_does_not_lower_its_weight() -> None:
    _, _, trust = answer(*photo((8.0, 0.0), {ENVELOPE: 9.0}, (3.0, 0.0, 0, 0)))
    assert trust > 0.95


def test_scores_are_probabilities_and_sum_to_at_most_one() -> None:
    generator = np.random.default_rng(0)
    combined = combine(
        mixture(),
        generator.normal(0, 4, (50, 2)).astype(np.float32),
        generator.normal(0, 4, (50, 1000)).astype(np.float32),
        generator.normal(0, 4, (50, DIMENSIONS)).astype(np.float32),
    )
    assert (combined.probabilities >= 0).all()
    assert (combined.probabilities.sum(axis=1) <= 1 + 1e-5).all()
    assert ((combined.trust >= 0) & (combined.trust <= 1)).all()


def test_distance_and_energy_scores() -> None:
    distances = mahalanobis(
        np.array([[3, 0, 0, 0], [0, 4, 0, 0]], np.float32),
        np.eye(DIMENSIONS, dtype=np.float32),
        np.array([[3, 0, 0, 0], [-3, 0, 0, 0]], np.float32),
    )
    assert distances == pytest.approx([0.0, 5.0], abs=1e-4)
    assert energy(np.array([[0.0, 0.0]], np.float32), 1.0) == pytest.approx([np.log(2)])


def test_typicality_falls_through_one_half_at_its_centre() -> None:
    distance = Typicality(centre=3.0, width=-0.25)
    near, edge, far = distance(np.array([1.0, 3.0, 5.0], np.float32))
    assert near > 0.99
    assert edge == pytest.approx(0.5)
    assert far < 0.01
