from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlsplit

from ai_worker.classifier.base import Classifier, ModelUnavailable
from ai_worker.settings import AiWorkerSettings


def hub_reachable(timeout: float = 2.0) -> bool:
    """Whether the Hugging Face hub answers at all; without it the libraries retry every file for
    about half a minute before giving up."""
    endpoint = urlsplit(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    try:
        with socket.create_connection((endpoint.hostname or "", endpoint.port or 443), timeout):
            return True
    except OSError:
        return False


def offline_for(settings: AiWorkerSettings, model: str) -> bool:
    return settings.model_offline or Path(model).exists() or not hub_reachable()


def load_classifier(settings: AiWorkerSettings) -> Classifier:
    """The configured backend, loaded; `ModelUnavailable` says what to set when it cannot be."""
    if settings.classifier_backend == "local":
        from ai_worker.classifier.local import LocalClassifier

        return LocalClassifier(
            settings.local_model,
            device=settings.device,
            precision=settings.local_model_precision,
        )
    if settings.classifier_backend == "clip":
        from ai_worker.classifier.clip import ClipClassifier

        return ClipClassifier(
            settings.clip_model,
            offline=offline_for(settings, settings.clip_model),
            device=settings.device,
        )
    if settings.classifier_backend == "hf":
        if settings.hf_model is None or settings.hf_label_map is None:
            raise ModelUnavailable("The hf backend needs BUNRI_HF_MODEL and BUNRI_HF_LABEL_MAP.")
        from ai_worker.classifier.hf import HuggingFaceClassifier

        return HuggingFaceClassifier(
            settings.hf_model,
            settings.hf_label_map,
            offline=offline_for(settings, settings.hf_model),
            device=settings.device,
        )
    from ai_worker.classifier.openai import OpenAIClassifier

    return OpenAIClassifier(
        base_url=settings.openai_base_url,
        api_key=settings.openai_api_key.get_secret_value() if settings.openai_api_key else None,
        model=settings.openai_model,
        timeout=settings.openai_timeout_seconds,
    )
