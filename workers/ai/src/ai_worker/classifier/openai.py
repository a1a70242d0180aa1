"""A vision model behind an OpenAI-compatible API, answering in a JSON schema of our classes."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Sequence
from typing import Any

import openai
from PIL import Image

from ai_worker.classifier.base import ModelUnavailable, Scores
from bunri.guides import load_taxonomy

INSTRUCTIONS = (
    "You classify a photo of one piece of household waste into South Korea's household-waste "
    "taxonomy so that the user can dispose of it correctly. Answer with the class that fits best, "
    "your confidence in it (0 to 1), and up to three other plausible classes with theirs."
)


class OpenAIClassifier:
    backend = "openai"
    unsure_below = None

    def __init__(
        self, *, base_url: str | None, api_key: str | None, model: str, timeout: float
    ) -> None:
        if not api_key:
            raise ModelUnavailable(
                "The openai backend needs BUNRI_OPENAI_API_KEY (and BUNRI_OPENAI_BASE_URL for a "
                "compatible server other than OpenAI's)."
            )
        self._client = openai.OpenAI(
            base_url=base_url, api_key=api_key, timeout=timeout, max_retries=2
        )
        self.model_name = model
        taxonomy = load_taxonomy()
        self._classes = {
            f"{major.name}/{middle.name}": (major.name, middle.name)
            for major in taxonomy.majors
            for middle in major.middles
        }
        self._schema = _schema(sorted(self._classes))

    def classify(self, images: Sequence[Image.Image]) -> list[Scores]:
        return [self._classify_one(image) for image in images]

    def _classify_one(self, image: Image.Image) -> Scores:
        try:
            completion: Any = self._client.chat.completions.create(
                model=self.model_name,
                messages=[
                    {"role": "system", "content": INSTRUCTIONS},
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": "What is this, and which class is it?"},
                            {"type": "image_url", "image_url": {"url": _data_url(image)}},
                        ],
                    },
                ],
                response_format={
                    "type": "json_schema",
                    "json_schema": {"name": "waste_class", "strict": True, "schema": self._schema},
                },
            )
        except (
            openai.APIConnectionError,
            openai.AuthenticationError,
            openai.NotFoundError,
            openai.PermissionDeniedError,
        ) as exc:
            raise ModelUnavailable(
                f"The model {self.model_name!r} at BUNRI_OPENAI_BASE_URL cannot be used: {exc}"
            ) from exc
        answer = json.loads(completion.choices[0].message.content or "{}")
        scores: Scores = {}
        for choice in [answer, *answer.get("alternatives", [])]:
            key = self._classes.get(choice.get("class", ""))
            if key is not None:
                confidence = min(max(float(choice.get("confidence", 0)), 0.0), 1.0)
                scores[(*key, None)] = max(scores.get((*key, None), 0.0), confidence)
        return scores


def _schema(classes: list[str]) -> dict[str, Any]:
    choice: dict[str, Any] = {
        "type": "object",
        "properties": {
            "class": {"type": "string", "enum": classes},
            "confidence": {"type": "number"},
        },
        "required": ["class", "confidence"],
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {
            "class": choice["properties"]["class"],
            "item": {"type": "string", "description": "What the item is, in a few words"},
            "confidence": {"type": "number"},
            "alternatives": {"type": "array", "items": choice},
        },
        "required": ["class", "item", "confidence", "alternatives"],
        "additionalProperties": False,
    }


def _data_url(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
