"""What the local model runs in: ONNX Runtime in float32 on a CPU, torch elsewhere (bfloat16 where
the hardware has it, float32 wherever it is asked for or missing), all with the same answers to
within their rounding."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps
from pydantic import ValidationError

from ai_worker.classifier import precision
from ai_worker.classifier.local import LocalClassifier
from ai_worker.classifier.precision import inference_dtype
from ai_worker.models import BUNDLED_MODEL
from ai_worker.settings import AiWorkerSettings
from tests.support.trashnet import held_out_photos

CPU = torch.device("cpu")


def test_an_explicit_precision_is_kept_whatever_the_hardware() -> None:
    assert inference_dtype("float32", CPU) == torch.float32
    assert inference_dtype("bfloat16", CPU) == torch.bfloat16


@pytest.mark.parametrize(("native", "expected"), [(True, torch.bfloat16), (False, torch.float32)])
def test_auto_computes_in_bfloat16_only_where_the_cpu_has_it(
    native: bool, expected: torch.dtype, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: native)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    assert precision.native_bfloat16(CPU) is native
    assert inference_dtype("auto", CPU) == expected


def test_a_device_without_a_probe_computes_in_float32() -> None:
    assert inference_dtype("auto", torch.device("meta")) == torch.float32


def test_the_setting_names_a_precision() -> None:
    assert AiWorkerSettings().local_model_precision == "auto"
    assert AiWorkerSettings(local_model_precision="bfloat16").local_model_precision == "bfloat16"
    with pytest.raises(ValidationError):
        AiWorkerSettings(local_model_precision="float16")


def test_every_engine_gives_the_same_answers_on_real_photos() -> None:
    pictures = []
    for path, _ in held_out_photos(per_class=2):
        with Image.open(path) as opened:
            pictures.append(ImageOps.exif_transpose(opened).convert("RGB"))
    onnx = LocalClassifier(BUNDLED_MODEL)  # auto, on a CPU: ONNX Runtime in float32
    exact = LocalClassifier(BUNDLED_MODEL, precision="float32")
    rounded = LocalClassifier(BUNDLED_MODEL, precision="bfloat16")
    assert (onnx.engine, onnx.number_format) == ("onnx", "float32")
    assert (rounded.engine, rounded.number_format) == ("torch", "bfloat16")
    pixels = onnx.prepare(pictures)
    expected = onnx.combined(pixels).probabilities
    assert abs(exact.combined(pixels).probabilities - expected).max() < 1e-3
    got = rounded.combined(pixels).probabilities
    # bfloat16 keeps 8 bits of mantissa: a probability moves by a few hundredths at most, and a
    # photo's answer changes only where two classes were within that of each other.
    assert abs(got - expected).max() < 0.08
    top_two = np.sort(expected, axis=1)[:, -2:]
    clear = (top_two[:, 1] - top_two[:, 0]) > 0.15
    assert clear.sum() >= len(pictures) // 2
    assert (got.argmax(1)[clear] == expected.argmax(1)[clear]).all()
