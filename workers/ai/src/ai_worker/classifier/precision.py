"""The number format a local model computes in: bfloat16 where the hardware has it natively
(half the memory traffic, and on CPUs with AVX-512 BF16 or AMX about twice the images/s of a
batched pass), float32 elsewhere, where bfloat16 is emulated and slower."""

from __future__ import annotations

import torch

from ai_worker.settings import Precision


def inference_dtype(precision: Precision, device: torch.device) -> torch.dtype:
    if precision == "float32":
        return torch.float32
    if precision == "bfloat16":
        return torch.bfloat16
    return torch.bfloat16 if native_bfloat16(device) else torch.float32


def native_bfloat16(device: torch.device) -> bool:
    """Whether `device` computes in bfloat16 in hardware."""
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        # torch's own probes of the CPU (private, hence looked up): oneDNN runs bfloat16
        # convolutions and matrix products natively only with these instructions.
        probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
        return any(getattr(torch.cpu, probe, lambda: False)() for probe in probes)
    return False
