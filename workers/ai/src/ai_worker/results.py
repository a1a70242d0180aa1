"""From a classifier's scores to the `result` of a scan: the class (major, middle, minor) with its
confidence, the alternatives, the disposal guide, and which model said so."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from ai_worker.classifier.base import Classifier, Scores
from bunri.guides import Taxonomy
from bunri.scans.result import (
    MAX_ALTERNATIVES,
    Alternative,
    Classification,
    Guide,
    ModelInfo,
    ScanResult,
)

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
    class); the minor shown is the likeliest one within it. What the scores leave out of one is
    "none of these": it lowers every class's confidence, and so marks an unknown photo unsure."""
    if not scores:
        raise ValueError("the classifier returned no scores")
    middles: defaultdict[tuple[str, str], float] = defaultdict(float)
    for (major, middle, _), probability in scores.items():
        middles[(major, middle)] += probability
    ranked = sorted(middles.items(), key=lambda item: item[1], reverse=True)
    (major, middle), confidence = ranked[0]
    minors = {key[2]: p for key, p in scores.items() if key[:2] == (major, middle) and key[2]}
    minor = max(minors, key=minors.__getitem__) if minors else None
    result = ScanResult(
        classification=Classification(
            major=major,
            middle=middle,
            minor=minor,
            confidence=_probability(confidence),
            unsure=confidence < unsure_below,
            alternatives=[
                Alternative(major=other_major, middle=other_middle, confidence=_probability(p))
                for (other_major, other_middle), p in ranked[1 : 1 + MAX_ALTERNATIVES]
            ],
        ),
        guide=Guide.model_validate(taxonomy.middle(major, middle).guide.as_api()),
        model=ModelInfo(backend=backend, name=model_name),
    )
    return result.model_dump(mode="json")


def _probability(value: float) -> float:
    return min(1.0, max(0.0, round(value, 4)))
