"""EfficientNet-Lite in plain torch: the published ImageNet weights load into it and recognise a
real photo, its padding is TensorFlow's, and folding the norms changes nothing but speed."""

from __future__ import annotations

import pytest
import torch
from PIL import Image, ImageOps

from ai_worker.training import efficientnet
from ai_worker.training.augment import normalise
from ai_worker.training.data import square, to_tensor
from ai_worker.training.efficientnet import (
    EfficientNetLite,
    SamePad,
    WasteNetwork,
    fold_norms,
    load_pretrained,
    pretrained_weights,
)
from tests.support.trashnet import trashnet_dir

WATER_BOTTLE = 898


def test_the_variants_have_the_published_sizes() -> None:
    def parameters(variant: str) -> float:
        return sum(p.numel() for p in EfficientNetLite(variant).parameters()) / 1e6

    # Tan & Le's Lite table: 4.7M, 5.4M, 6.1M parameters.
    assert parameters("efficientnet-lite0") == pytest.approx(4.65, abs=0.05)
    assert parameters("efficientnet-lite1") == pytest.approx(5.42, abs=0.05)
    assert parameters("efficientnet-lite2") == pytest.approx(6.09, abs=0.05)


def test_the_published_weights_load_and_recognise_a_real_photo() -> None:
    network = EfficientNetLite("efficientnet-lite0")
    load_pretrained(network, pretrained_weights("efficientnet-lite0"))
    with Image.open(trashnet_dir() / "plastic" / "plastic5.jpg") as opened:
        photo = square(ImageOps.exif_transpose(opened).convert("RGB"), 224)
    with torch.inference_mode():
        probabilities = network.eval()(normalise(to_tensor([photo]))).softmax(dim=1)
    assert int(probabilities.argmax()) == WATER_BOTTLE
    assert float(probabilities.max()) > 0.5


def test_weights_of_another_variant_are_refused() -> None:
    with pytest.raises(ValueError, match="efficientnet-lite1"):
        load_pretrained(
            EfficientNetLite("efficientnet-lite1"), pretrained_weights("efficientnet-lite0")
        )


def test_a_weights_file_that_is_not_the_pinned_one_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    package, _ = efficientnet.PRETRAINED["efficientnet-lite0"]
    monkeypatch.setitem(efficientnet.PRETRAINED, "efficientnet-lite0", (package, "0" * 64))
    with pytest.raises(ValueError, match="not the pinned"):
        pretrained_weights("efficientnet-lite0")


@pytest.mark.parametrize(("size", "kernel", "padded"), [(224, 3, 225), (224, 5, 227), (7, 3, 9)])
def test_strided_padding_is_tensorflows_same(size: int, kernel: int, padded: int) -> None:
    out = SamePad(kernel, 2)(torch.ones(1, 1, size, size))
    assert out.shape[-1] == padded
    # The odd pixel goes to the bottom and right.
    assert out[0, 0, -1].sum() == 0
    assert (out[0, 0, 0].sum() == 0) == (padded - size > 1)


def test_folding_the_norms_keeps_the_outputs() -> None:
    torch.manual_seed(0)
    network = WasteNetwork("efficientnet-lite0", 6).eval()
    for module in network.modules():  # statistics away from the identity, as after training
        if isinstance(module, torch.nn.BatchNorm2d):
            assert module.running_mean is not None
            assert module.running_var is not None
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    inputs = torch.randn(2, 3, 64, 64)
    with torch.inference_mode():
        before = network(inputs)
        after = fold_norms(network)(inputs)
    for expected, got in zip(before, after, strict=True):
        assert torch.allclose(expected, got, atol=1e-4, rtol=1e-3)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in network.modules())


def test_only_a_network_in_eval_mode_is_folded() -> None:
    with pytest.raises(ValueError, match="eval mode"):
        fold_norms(WasteNetwork("efficientnet-lite0", 2).train())
