"""Waste classifiers behind one interface, chosen by BUNRI_CLASSIFIER_BACKEND."""

from ai_worker.classifier.base import Classifier, ClassKey, ModelUnavailable, Scores
from ai_worker.classifier.factory import load_classifier

__all__ = ["ClassKey", "Classifier", "ModelUnavailable", "Scores", "load_classifier"]
