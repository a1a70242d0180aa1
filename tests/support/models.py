"""Tiny models the tests build and save themselves (no weights can be downloaded here), loaded
back through the same code paths as real checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

from bunri.guides import load_taxonomy

_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789.,'-"


def build_tiny_clip(directory: Path, *, full_size_vision: bool = False) -> Path:
    """A randomly initialised CLIP with a character-level tokenizer, saved as a checkpoint.
    `full_size_vision`: the image tower of ViT-B/32 (the default model's), so that inference
    costs what the real model's does (for benchmarks)."""
    from transformers import (
        CLIPConfig,
        CLIPImageProcessor,
        CLIPModel,
        CLIPProcessor,
        CLIPTokenizer,
    )

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for char in _ALPHABET:
        vocab[char] = len(vocab)
        vocab[char + "</w>"] = len(vocab)
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[])
    config = CLIPConfig(
        text_config={
            "vocab_size": len(vocab),
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "max_position_embeddings": 128,
            "bos_token_id": 0,
            "eos_token_id": 1,
            "pad_token_id": 1,
        },
        vision_config={}
        if full_size_vision
        else {
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": 32,
            "patch_size": 8,
        },
        projection_dim=16,
    )
    side = 224 if full_size_vision else 32
    processor = CLIPProcessor(  # type: ignore[no-untyped-call]
        image_processor=CLIPImageProcessor(
            size={"shortest_edge": side}, crop_size={"height": side, "width": side}
        ),
        tokenizer=tokenizer,
    )
    CLIPModel(config).save_pretrained(directory)
    processor.save_pretrained(directory)
    return directory


def build_tiny_image_classifier(directory: Path) -> tuple[Path, Path]:
    """A tiny ViT image classifier whose labels are three middle classes (and one to ignore),
    and its label map; returns (model folder, label map file)."""
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    taxonomy = load_taxonomy()
    recyclable = taxonomy.majors[0]
    targets = [f"{recyclable.name}/{middle.name}" for middle in recyclable.middles[:3]]
    labels = ["pet", "paper", "can", "background"]
    config = ViTConfig(  # type: ignore[call-arg]
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=32,
        patch_size=8,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
    )
    ViTForImageClassification(config).save_pretrained(directory)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(directory)
    label_map = directory / "label-map.json"
    label_map.write_text(
        json.dumps(dict(zip(labels, [*targets, None], strict=True)), ensure_ascii=False)
    )
    return directory, label_map
