"""The compact CNN as inference runs it: batch norms folded into the convolutions before them."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from ai_worker.classifier.local import load_model
from ai_worker.models import BUNDLED_MODEL
from ai_worker.training.network import build_network, fold_batch_norms


def _trained_looking(architecture: str) -> nn.Module:
    """Random weights and batch-norm statistics far from the identity, as training leaves them."""
    generator = torch.Generator().manual_seed(7)
    network = build_network(architecture, 6)
    with torch.no_grad():
        for module in network.modules():
            if isinstance(module, nn.BatchNorm2d):
                channels = module.num_features
                assert module.running_mean is not None
                assert module.running_var is not None
                module.weight.copy_(torch.rand(channels, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(channels, generator=generator))
                module.running_mean.copy_(torch.randn(channels, generator=generator))
                module.running_var.copy_(torch.rand(channels, generator=generator) + 0.1)
    return network.eval()


@pytest.mark.parametrize("architecture", ["resnet10-half", "resnet14-s"])
def test_folding_keeps_the_networks_answers_and_leaves_no_batch_norm(architecture: str) -> None:
    network = _trained_looking(architecture)
    images = torch.randn(4, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        expected = network(images)
        folded = fold_batch_norms(copy.deepcopy(network))
        answered = folded(images)
    assert not any(isinstance(module, nn.BatchNorm2d) for module in folded.modules())
    assert torch.allclose(answered, expected, rtol=1e-4, atol=1e-4)
    assert answered.argmax(dim=1).tolist() == expected.argmax(dim=1).tolist()


def test_a_network_in_training_mode_is_not_folded() -> None:
    with pytest.raises(ValueError, match="eval mode"):
        fold_batch_norms(build_network("resnet10-half", 6).train())


def test_the_shipped_model_loads_folded() -> None:
    network, _ = load_model(BUNDLED_MODEL)
    assert not any(isinstance(module, nn.BatchNorm2d) for module in network.modules())
