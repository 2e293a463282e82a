"""Tiny CLIP and Falcon models for offline runs and tests.

Both are the real architectures (``CLIPModel``, ``FalconForCausalLM``) at toy sizes with random
weights, and their tokenizers are trained on the fly on a small English corpus with the
``tokenizers`` library. They are saved with ``save_pretrained`` so that every loader that reads
``openai/clip-vit-base-patch32`` or ``tiiuae/falcon-7b-instruct`` reads them the same way.
"""

from __future__ import annotations

import itertools
import logging
from pathlib import Path

from semspace.io import atomic_directory

log = logging.getLogger(__name__)

#: CLIP's special tokens and text length, as in openai/clip-vit-base-patch32.
CLIP_BOS, CLIP_EOS = "<|startoftext|>", "<|endoftext|>"
CLIP_MAX_LENGTH = 77
#: Falcon's end-of-text token; also used for padding, as callers of the real model do.
LM_EOS = "<|endoftext|>"
LM_SPECIALS = [">>TITLE<<", ">>ABSTRACT<<", ">>INTRODUCTION<<", ">>SUMMARY<<", LM_EOS]

#: Small built-in English corpus: image captions, word-sense contexts, pangrams (every letter),
#: digits and punctuation. The byte-level alphabet covers anything else.
CORPUS: tuple[str, ...] = (
    "A man riding a horse on a sandy beach at sunset.",
    "Two dogs playing with a red ball in the green grass.",
    "A woman is holding an umbrella while walking down a busy street.",
    "A group of people sitting around a table eating pizza.",
    "A small child in a blue shirt is climbing a wooden fence.",
    "A cat sleeping on the windowsill next to a potted plant.",
    "An airplane flying over snowy mountains under a clear sky.",
    "A bowl of fresh fruit with apples, bananas and oranges.",
    "The bank of the river was covered with tall reeds.",
    "She deposited the cheque at the bank before noon.",
    "A bass guitar leaning against an amplifier on the stage.",
    "The fisherman caught a large bass in the lake.",
    "A mouse ran across the kitchen floor; the computer mouse sat on the desk.",
    "The crane lifted steel beams while a crane stood in the marsh.",
    "A bat flew out of the cave; a baseball bat lay in the dirt.",
    "Young girls jumping rope on the sidewalk in front of a school.",
    "A chef in a white hat is cooking vegetables in a large pan.",
    "Three boats are docked at the quiet harbour in the morning.",
    "A train arriving at the station, people waiting on the platform.",
    "A bicycle parked beside a yellow wall with graffiti.",
    "The quick brown fox jumps over the lazy dog.",
    "Pack my box with five dozen liquor jugs.",
    "Jackdaws love my big sphinx of quartz.",
    "How vexingly quick daft zebras jump!",
    "Sphinx of black quartz, judge my vow.",
    "The five boxing wizards jump quickly.",
    "Waltz, bad nymph, for quick jigs vex.",
    "0 1 2 3 4 5 6 7 8 9 10 12 25 100 1999 2024 3.14 50% #1 $20 @home",
    "Hello, world! What's this? It's a test: (yes) [no] {maybe} -- \"quoted\" 'single' ...",
    "I'm sure they're here, we've seen it, you'll see, he'd know.",
    "A photo of a dog. A photo of a cat. A photo of a car. A photo of a bird.",
    "An image of a frog, a deer, a horse, a ship, a truck and an automobile.",
    "A person who is looking at the camera with binoculars.",
    "Some men are talking near a blackboard in a classroom.",
    "Give one word associated with the image: ocean, wave, surf, sand, shell.",
    "Question: what is in the picture? Answer: a kite flying above the park.",
)


def _check_out(out: str | Path) -> Path:
    path = Path(out)
    if path.exists() and any(path.iterdir()):
        log.info("replacing existing model folder %s", path)
    return path


def _save_atomically(out: Path, save) -> Path:
    """Run ``save(tmp_dir)`` then move the folder onto ``out`` so a killed job leaves nothing
    half-made."""
    with atomic_directory(out) as tmp:
        save(tmp)
    return out


def learn_bpe_merges(words: dict[tuple[str, ...], int], n_merges: int) -> list[tuple[str, str]]:
    """Byte-pair merges learned greedily from word counts; ties go to the smallest pair, so the
    result depends on nothing but the input (the ``tokenizers`` trainer breaks ties by hash
    order)."""
    corpus = {tuple(w): c for w, c in words.items()}
    merges: list[tuple[str, str]] = []
    while len(merges) < n_merges:
        counts: dict[tuple[str, str], int] = {}
        for word, count in corpus.items():
            for pair in itertools.pairwise(word):
                counts[pair] = counts.get(pair, 0) + count
        if not counts:
            break
        best = min(counts, key=lambda pair: (-counts[pair], pair))
        merges.append(best)
        joined = best[0] + best[1]
        merged: dict[tuple[str, ...], int] = {}
        for word, count in corpus.items():
            out: list[str] = []
            i = 0
            while i < len(word):
                if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                    out.append(joined)
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            merged[tuple(out)] = merged.get(tuple(out), 0) + count
        corpus = merged
    return merges


def _word_counts(
    tokenizer, corpus: tuple[str, ...], suffix: str = ""
) -> dict[tuple[str, ...], int]:
    """Words of ``corpus`` after ``tokenizer``'s normaliser and pre-tokeniser, as symbol tuples."""
    counts: dict[tuple[str, ...], int] = {}
    for text in corpus:
        if tokenizer.normalizer is not None:
            text = tokenizer.normalizer.normalize_str(text)
        for word, _ in tokenizer.pre_tokenizer.pre_tokenize_str(text):
            symbols = tuple(word[:-1]) + (word[-1] + suffix,)
            counts[symbols] = counts.get(symbols, 0) + 1
    return counts


def train_clip_tokenizer(vocab_size: int, corpus: tuple[str, ...] = CORPUS):
    """A ``CLIPTokenizer`` (max length 77) whose BPE merges are learned from ``corpus``.

    Layout as in OpenAI's vocabulary: the 256 byte symbols, the same with ``</w>``, the merges in
    order, then ``<|startoftext|>`` and ``<|endoftext|>``; so any text tokenizes without unknowns.
    """
    from tokenizers import pre_tokenizers
    from transformers import CLIPTokenizer

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    base = alphabet + [c + "</w>" for c in alphabet]
    n_merges = vocab_size - len(base) - 2
    if n_merges < 1:
        raise ValueError(
            f"vocab_size {vocab_size} too small for a byte-level CLIP vocabulary; "
            f"use >= {len(base) + 3}"
        )
    # An empty CLIPTokenizer carries transformers' own normaliser and pre-tokeniser for CLIP.
    blank = CLIPTokenizer()
    merges = learn_bpe_merges(_word_counts(blank.backend_tokenizer, corpus, "</w>"), n_merges)
    vocab: dict[str, int] = {}
    for token in base + ["".join(m) for m in merges] + [CLIP_BOS, CLIP_EOS]:
        vocab.setdefault(token, len(vocab))
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=CLIP_MAX_LENGTH)


def train_lm_tokenizer(vocab_size: int, corpus: tuple[str, ...] = CORPUS):
    """A byte-level BPE tokenizer like Falcon's, with ``<|endoftext|>`` as eos and pad."""
    from tokenizers import Tokenizer, decoders, pre_tokenizers, processors
    from tokenizers.models import BPE
    from transformers import PreTrainedTokenizerFast

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    n_merges = vocab_size - len(alphabet) - len(LM_SPECIALS)
    if n_merges < 1:
        raise ValueError(
            f"vocab_size {vocab_size} too small; use >= {len(alphabet) + len(LM_SPECIALS) + 1}"
        )
    pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    words: dict[tuple[str, ...], int] = {}
    for text in corpus:
        for word, _ in pre_tokenizer.pre_tokenize_str(text):
            words[tuple(word)] = words.get(tuple(word), 0) + 1
    merges = learn_bpe_merges(words, n_merges)
    vocab: dict[str, int] = {}
    for token in LM_SPECIALS + alphabet + ["".join(m) for m in merges]:
        vocab.setdefault(token, len(vocab))
    tok = Tokenizer(BPE(vocab=vocab, merges=merges))
    tok.pre_tokenizer = pre_tokenizer
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    tok.add_special_tokens(LM_SPECIALS)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token=LM_EOS,
        pad_token=LM_EOS,
        model_max_length=2048,
        clean_up_tokenization_spaces=False,
    )


def build_tiny_clip(
    out: str | Path,
    *,
    seed: int = 0,
    image_size: int = 32,
    patch_size: int = 8,
    hidden_size: int = 32,
    layers: int = 2,
    heads: int = 2,
    projection_dim: int = 32,
    vocab_size: int = 1000,
) -> Path:
    """Save a tiny ``CLIPModel`` with its tokenizer and image processor to ``out``; return
    ``out``."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    out = _check_out(out)
    if image_size % patch_size:
        raise ValueError(f"image_size {image_size} is not a multiple of patch_size {patch_size}")
    tokenizer = train_clip_tokenizer(vocab_size)
    config = CLIPConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": hidden_size,
            "intermediate_size": 4 * hidden_size,
            "num_hidden_layers": layers,
            "num_attention_heads": heads,
            "max_position_embeddings": CLIP_MAX_LENGTH,
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
            "pad_token_id": tokenizer.pad_token_id,
            "projection_dim": projection_dim,
        },
        vision_config={
            "image_size": image_size,
            "patch_size": patch_size,
            "hidden_size": hidden_size,
            "intermediate_size": 4 * hidden_size,
            "num_hidden_layers": layers,
            "num_attention_heads": heads,
            "projection_dim": projection_dim,
        },
        projection_dim=projection_dim,
    )
    torch.manual_seed(seed)
    model = CLIPModel(config).eval()
    image_processor = CLIPImageProcessor(
        size={"shortest_edge": image_size},
        crop_size={"height": image_size, "width": image_size},
    )
    processor = CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer)

    def save(tmp: Path) -> None:
        model.save_pretrained(tmp)
        processor.save_pretrained(tmp)

    log.info(
        "tiny CLIP: image %d, patch %d, width %d, %d layers, vocab %d",
        image_size,
        patch_size,
        hidden_size,
        layers,
        len(tokenizer),
    )
    return _save_atomically(out, save)


def build_tiny_causal_lm(
    out: str | Path,
    *,
    seed: int = 0,
    hidden_size: int = 32,
    layers: int = 2,
    heads: int = 4,
    vocab_size: int = 1000,
) -> Path:
    """Save a tiny ``FalconForCausalLM`` (falcon-7b's layout: multi-query, parallel attention)."""
    import torch
    from transformers import FalconConfig, FalconForCausalLM, GenerationConfig

    out = _check_out(out)
    if hidden_size % heads:
        raise ValueError(f"hidden_size {hidden_size} is not a multiple of heads {heads}")
    tokenizer = train_lm_tokenizer(vocab_size)
    eos = tokenizer.eos_token_id
    config = FalconConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        multi_query=True,
        parallel_attn=True,
        new_decoder_architecture=False,
        alibi=False,
        bias=False,
        bos_token_id=eos,
        eos_token_id=eos,
        pad_token_id=eos,
    )
    torch.manual_seed(seed)
    model = FalconForCausalLM(config).eval()
    model.generation_config = GenerationConfig(bos_token_id=eos, eos_token_id=eos, pad_token_id=eos)

    def save(tmp: Path) -> None:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)

    log.info(
        "tiny Falcon: width %d, %d layers, %d heads, vocab %d",
        hidden_size,
        layers,
        heads,
        len(tokenizer),
    )
    return _save_atomically(out, save)
