"""From a classifier's scores to the `result` of a scan: the class (major, middle, minor) with its
confidence, the alternatives, the disposal guide, and which model said so."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from ai_worker.classifier.base import Classifier, Scores
from bunri.guides import Taxonomy

MAX_ALTERNATIVES = 3
DEFAULT_UNSURE_BELOW = 0.5


def unsure_threshold(configured: float | None, classifier: Classifier) -> float:
    """The operator's setting first, then the model's own calibrated threshold, then 0.5."""
    if configured is not None:
        return configured
    if classifier.unsure_below is not None:
        return classifier.unsure_below
    return DEFAULT_UNSURE_BELOW


def build_result(
    scores: Scores,
    taxonomy: Taxonomy,
    *,
    backend: str,
    model_name: str,
    unsure_below: float,
) -> dict[str, Any]:
    """A middle class's confidence is the sum of its minors' (the guide belongs to the middle
    class); the minor shown is the likeliest one within it."""
    if not scores:
        raise ValueError("the classifier returned no scores")
    middles: defaultdict[tuple[str, str], float] = defaultdict(float)
    for (major, middle, _), probability in scores.items():
        middles[(major, middle)] += probability
    ranked = sorted(middles.items(), key=lambda item: item[1], reverse=True)
    (major, middle), confidence = ranked[0]
    minors = {key[2]: p for key, p in scores.items() if key[:2] == (major, middle) and key[2]}
    minor = max(minors, key=minors.__getitem__) if minors else None
    guide = taxonomy.middle(major, middle).guide
    return {
        "classification": {
            "major": major,
            "middle": middle,
            "minor": minor,
            "confidence": round(confidence, 4),
            "unsure": confidence < unsure_below,
            "alternatives": [
                {"major": other_major, "middle": other_middle, "confidence": round(p, 4)}
                for (other_major, other_middle), p in ranked[1 : 1 + MAX_ALTERNATIVES]
            ],
        },
        "guide": guide.as_api(),
        "model": {"backend": backend, "name": model_name},
    }
