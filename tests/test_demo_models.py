"""The tiny models load back through the same transformers entry points as the real ones."""

from __future__ import annotations

import json

import pytest
import torch

from semspace.demo.models import CORPUS, build_tiny_clip, learn_bpe_merges, train_clip_tokenizer


def test_clip_round_trip(tiny_clip_dir):
    from transformers import (
        AutoProcessor,
        AutoTokenizer,
        CLIPImageProcessor,
        CLIPModel,
        CLIPProcessor,
    )

    model = CLIPModel.from_pretrained(tiny_clip_dir)
    tokenizer = AutoTokenizer.from_pretrained(tiny_clip_dir)
    processor = AutoProcessor.from_pretrained(tiny_clip_dir)
    assert isinstance(processor, CLIPProcessor)
    assert isinstance(CLIPImageProcessor.from_pretrained(tiny_clip_dir), CLIPImageProcessor)
    assert tokenizer.model_max_length == 77
    assert (
        model.config.vision_config.image_size == processor.image_processor.crop_size["height"] == 32
    )
    assert model.config.text_config.vocab_size == len(tokenizer) == 1000
    assert model.config.text_config.eos_token_id == tokenizer.eos_token_id
    ids = tokenizer("A Quartz sphinx, 42 jugs!")["input_ids"]
    assert ids[0] == tokenizer.bos_token_id and ids[-1] == tokenizer.eos_token_id
    assert tokenizer.eos_token_id not in ids[1:-1]  # unk is eos: no unknown pieces inside
    long_ids = tokenizer(" ".join(["word"] * 200), truncation=True)["input_ids"]
    assert len(long_ids) == 77
    batch = tokenizer(["a dog", "a photo of a cat"], padding=True, return_tensors="pt")
    with torch.inference_mode():
        feats = model.get_text_features(**batch).pooler_output
    assert feats.shape == (2, 32)


def test_clip_tokenizer_covers_any_text():
    tokenizer = train_clip_tokenizer(600)
    for text in ["Ünïcödé 日本語 emoji 🙂 tab\tnewline\n", "".join(chr(c) for c in range(32, 127))]:
        ids = tokenizer(text)["input_ids"]
        assert tokenizer.unk_token_id not in ids[1:-1]
        assert tokenizer.decode(ids, skip_special_tokens=True).replace(" ", "") == " ".join(
            text.lower().split()
        ).replace(" ", "")


def test_causal_lm_round_trip(tiny_lm_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer, FalconForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_lm_dir)
    tokenizer = AutoTokenizer.from_pretrained(tiny_lm_dir, padding_side="left")
    assert isinstance(model, FalconForCausalLM)
    assert (
        tokenizer.eos_token == "<|endoftext|>" and tokenizer.pad_token_id == tokenizer.eos_token_id
    )
    assert model.config.eos_token_id == tokenizer.eos_token_id
    text = "Give one word: Ünïcode zebra 7!"
    assert tokenizer.decode(tokenizer(text)["input_ids"]) == text  # byte-level: lossless
    batch = tokenizer(["a cat on a mat", "dog"], return_tensors="pt", padding=True)
    out = model.generate(**batch, max_new_tokens=3, do_sample=False)
    assert out.shape == (2, batch["input_ids"].shape[1] + 3)


def test_build_is_deterministic(tmp_path, tiny_clip_dir):
    again = build_tiny_clip(tmp_path / "again", seed=0)
    for name in ["tokenizer.json", "model.safetensors", "config.json"]:
        assert (again / name).read_bytes() == (tiny_clip_dir / name).read_bytes(), name
    other = build_tiny_clip(tmp_path / "other", seed=1)
    assert (other / "model.safetensors").read_bytes() != (again / "model.safetensors").read_bytes()


def test_learn_bpe_merges_hand_worked():
    # "lower" x2, "low" x1: (l,o) and (o,w) tie at 3 -> (l,o) first (smaller pair); then (lo,w)=3.
    merges = learn_bpe_merges({tuple("lower"): 2, tuple("low"): 1}, 3)
    assert merges == [("l", "o"), ("lo", "w"), ("e", "r")]


def test_too_small_vocab_is_refused():
    with pytest.raises(ValueError, match="vocab_size"):
        train_clip_tokenizer(300)


def test_corpus_has_every_letter():
    assert set("abcdefghijklmnopqrstuvwxyz") <= set(" ".join(CORPUS).lower())


def test_saved_tokenizer_class(tiny_clip_dir):
    assert (
        json.loads((tiny_clip_dir / "tokenizer_config.json").read_text())["tokenizer_class"]
        == "CLIPTokenizer"
    )
