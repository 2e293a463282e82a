"""E5's LLM branch: chained associations of COCO captions by an instruction-tuned causal LM.

For each caption, text₀ is the caption; for round r = 1..R the model continues
``instruction + text_{r-1}`` and text_r is that output with the instruction removed, i.e.
text_{r-1} followed by the new continuation (DESIGN.md, E5). An image's association text joins
its captions' final texts in caption order; its token set is the union of the LLM tokenizer's
tokens of those texts.

Generation runs round by round over every caption of a shard (round r needs text_{r-1}), in
batches sorted by prompt length with left padding. Finished rows are flushed to numbered part
files and skipped on restart, so a killed job resumes without losing or repeating rows.
Sampling, when asked for, draws each caption's tokens from its own seeded stream, so a caption's
text does not depend on which other captions share its batch (see :class:`SeededSampler`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from semspace.errors import ConfigError, InputFormatError, SemspaceError
from semspace.io import write_parquet
from semspace.resume import claim_work_dir, discard
from semspace.runtime import Progress
from semspace.schemas import CAPTIONS

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

#: The paper's instruction, prepended to the previous round's text.
INSTRUCTION = (
    "What do you associate with the following sentences? Describe the answer in one sentence. :\n"
)
#: Number of chained generation rounds per caption.
ROUNDS = 5
#: Separator between the final texts of one image's captions.
JOIN = " "

#: Every round's text of every caption (round 0 is the caption itself).
ROUNDS_SCHEMA = pa.schema(
    [
        pa.field("image", pa.int32(), nullable=False),
        pa.field("coco_id", pa.int64()),
        pa.field("caption", pa.int16(), nullable=False),
        pa.field("round", pa.int8(), nullable=False),
        pa.field("text", pa.string(), nullable=False),
    ]
)

#: ``(prompts, seeds) -> full generated texts`` (prompt followed by the continuation).
GenerateFn = Callable[[list[str], list[int]], list[str]]


# ---------------------------------------------------------------- decoding settings


@dataclass(frozen=True)
class Decoding:
    """Decoding settings of ``generate`` (``max_length`` counts prompt + new tokens per caption)."""

    max_new_tokens: int = 40
    max_length: int | None = None
    min_new_tokens: int = 0
    do_sample: bool = False
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    repetition_penalty: float = 1.0
    num_beams: int = 1

    def __post_init__(self) -> None:
        if self.max_new_tokens < 0 or self.min_new_tokens < 0:
            raise ConfigError("decoding: max_new_tokens and min_new_tokens must be >= 0")
        if self.max_length is not None and self.max_length < 1:
            raise ConfigError("decoding: max_length must be >= 1 or null")
        if self.temperature <= 0 or not 0 < self.top_p <= 1 or self.top_k < 0:
            raise ConfigError("decoding: need temperature > 0, 0 < top_p <= 1, top_k >= 0")
        if self.repetition_penalty <= 0 or self.num_beams < 1:
            raise ConfigError("decoding: need repetition_penalty > 0 and num_beams >= 1")
        if self.do_sample and self.num_beams > 1:
            raise ConfigError("decoding: beam search (num_beams > 1) needs do_sample: false")

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> Decoding:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(
                f"unknown decoding setting(s) {', '.join(unknown)}; "
                f"known: {', '.join(sorted(known))}"
            )
        return cls(**values)


# ---------------------------------------------------------------- the method


def make_prompt(text: str, instruction: str = INSTRUCTION) -> str:
    return instruction + text


def remove_instruction(generated: str, instruction: str = INSTRUCTION) -> str:
    """The generated text without the instruction that starts it (the paper's next text)."""
    if not generated.startswith(instruction):
        raise SemspaceError(
            f"generated text does not start with the instruction: {generated[:80]!r}"
        )
    return generated[len(instruction) :]


def caption_seed(seed: int, image: int, caption: int, round_: int) -> int:
    """A stable 63-bit seed for one caption's round, independent of batching and restarts."""
    digest = hashlib.blake2b(f"{seed}:{image}:{caption}:{round_}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def image_association_texts(
    final_texts: dict[tuple[int, int], str], join: str = JOIN
) -> dict[int, str]:
    """``(image, caption) -> text_R`` to ``image -> texts joined in caption order``."""
    by_image: dict[int, list[tuple[int, str]]] = {}
    for (image, caption), text in final_texts.items():
        by_image.setdefault(image, []).append((caption, text))
    return {
        image: join.join(t for _, t in sorted(parts)) for image, parts in sorted(by_image.items())
    }


@dataclass(frozen=True)
class CaptionItem:
    image: int
    coco_id: int | None
    caption: int
    text: str


def shard_images(n_images: int, shards: int, shard: int) -> range:
    """Image indices of ``shard`` out of ``shards`` contiguous, near-equal blocks of ``0..n-1``."""
    if shards < 1 or not 0 <= shard < shards:
        raise ConfigError(f"shard {shard} is out of range for {shards} shard(s)")
    return range(shard * n_images // shards, (shard + 1) * n_images // shards)


def read_captions(path: str | Path) -> list[CaptionItem]:
    """Captions Parquet (schema ``CAPTIONS``) as items sorted by (image, caption)."""
    from semspace.experiments.tokensets import read_captions_table

    cols = read_captions_table(path).select(CAPTIONS.names).to_pydict()
    items = [
        CaptionItem(int(i), None if c is None else int(c), int(k), str(t))
        for i, c, k, t in zip(cols["image"], cols["coco_id"], cols["caption"], cols["text"])
    ]
    items.sort(key=lambda it: (it.image, it.caption))
    seen: set[tuple[int, int]] = set()
    for it in items:
        if (it.image, it.caption) in seen:
            raise InputFormatError(path, f"duplicate caption {it.caption} of image {it.image}")
        seen.add((it.image, it.caption))
    return items


def captions_of_shard(
    items: Sequence[CaptionItem], shards: int, shard: int, limit_images: int | None = None
) -> list[CaptionItem]:
    """The captions whose image falls into ``shard`` (after keeping the first ``limit_images``
    images)."""
    images = sorted({it.image for it in items})
    if limit_images is not None:
        images = images[:limit_images]
    mine = {images[i] for i in shard_images(len(images), shards, shard)}
    return [it for it in items if it.image in mine]


def run_rounds(
    items: Sequence[CaptionItem],
    generate: GenerateFn,
    *,
    done: dict[tuple[int, int, int], str] | None = None,
    flush: Callable[[list[dict[str, Any]]], None] = lambda rows: None,
    rounds: int = ROUNDS,
    instruction: str = INSTRUCTION,
    batch_size: int = 16,
    flush_every: int = 256,
    seed: int = 0,
    lengths: Callable[[list[str]], list[int]] | None = None,
) -> dict[tuple[int, int, int], str]:
    """Chain ``rounds`` generations per caption, round by round over all ``items``.

    ``done`` maps ``(image, caption, round)`` to texts already made (a resumed job); those are
    not generated again. New rows (``ROUNDS_SCHEMA`` dicts) go to ``flush`` in groups of at least
    ``flush_every`` and at the end of each round. Within a round, prompts are batched in order of
    decreasing ``lengths`` (token counts; characters by default). Returns every text, round 0
    included.
    """
    texts = dict(done or {})
    coco = {(it.image, it.caption): it.coco_id for it in items}
    pending: list[dict[str, Any]] = []

    def emit(image: int, caption: int, round_: int, text: str) -> None:
        texts[(image, caption, round_)] = text
        pending.append(
            {
                "image": image,
                "coco_id": coco[(image, caption)],
                "caption": caption,
                "round": round_,
                "text": text,
            }
        )

    def flush_pending() -> None:
        if pending:
            flush(list(pending))
            pending.clear()

    for it in items:
        if (it.image, it.caption, 0) not in texts:
            emit(it.image, it.caption, 0, it.text)
    flush_pending()
    for r in range(1, rounds + 1):
        todo = [it for it in items if (it.image, it.caption, r) not in texts]
        if not todo:
            continue
        prompts = [make_prompt(texts[(it.image, it.caption, r - 1)], instruction) for it in todo]
        sizes = lengths(prompts) if lengths is not None else [len(p) for p in prompts]
        order = sorted(range(len(todo)), key=lambda i: (-sizes[i], todo[i].image, todo[i].caption))
        bar = Progress(f"round {r}/{rounds}: captions", total=len(todo))
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            outputs = generate(
                [prompts[i] for i in batch],
                [caption_seed(seed, todo[i].image, todo[i].caption, r) for i in batch],
            )
            if len(outputs) != len(batch):
                raise SemspaceError(
                    f"generator returned {len(outputs)} texts for {len(batch)} prompts"
                )
            for i, out in zip(batch, outputs):
                emit(todo[i].image, todo[i].caption, r, remove_instruction(out, instruction))
            bar.update(len(batch))
            if len(pending) >= flush_every:
                flush_pending()
        flush_pending()
    return texts


# ---------------------------------------------------------------- resumable shard output


class PartStore:
    """Numbered Parquet parts of one shard's rows, in ``<out>.parts/``; each part written
    atomically. Parts made under other settings are discarded (:mod:`semspace.resume`)."""

    def __init__(self, out: str | Path, settings: dict[str, Any]) -> None:
        self.out = Path(out)
        self.dir = self.out.with_name(self.out.name + ".parts")
        self.settings = settings
        claim_work_dir(self.dir, settings)  # other settings: discarded and redone
        self.n_parts = len(self.parts())

    def restart(self, why: str) -> None:
        """Discard every part (see :mod:`semspace.resume`) and start the shard again."""
        discard(self.dir, why)
        claim_work_dir(self.dir, self.settings)
        self.n_parts = 0

    def parts(self) -> list[Path]:
        return sorted(self.dir.glob("part-*.parquet"))

    def read(self) -> pa.Table:
        parts = self.parts()
        if not parts:
            return ROUNDS_SCHEMA.empty_table()
        return pa.concat_tables([pq.read_table(p, schema=ROUNDS_SCHEMA) for p in parts])

    def done(self) -> dict[tuple[int, int, int], str]:
        cols = self.read().to_pydict()
        return {
            (i, c, r): t
            for i, c, r, t in zip(cols["image"], cols["caption"], cols["round"], cols["text"])
        }

    def write(self, rows: list[dict[str, Any]]) -> None:
        table = pa.Table.from_pylist(rows, schema=ROUNDS_SCHEMA)
        write_parquet(table, self.dir / f"part-{self.n_parts:06d}.parquet", ROUNDS_SCHEMA)
        self.n_parts += 1

    def finish(self) -> pa.Table:
        """Write every row, sorted by (image, caption, round), to ``out``; then drop the parts."""
        table = sort_rounds(self.read())
        check_unique(table, self.dir)
        write_parquet(table, self.out, ROUNDS_SCHEMA)
        shutil.rmtree(self.dir)
        return table


def sort_rounds(table: pa.Table) -> pa.Table:
    return table.sort_by([("image", "ascending"), ("caption", "ascending"), ("round", "ascending")])


def check_unique(table: pa.Table, where: str | Path) -> None:
    keys = list(zip(*(table.column(c).to_pylist() for c in ("image", "caption", "round"))))
    if len(keys) != len(set(keys)):
        raise SemspaceError(f"{where}: duplicate (image, caption, round) rows")


def generate_shard(
    items: Sequence[CaptionItem],
    generate: GenerateFn,
    out: str | Path,
    *,
    settings: dict[str, Any],
    rounds: int = ROUNDS,
    instruction: str = INSTRUCTION,
    batch_size: int = 16,
    flush_every: int = 256,
    seed: int = 0,
    lengths: Callable[[list[str]], list[int]] | None = None,
    after_flush: Callable[[int], None] | None = None,
) -> pa.Table:
    """Make every round of ``items`` into ``out`` (``ROUNDS_SCHEMA``), resuming from its parts
    folder.

    ``after_flush(n_parts)`` runs after each part file is written (tests pause there to kill the
    job).
    """
    store = PartStore(out, {**settings, "rounds": rounds, "instruction": instruction, "seed": seed})
    done = store.done()
    wanted = {(it.image, it.caption, r) for it in items for r in range(rounds + 1)}
    stray = set(done) - wanted
    if stray:
        store.restart(f"rows of captions outside this shard, e.g. {min(stray)}")
        done = {}
    if done:
        log.info("resuming: %d of %d rows already made", len(done), len(wanted))

    def flush(rows: list[dict[str, Any]]) -> None:
        store.write(rows)
        if after_flush is not None:
            after_flush(store.n_parts)

    run_rounds(
        items,
        generate,
        done=done,
        flush=flush,
        rounds=rounds,
        instruction=instruction,
        batch_size=batch_size,
        flush_every=flush_every,
        seed=seed,
        lengths=lengths,
    )
    return store.finish()


# ---------------------------------------------------------------- merging shards


def merge_rounds(
    shards: Sequence[str | Path], items: Sequence[CaptionItem], rounds: int = ROUNDS
) -> pa.Table:
    """Concatenate shard outputs; check that every caption has rounds 0..R exactly once."""
    tables = [pq.read_table(p, schema=ROUNDS_SCHEMA) for p in shards]
    table = sort_rounds(pa.concat_tables(tables) if tables else ROUNDS_SCHEMA.empty_table())
    check_unique(table, ", ".join(map(str, shards)))
    have = set(zip(*(table.column(c).to_pylist() for c in ("image", "caption", "round"))))
    images = {it.image for it in items}
    missing = sorted({(it.image, it.caption, r) for it in items for r in range(rounds + 1)} - have)
    extra = sorted(k for k in have if k[0] not in images)
    if extra:
        raise SemspaceError(
            f"association shards hold images that are not in the captions, e.g. {extra[0]}"
        )
    if missing:
        raise SemspaceError(
            f"association shards miss {len(missing)} rows (image, caption, round), "
            f"e.g. {missing[0]}"
        )
    return table


def final_texts(table: pa.Table, rounds: int = ROUNDS) -> dict[tuple[int, int], str]:
    """``(image, caption) -> text of the last round``."""
    cols = table.to_pydict()
    return {
        (i, c): t
        for i, c, r, t in zip(cols["image"], cols["caption"], cols["round"], cols["text"])
        if r == rounds
    }


def association_tokensets(
    table: pa.Table, tokenize: Callable[[str], list[str]], rounds: int = ROUNDS
) -> pa.Table:
    """Per image: the distinct tokens of its association text (``TOKENSETS``).

    As in the paper, the image's text (its captions' final texts joined by :data:`JOIN`, see
    :func:`association_texts_table`) is tokenised as one text, so tokens may span a join.
    """
    from semspace.experiments.tokensets import token_sets

    texts = association_texts_table(table, rounds)
    return token_sets(
        texts.column("image").to_pylist(),
        texts.column("coco_id").to_pylist(),
        [tokenize(t) for t in texts.column("text").to_pylist()],
    )


def association_statistics(
    table: pa.Table, tokenize: Callable[[str], list[str]], rounds: int = ROUNDS
) -> dict[str, float]:
    """Token statistics (``tokensets.token_statistics``) of the images' association texts.

    Tokens come from each image's joined text (as its token set does); ``texts`` and
    ``characters`` count the captions' final texts, one text per caption.
    """
    from semspace.experiments.tokensets import token_statistics

    joined = association_texts_table(table, rounds)
    images = joined.column("image").to_pylist()
    stats = token_statistics(
        images,
        joined.column("text").to_pylist(),
        [tokenize(t) for t in joined.column("text").to_pylist()],
    )
    _, texts = _final_rows(table, rounds)
    n_texts, n_chars = len(texts), sum(len(t) for t in texts)
    stats["texts"] = float(n_texts)
    stats["characters"] = float(n_chars)
    stats["mean_texts_per_image"] = n_texts / max(len(images), 1)
    stats["mean_characters_per_text"] = n_chars / max(n_texts, 1)
    stats["mean_tokens_per_text"] = stats["tokens"] / max(n_texts, 1)
    return stats


def _final_rows(
    table: pa.Table, rounds: int
) -> tuple[list[tuple[int, int, int | None]], list[str]]:
    """``(image, caption, coco_id)`` keys and texts of the last round, sorted by image and
    caption."""
    cols = table.to_pydict()
    rows = sorted(
        ((i, c, k), t)
        for i, c, k, r, t in zip(
            cols["image"], cols["caption"], cols["coco_id"], cols["round"], cols["text"]
        )
        if r == rounds
    )
    return [k for k, _ in rows], [t for _, t in rows]


def association_texts_table(table: pa.Table, rounds: int = ROUNDS, join: str = JOIN) -> pa.Table:
    """Per image: the joined association text (image, coco_id, text)."""
    cols = table.to_pydict()
    coco = {i: c for i, c in zip(cols["image"], cols["coco_id"])}
    per_image = image_association_texts(final_texts(table, rounds), join)
    return pa.Table.from_pylist(
        [{"image": i, "coco_id": coco[i], "text": t} for i, t in per_image.items()],
        schema=IMAGE_TEXTS,
    )


def examples_rows(table: pa.Table, n_images: int = 5, rounds: int = ROUNDS) -> list[dict[str, Any]]:
    """The first ``n_images`` images' captions, each with its text (round 0) and its
    association (round ``rounds``), ordered by image and caption."""
    cols = table.to_pydict()
    first: dict[tuple[int, int], dict[str, Any]] = {}
    keep = set(sorted(set(cols["image"]))[:n_images])
    for i, k, c, r, t in zip(
        cols["image"], cols["coco_id"], cols["caption"], cols["round"], cols["text"]
    ):
        if i in keep and r in (0, rounds):
            row = first.setdefault(
                (i, c),
                {"image": i, "coco_id": k, "caption": c, "text": None, "association": None},
            )
            row["text" if r == 0 else "association"] = t
    return [first[key] for key in sorted(first)]


#: One association text per image (its captions' final texts joined).
IMAGE_TEXTS = pa.schema(
    [
        pa.field("image", pa.int32(), nullable=False),
        pa.field("coco_id", pa.int64()),
        pa.field("text", pa.string(), nullable=False),
    ]
)


# ---------------------------------------------------------------- the Hugging Face generator


@dataclass
class CausalLM:
    model: Any
    tokenizer: Any
    device: torch.device
    dtype: torch.dtype
    model_id: str


def load_causal_lm(model_dir: str | Path, device: str = "auto", dtype: str = "auto") -> CausalLM:
    """A causal LM and its tokenizer (left padding; eos as pad when none) via
    ``from_pretrained``."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from semspace.runtime import pick_device, resolve_dtype

    dev = pick_device(device)
    dt = resolve_dtype(dtype, dev)
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=dt).to(dev).eval()
    log.info("loaded %s on %s as %s", model_dir, dev, dt)
    return CausalLM(model, tokenizer, dev, dt, str(model_dir))


def token_lengths(lm: CausalLM, texts: list[str]) -> list[int]:
    return [len(ids) for ids in lm.tokenizer(texts, add_special_tokens=False)["input_ids"]]


def _logits_processors(
    decoding: Decoding,
    uniforms: torch.Tensor | None,
    budgets: torch.Tensor | None,
    start: int,
    eos: int,
):
    from transformers import LogitsProcessorList

    procs = LogitsProcessorList()
    if uniforms is not None:
        procs.append(
            SeededSampler(uniforms, start, decoding.temperature, decoding.top_k, decoding.top_p)
        )
    if budgets is not None:
        procs.append(RowBudget(budgets, start, eos))
    return procs


class SeededSampler:
    """Samples each row's next token with that row's own uniform numbers (one per step).

    Temperature, top-k and top-p are applied here, then the token is drawn by inverse CDF with
    ``uniforms[row, step]``; every other logit becomes −inf, so ``generate`` in greedy mode picks
    it.
    """

    def __init__(
        self, uniforms: torch.Tensor, start: int, temperature: float, top_k: int, top_p: float
    ) -> None:
        self.uniforms, self.start = uniforms, start
        self.temperature, self.top_k, self.top_p = temperature, top_k, top_p

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        import torch

        step = input_ids.shape[1] - self.start
        logits = scores.float() / self.temperature
        if self.top_k > 0:
            values, index = logits.topk(min(self.top_k, logits.shape[-1]), dim=-1)
        else:
            values, index = logits.sort(dim=-1, descending=True)
        probs = torch.softmax(values, dim=-1)
        if self.top_p < 1.0:
            before = probs.cumsum(-1) - probs  # mass of the better tokens
            probs = probs.masked_fill(before >= self.top_p, 0.0)  # keeps at least the best token
        cdf = probs.cumsum(-1)
        u = self.uniforms[:, step : step + 1].to(cdf.device) * cdf[:, -1:]
        pick = torch.searchsorted(cdf, u, right=True).clamp_(max=cdf.shape[-1] - 1)
        token = index.gather(-1, pick)
        out = torch.full_like(scores, float("-inf"))
        return out.scatter_(-1, token, 0.0)


class RowBudget:
    """Forces eos once a row has made its own number of new tokens (``max_length`` per prompt)."""

    def __init__(self, budgets: torch.Tensor, start: int, eos: int) -> None:
        self.budgets, self.start, self.eos = budgets, start, eos

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        import torch

        step = input_ids.shape[1] - self.start
        over = (self.budgets.to(scores.device) <= step).unsqueeze(-1)  # torch.where: no host sync
        eos_only = torch.full_like(scores[:1], float("-inf"))
        eos_only[:, self.eos] = 0.0
        return torch.where(over, eos_only, scores)


def generate_texts(
    lm: CausalLM, prompts: list[str], decoding: Decoding, seeds: Sequence[int] | None = None
) -> list[str]:
    """Continue a batch of prompts (left padding); return prompt + decoded continuation each.

    The continuation is cut from the decoded whole sequence after the decoded prompt, as the
    ``text-generation`` pipeline does, so the result starts with the prompt verbatim.
    """
    import torch

    tok = lm.tokenizer
    enc = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    input_ids = enc["input_ids"].to(lm.device)
    attention = enc["attention_mask"].to(lm.device)
    start = input_ids.shape[1]
    lengths = attention.sum(dim=1).cpu()
    eos = tok.eos_token_id
    budgets = None
    max_new = decoding.max_new_tokens
    if decoding.max_length is not None:
        budgets = (
            (decoding.max_length - lengths)
            .clamp(min=0, max=max_new)
            .repeat_interleave(decoding.num_beams)
        )
        max_new = int(budgets.max())
        budgets = budgets.to(lm.device)
    if max_new == 0:
        return list(prompts)
    uniforms = None
    if decoding.do_sample:
        seeds = list(seeds) if seeds is not None else list(range(len(prompts)))
        uniforms = torch.stack(
            [torch.rand(max_new, generator=torch.Generator().manual_seed(int(s))) for s in seeds]
        )
        uniforms = uniforms.to(lm.device)
    out = generate_ids(
        lm.model,
        input_ids,
        decoding,
        attention_mask=attention,
        eos=eos,
        pad=tok.pad_token_id,
        max_new_tokens=max_new,
        uniforms=uniforms,
        budgets=budgets,
    )
    texts = []
    for row, prompt in enumerate(prompts):
        n_pad = start - int(lengths[row])
        whole = tok.decode(out[row, n_pad:], skip_special_tokens=True)
        prompt_decoded = tok.decode(out[row, n_pad:start], skip_special_tokens=True)
        texts.append(prompt + whole[len(prompt_decoded) :])
    return texts


def generate_ids(
    model: Any,
    input_ids: torch.Tensor,
    decoding: Decoding,
    *,
    eos: int,
    pad: int | None = None,
    attention_mask: torch.Tensor | None = None,
    max_new_tokens: int | None = None,
    uniforms: torch.Tensor | None = None,
    budgets: torch.Tensor | None = None,
) -> torch.Tensor:
    """``model.generate`` on left-padded ids: prompt ids followed by the new ids, one row each.

    Sampling (``uniforms``, one row of numbers per prompt) and per-prompt budgets go through
    logits processors, so ``generate`` itself always runs greedy or beam search.
    """
    import torch

    if attention_mask is None:
        attention_mask = torch.ones_like(input_ids)
    with torch.inference_mode():
        return model.generate(
            input_ids=input_ids,
            attention_mask=attention_mask,
            max_new_tokens=decoding.max_new_tokens if max_new_tokens is None else max_new_tokens,
            min_new_tokens=decoding.min_new_tokens or None,
            do_sample=False,
            num_beams=decoding.num_beams,
            repetition_penalty=decoding.repetition_penalty,
            pad_token_id=eos if pad is None else pad,
            eos_token_id=eos,
            logits_processor=_logits_processors(
                decoding, uniforms, budgets, input_ids.shape[1], eos
            ),
        )


def hf_generator(lm: CausalLM, decoding: Decoding) -> GenerateFn:
    def generate(prompts: list[str], seeds: list[int]) -> list[str]:
        return generate_texts(lm, prompts, decoding, seeds)

    return generate
