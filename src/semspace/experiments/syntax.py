"""E3: fine-tune CLIP on linearised syntax trees with paired minibatches; pairwise accuracy.

The two readings of a LAVA sentence share their words, so a text encoder that reads only the
sentence gives both the same embedding. Each minibatch holds whole pairs (both scenes of a
sentence, each with its own tree), so the contrastive loss must tell the trees apart.
"""

from __future__ import annotations

import json
import logging
import math
import random
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from semspace.datasets.lava import ITEMS
from semspace.embed import Clip, embed_pixels, embed_texts, load_clip, tokenize_texts
from semspace.errors import ConfigError, InputFormatError
from semspace.experiments.trees import LINEARISATIONS, linearise, parse_tree
from semspace.io import atomic_directory, read_text_file, temp_dir_beside, write_json, write_parquet
from semspace.runtime import Progress, pick_device, resolve_dtype, seed_everything

if TYPE_CHECKING:
    import torch

    from semspace.video import FrameExtraction

log = logging.getLogger(__name__)

#: Text inputs: the plain sentence (the text-only baseline) or a linearised tree.
INPUTS = ("text", *LINEARISATIONS)

#: Training loss per step, written beside the fine-tuned model.
TRAIN_LOG = pa.schema(
    [pa.field("step", pa.int32(), nullable=False), pa.field("loss", pa.float32(), nullable=False)]
)

#: Per-item scores of the pairwise evaluation.
SCORES = pa.schema(
    [
        pa.field("pair", pa.string(), nullable=False),
        pa.field("sentence_id", pa.int32(), nullable=False),
        pa.field("variant_id", pa.int32(), nullable=False),
        pa.field("reading", pa.int8(), nullable=False),
        pa.field("input", pa.string(), nullable=False),
        pa.field(
            "own", pa.float32(), nullable=False
        ),  # similarity of the item's text to its own scene
        pa.field("other", pa.float32(), nullable=False),  # ... to the other reading's scene
        pa.field("correct", pa.float32(), nullable=False),  # 1, 0, or 0.5 for an exact tie
    ]
)


def lava_frames(
    root: str | Path,
    videos: str | Path,
    out: str | Path,
    *,
    frame_ext: str = ".jpg",
    position: float = 0.5,
) -> FrameExtraction:
    """One frame per clip of ``root``'s lava.json into ``out/frames/<visualFilename><ext>``, the
    layout the items' frame paths resolve in (``out`` is `syntax frames`' own folder, never the
    dataset's): a frame the dataset ships under ``root/frames/`` is copied, the others are taken
    at ``position`` of ``videos/<visualFilename>.*`` by ffmpeg (needed only for those)."""
    from semspace.datasets.lava import ANNOTATIONS, FRAMES_DIR, frame_path, read_annotations
    from semspace.video import extract_frames

    root, videos, out = Path(root), Path(videos), Path(out)
    names = sorted(
        {v.visual_filename for v in read_annotations(root / ANNOTATIONS) if v.visual_filename}
    )
    targets = {name: out / frame_path(name, frame_ext) for name in names}
    shipped = {name: root / frame_path(name, frame_ext) for name in names}
    done = extract_frames(targets, videos, position, shipped=shipped)
    (out / FRAMES_DIR).mkdir(parents=True, exist_ok=True)  # also when there is no clip at all
    return done


def pair_counts(items: pa.Table) -> dict[str, int]:
    """Pairs per split of an items table (two rows per pair): ``train_pairs``, ``test_pairs``."""
    splits = items.column("split").to_pylist()
    return {"train_pairs": splits.count("train") // 2, "test_pairs": splits.count("test") // 2}


def read_sentences(path: str | Path) -> list[str]:
    """Sentences of a text file, one a line; blank lines are skipped, spaces around trimmed."""
    lines = read_text_file(path).splitlines()  # UTF-8 with or without BOM, UTF-16, CRLF
    return [line.strip() for line in lines if line.strip()]


def lava_trees(root: str | Path, extra: Sequence[str] = ()) -> pa.Table:
    """The trees table (:data:`semspace.experiments.trees.TREES`) of a LAVA root: each sentence of
    lava.json (its variants share one text) and of the parse file checked against the CFG
    induced from the parse file, and the ``extra`` sentences parsed by it."""
    from semspace.datasets.lava import ANNOTATIONS, PARSES, read_annotations, read_parses
    from semspace.experiments.trees import check_and_complete_trees

    root = Path(root)
    texts: dict[int, str] = {}
    for v in read_annotations(root / ANNOTATIONS):
        texts.setdefault(v.sentence_id, v.text)
    return check_and_complete_trees(read_parses(root / PARSES), texts, list(extra))


def read_items(path: str | Path, split: str | None = None) -> pa.Table:
    """The items table (schema :data:`ITEMS`), optionally one split, pairs kept together."""
    table = pq.read_table(path, schema=ITEMS)
    if split is not None:
        mask = [s == split for s in table.column("split").to_pylist()]
        table = table.filter(pa.array(mask))
    return table


def item_texts(items: pa.Table, input_kind: str) -> list[str]:
    """The text fed to CLIP for each item: the sentence or the tree linearised."""
    if input_kind not in INPUTS:
        raise ConfigError(
            f"syntax: unknown text input {input_kind!r}; use one of {', '.join(INPUTS)}"
        )
    if input_kind == "text":
        return items.column("text").to_pylist()
    return [linearise(parse_tree(t), input_kind) for t in items.column("tree").to_pylist()]


def token_table(items: pa.Table, tokenizer, inputs: Sequence[str]) -> pa.Table:
    """How ``tokenizer`` splits each text input of the items (schema
    :data:`semspace.report.syntax.TOKENS_TABLE`, one row per input in the order given): the
    distinct strings of the input, their mean and largest token count, how many are over CLIP's
    77 tokens, the bracket-only token types, and the first string's tokens."""
    from semspace.experiments.trees import token_stats
    from semspace.report.syntax import TOKENS_TABLE

    rows = []
    for kind in inputs:
        texts = list(dict.fromkeys(item_texts(items, kind)))
        stats = token_stats(tokenizer, texts, kind)
        rows.append(
            {
                "input": kind,
                "strings": stats.n,
                "mean_tokens": stats.mean_tokens,
                "max_tokens": stats.max_tokens,
                "over_limit": stats.over_limit,
                "bracket_token_types": stats.bracket_tokens,
                "example": stats.examples,
            }
        )
        log.info("%s: %s", kind, stats)
    return pa.Table.from_pylist(rows, schema=TOKENS_TABLE)


def pair_groups(pairs: Sequence[str]) -> list[list[int]]:
    """Row indices grouped by pair, in first-seen order; each group holds exactly two rows."""
    groups: dict[str, list[int]] = {}
    for i, p in enumerate(pairs):
        groups.setdefault(p, []).append(i)
    bad = [p for p, rows in groups.items() if len(rows) != 2]
    if bad:
        raise InputFormatError("items table", f"pairs without exactly two scenes: {bad[:5]}")
    return list(groups.values())


def paired_batches(
    groups: Sequence[Sequence[int]], batch_size: int, rng: random.Random
) -> list[list[int]]:
    """One epoch of minibatches of ``batch_size`` rows made of whole pairs (shuffled).

    ``batch_size`` must be even; a last batch with fewer pairs is dropped so that every step
    contrasts the same number of scenes.
    """
    if batch_size < 2 or batch_size % 2:
        raise ConfigError(
            f"syntax.train batch size {batch_size} must be even (whole pairs) and >= 2"
        )
    per_batch = batch_size // 2
    order = list(range(len(groups)))
    rng.shuffle(order)
    batches = []
    for start in range(0, len(order) - per_batch + 1, per_batch):
        batches.append([row for g in order[start : start + per_batch] for row in groups[g]])
    return batches


def batch_schedule(
    groups: Sequence[Sequence[int]], batch_size: int, steps: int, seed: int
) -> list[list[int]]:
    """The batches of steps 0..steps-1: epoch ``e`` is shuffled with seed ``(seed, e)``, so a
    resumed run sees the very batches it would have seen."""
    schedule: list[list[int]] = []
    epoch = 0
    while len(schedule) < steps:
        epoch_batches = paired_batches(groups, batch_size, random.Random(f"{seed}:{epoch}"))
        if not epoch_batches:
            raise ConfigError(
                f"syntax.train batch size {batch_size}: fewer than {batch_size // 2} pairs "
                "to train on"
            )
        schedule.extend(epoch_batches)
        epoch += 1
    return schedule[:steps]


# ---------------------------------------------------------------- model and images


def load_model(model_dir: str | Path, device: str = "cpu", dtype: str = "float32") -> Clip:
    """E3's CLIP: :func:`semspace.embed.load_clip` with eager attention (the relevance maps need
    its attention weights) and no fingerprint (nothing of E3 is cached by one)."""
    return load_clip(model_dir, device, dtype, eager_attention=True, fingerprint=False)


def _load_resized(path: Path, size: int):
    from semspace.images import BadImageError, load_and_resize

    try:
        return load_and_resize(path, size)
    except BadImageError as exc:
        raise InputFormatError(path, f"cannot use this frame ({exc})") from None


def load_pixels(root: str | Path, paths: Sequence[str], clip: Clip) -> torch.Tensor:
    """Normalised pixel values (n, 3, s, s), a float32 CPU tensor, each distinct frame read once."""
    import torch

    from semspace.images import normalise_pixels

    root = Path(root)
    distinct = list(dict.fromkeys(paths))
    size = clip.image_size
    if not distinct:
        return torch.zeros((0, 3, size, size))
    frames = [np.asarray(_load_resized(root / p, size), np.uint8) for p in distinct]
    pixels = normalise_pixels(frames, clip.image_mean, clip.image_std)
    where = {p: i for i, p in enumerate(distinct)}
    return pixels[[where[p] for p in paths]]


def clip_loss(logits_per_text):
    """CLIP's symmetric cross-entropy: text i goes with image i."""
    import torch
    import torch.nn.functional as F

    target = torch.arange(logits_per_text.shape[0], device=logits_per_text.device)
    return (
        F.cross_entropy(logits_per_text, target) + F.cross_entropy(logits_per_text.t(), target)
    ) / 2


def mixed_precision(device: str, dtype: str) -> str:
    """accelerate's mixed-precision mode for a device and the config's dtype."""
    import torch

    dev = pick_device(device)
    if dev.type != "cuda":
        return "no"
    resolved = resolve_dtype(dtype, dev)
    return {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(resolved, "no")


@dataclass
class TrainConfig:
    input_kind: str = "bracket"
    batch_size: int = 2
    steps: int = 300
    learning_rate: float = 1e-5
    weight_decay: float = 0.1
    warmup_steps: int = 0
    checkpoint_every: int = 100
    seed: int = 0
    device: str = "auto"
    dtype: str = "auto"


def finetune(
    items: pa.Table,
    root: str | Path,
    model_dir: str | Path,
    out: str | Path,
    cfg: TrainConfig,
    checkpoint_dir: str | Path | None = None,
    keep_checkpoint: bool = False,
) -> list[tuple[int, float]]:
    """Fine-tune CLIP on ``items`` (both towers, contrastive loss, paired batches); save the
    model to ``out`` (``save_pretrained``) and return (step, loss) for every step of the run.

    With ``checkpoint_dir``, the accelerate state and the loss history so far are saved there
    every ``checkpoint_every`` steps and a run that finds one resumes from it, so a resumed run
    returns the whole history, steps before the checkpoint included; the checkpoint is removed
    once the model is saved unless ``keep_checkpoint``.
    """
    import torch
    from accelerate import Accelerator

    seed_everything(cfg.seed)
    clip = load_model(model_dir)  # float32 on the CPU: accelerate moves it and mixes precision
    texts = item_texts(items, cfg.input_kind)
    groups = pair_groups(items.column("pair").to_pylist())
    schedule = batch_schedule(groups, cfg.batch_size, cfg.steps, cfg.seed)
    pixels = load_pixels(root, items.column("path").to_pylist(), clip)
    tokens = tokenize_texts(clip, texts)

    accelerator = Accelerator(
        mixed_precision=mixed_precision(cfg.device, cfg.dtype),
        cpu=pick_device(cfg.device).type == "cpu",
    )
    model = clip.model
    model.train()
    optimizer = torch.optim.AdamW(
        model.parameters(),
        lr=cfg.learning_rate,
        weight_decay=cfg.weight_decay,
        betas=(0.9, 0.98),
        eps=1e-6,
    )

    def lr_factor(step: int) -> float:  # linear warm-up, then cosine decay to zero
        if step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        progress = (step - cfg.warmup_steps) / max(cfg.steps - cfg.warmup_steps, 1)
        return 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)

    start = 0
    history: list[tuple[int, float]] = []
    ckpt = Path(checkpoint_dir) if checkpoint_dir else None
    signature = _run_signature(cfg, items)
    if ckpt is not None and (ckpt / "step.json").is_file():
        saved = json.loads((ckpt / "step.json").read_text())
        earlier = _read_history(ckpt, int(saved.get("step", -1)))
        if saved.get("run") == signature and earlier is not None:
            accelerator.load_state(str(ckpt))
            start = int(saved["step"])
            history = earlier
            log.info("resumed from %s at step %d (its loss history kept)", ckpt, start)
        else:
            log.warning("ignoring checkpoint %s: it was made with other settings or data", ckpt)

    bar = Progress(f"fine-tune {cfg.input_kind} b{cfg.batch_size}", total=cfg.steps - start)
    device = accelerator.device
    for step in range(start, cfg.steps):
        rows = torch.tensor(schedule[step])
        with accelerator.autocast():
            out_ = model(
                input_ids=tokens["input_ids"][rows].to(device),
                attention_mask=tokens["attention_mask"][rows].to(device),
                pixel_values=pixels[rows].to(device),
            )
            loss = clip_loss(out_.logits_per_text.float())
        accelerator.backward(loss)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        with torch.no_grad():  # as in CLIP: the temperature stays at most 100
            accelerator.unwrap_model(model).logit_scale.clamp_(0, math.log(100))
        history.append((step, float(loss.detach())))
        bar.update()
        if ckpt is not None and (step + 1) % cfg.checkpoint_every == 0 and step + 1 < cfg.steps:
            _save_checkpoint(accelerator, ckpt, step + 1, signature, history)
    bar.close()

    final = accelerator.unwrap_model(model)
    final.eval()
    _save_model(final, clip, Path(out))
    if ckpt is not None and not keep_checkpoint:
        shutil.rmtree(ckpt, ignore_errors=True)
    return history


def _run_signature(cfg: TrainConfig, items: pa.Table) -> dict:
    """What a checkpoint must match to be resumed: the training settings and the items."""
    import hashlib

    settings = {k: v for k, v in vars(cfg).items() if k not in {"device", "dtype"}}
    digest = hashlib.sha256(
        "\n".join(items.column("pair").to_pylist() + items.column("path").to_pylist()).encode()
    ).hexdigest()
    return {**settings, "items": digest}


#: The loss of every step up to a checkpoint, saved in it: ``[[step, loss], ...]``.
HISTORY_FILE = "history.json"


def _read_history(ckpt: Path, step: int) -> list[tuple[int, float]] | None:
    """The loss history of steps 0..step-1 saved in ``ckpt``; None if absent or incomplete."""
    try:
        rows = json.loads((ckpt / HISTORY_FILE).read_text())
        history = [(int(s), float(v)) for s, v in rows]
    except (OSError, ValueError, TypeError):
        log.warning("checkpoint %s has no readable %s: not resuming from it", ckpt, HISTORY_FILE)
        return None
    if [s for s, _ in history] != list(range(step)):
        log.warning("checkpoint %s: its history does not cover steps 0..%d", ckpt, step - 1)
        return None
    return history


def _save_checkpoint(
    accelerator, ckpt: Path, step: int, signature: dict, history: Sequence[tuple[int, float]]
) -> None:
    """accelerate state written to a fresh folder, then swapped in, so a kill leaves a whole one."""
    tmp = temp_dir_beside(ckpt)  # also removes those of killed runs
    accelerator.save_state(str(tmp))
    (tmp / HISTORY_FILE).write_text(json.dumps([[s, v] for s, v in history]))
    (tmp / "step.json").write_text(json.dumps({"step": step, "run": signature}))
    old = ckpt.with_name(ckpt.name + ".old")
    if ckpt.exists():
        ckpt.rename(old)
    tmp.rename(ckpt)
    shutil.rmtree(old, ignore_errors=True)


def _save_model(model, clip: Clip, out: Path) -> None:
    from transformers import CLIPImageProcessor

    with atomic_directory(out) as tmp:
        model.save_pretrained(tmp)
        clip.tokenizer.save_pretrained(tmp)
        CLIPImageProcessor(
            size={"shortest_edge": clip.image_size},
            crop_size={"height": clip.image_size, "width": clip.image_size},
            image_mean=list(clip.image_mean),
            image_std=list(clip.image_std),
        ).save_pretrained(tmp)


def write_train_log(history: Sequence[tuple[int, float]], path: str | Path) -> None:
    write_parquet(
        pa.table(
            {"step": [s for s, _ in history], "loss": [v for _, v in history]}, schema=TRAIN_LOG
        ),
        path,
        TRAIN_LOG,
    )


def read_train_logs(paths: Sequence[str | Path]) -> dict[str, list[float]]:
    """The losses of `syntax finetune` loss logs, by run: each log's folder name
    (``runs/<lin>_b<batch>/loss.parquet`` → ``<lin>_b<batch>``), in the order given."""
    return {
        Path(path).parent.name: pq.read_table(path, columns=["loss"]).column("loss").to_pylist()
        for path in paths
    }


# ---------------------------------------------------------------- evaluation


def pair_correct(own: np.ndarray, other: np.ndarray) -> np.ndarray:
    """1 where an item's text is closer to its own scene, 0 where to the other, 0.5 on a tie.

    With identical texts for both readings (the text-only input) the two items of a pair get
    the same two similarities in swapped roles, so exactly one is right, or both tie: the
    text-only accuracy is 50 % by construction.
    """
    return np.where(own > other, 1.0, np.where(own < other, 0.0, 0.5)).astype(np.float32)


def embed_items(
    clip: Clip, texts: Sequence[str], pixels: torch.Tensor, batch_size: int = 64
) -> tuple[np.ndarray, np.ndarray]:
    """L2-normalised text and image embeddings (float32) of the items, by the encoders of
    :mod:`semspace.embed`."""
    images = [
        embed_pixels(clip, pixels[start : start + batch_size].to(clip.device, clip.dtype))
        for start in range(0, len(pixels), batch_size)
    ]
    image_emb = np.concatenate(images) if images else np.zeros((0, clip.dim), np.float32)
    return embed_texts(clip, texts, batch_size=batch_size), image_emb


def score_pairs(
    items: pa.Table, text_emb: np.ndarray, image_emb: np.ndarray, input_kind: str
) -> pa.Table:
    """Per-item similarities to its own and to the other reading's scene (schema :data:`SCORES`)."""
    groups = pair_groups(items.column("pair").to_pylist())
    own = np.zeros(items.num_rows, np.float32)
    other = np.zeros(items.num_rows, np.float32)
    for a, b in groups:
        for x, y in ((a, b), (b, a)):
            own[x] = float(text_emb[x] @ image_emb[x])
            other[x] = float(text_emb[x] @ image_emb[y])
    return pa.table(
        {
            "pair": items.column("pair"),
            "sentence_id": items.column("sentence_id"),
            "variant_id": items.column("variant_id"),
            "reading": items.column("reading"),
            "input": [input_kind] * items.num_rows,
            "own": own,
            "other": other,
            "correct": pair_correct(own, other),
        },
        schema=SCORES,
    )


def summarise(scores: pa.Table, **extra: object) -> dict:
    correct = np.asarray(scores.column("correct").to_pylist(), np.float64)
    return {
        "items": len(correct),
        "pairs": int(len(correct) // 2),
        "accuracy": float(correct.mean() * 100) if len(correct) else float("nan"),
        **extra,
    }


def evaluate(
    items: pa.Table,
    root: str | Path,
    model_dir: str | Path,
    input_kind: str,
    device: str = "auto",
    dtype: str = "auto",
) -> pa.Table:
    """Pairwise scores of ``items`` under the CLIP in ``model_dir``."""
    clip = load_model(model_dir, device, dtype)
    pixels = load_pixels(root, items.column("path").to_pylist(), clip)
    text_emb, image_emb = embed_items(clip, item_texts(items, input_kind), pixels)
    return score_pairs(items, text_emb, image_emb, input_kind)


def write_scores(
    scores: pa.Table, path: str | Path, summary_path: str | Path, **extra: object
) -> dict:
    write_parquet(scores, path, SCORES)
    summary = summarise(scores, **extra)
    write_json(summary, summary_path)
    return summary
