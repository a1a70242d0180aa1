from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr

from ai_worker.models import BUNDLED_MODEL
from bunri.chat.settings import LlmSettings
from bunri.worker.settings import WorkerSettings

Backend = Literal["local", "clip", "hf", "openai"]
Precision = Literal["auto", "float32", "bfloat16"]


# On a GPU one pass over many images costs little more than over one. On CPU each image's
# preparation and its hand-over to the inference process take the cores that batching frees, so
# batches add latency for no throughput (figures: bench.ai_batching, the README's table).
CUDA_BATCH_MAX_SIZE = 16


class AiWorkerSettings(LlmSettings, WorkerSettings):
    service_name: str = "ai-worker"

    ai_worker_concurrency: int = Field(default=4, ge=1)
    # Threads each pool child gives torch; the children already run side by side.
    torch_threads: int = Field(default=1, ge=1)
    device: str = Field(default="cpu", description="torch device: cpu, cuda, cuda:1 ...")
    # Dynamic batching (ai_worker.batching). A batch never holds more images than there are
    # pool children waiting, so it needs ai_worker_concurrency >= ai_batch_max_size to fill.
    ai_batch_max_size: int | None = Field(
        default=None,
        ge=1,
        description="Images per forward pass at most; 1 turns batching off. Unset: "
        f"{CUDA_BATCH_MAX_SIZE} on a CUDA device, off on CPU.",
    )
    ai_batch_max_wait_ms: float = Field(
        default=5.0, ge=0, description="How long a batch waits for more images after its first."
    )
    ai_batch_torch_threads: int | None = Field(
        default=None, ge=1, description="Threads of the inference process; default: every core."
    )
    ai_batch_answer_timeout_seconds: float = Field(
        default=60.0, gt=0, description="A child waiting longer classifies its image itself."
    )

    classifier_backend: Backend = "local"
    local_model: Path = Field(
        default=BUNDLED_MODEL,
        description="A model file written by `bunri train`; default: the model shipped in this "
        "package.",
    )
    local_model_precision: Precision = Field(
        default="auto",
        description="What the local model computes in. On a CPU, auto and float32 run it in "
        "ONNX Runtime in float32 (the fastest there: EfficientNet's depthwise convolutions have "
        "no fast bfloat16 kernels), bfloat16 in torch. On a GPU it runs in torch: auto is "
        "bfloat16 where the device has it natively, float32 elsewhere.",
    )
    clip_model: str = Field(
        default="openai/clip-vit-base-patch32",
        description="A local folder or a Hugging Face hub id of a CLIP checkpoint.",
    )
    hf_model: str | None = Field(
        default=None, description="A local folder or hub id of an image-classification model."
    )
    hf_label_map: Path | None = Field(
        default=None,
        description="JSON object from each of the model's labels to 'major/middle' or "
        "'major/middle/minor' (or null to ignore that label).",
    )
    model_offline: bool = Field(
        default=False, description="Never reach for the hub: load from local files only."
    )
    openai_base_url: str | None = None
    openai_api_key: SecretStr | None = None
    openai_model: str = "gpt-4o-mini"
    openai_timeout_seconds: float = Field(default=30.0, gt=0)

    unsure_below: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Below this confidence a result says it is unsure; default: the threshold "
        "the local model was calibrated with, 0.5 for the other backends.",
    )
    analysis_task_max_retries: int = Field(default=5, ge=0)

    def batch_max_size(self) -> int:
        """`ai_batch_max_size`, or where it is unset what pays on the configured device."""
        if self.ai_batch_max_size is not None:
            return self.ai_batch_max_size
        return CUDA_BATCH_MAX_SIZE if self.device.startswith("cuda") else 1
