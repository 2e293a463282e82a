"""CLIP image and text embeddings: loading, batching, caching, and the resumable shard stage.

Every vector returned or written is float32 and L2-normalised, whatever dtype the model ran in
(float32 on CPU, bfloat16/float16 on CUDA, see ``semspace.runtime.resolve_dtype``).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import shutil
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from semspace.errors import ConfigError, InputFormatError, ModelFolderError, SemspaceError
from semspace.io import write_json, write_parquet
from semspace.resume import claim_work_dir
from semspace.runtime import Progress, pick_device, resolve_dtype
from semspace.schemas import SHARD, SKIPPED, embedding_schema

if TYPE_CHECKING:
    import torch
    from PIL import Image

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- fingerprints


def digest_sidecar(folder: Path) -> Path:
    """``.<folder>.digests.json`` beside a model folder: its weights' digests by size and mtime.

    Beside, not inside, so that the model folder itself is never written to.
    """
    return folder.parent / f".{folder.name}.digests.json"


#: Files at least this large are digested through the sidecar (weights); smaller ones are read.
_BIG_FILE = 1 << 20


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _model_files(folder: Path) -> list[Path]:
    """Every file of a model folder that can change its outputs (hidden files excluded)."""
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and not p.relative_to(folder).as_posix().startswith(".")
    )


def _weight_digests(folder: Path, files: Sequence[Path]) -> dict[str, str]:
    """sha256 of each big file; reused from the sidecar while its size and mtime are unchanged."""
    sidecar = digest_sidecar(folder)
    try:
        known = json.loads(sidecar.read_text())
    except (OSError, ValueError):
        known = {}
    digests: dict[str, str] = {}
    fresh: dict[str, dict[str, Any]] = {}
    for path in files:
        name = path.relative_to(folder).as_posix()
        st = path.stat()
        entry = known.get(name) if isinstance(known, dict) else None
        if (
            isinstance(entry, dict)
            and entry.get("size") == st.st_size
            and entry.get("mtime_ns") == st.st_mtime_ns
        ):
            sha = str(entry["sha256"])
        else:
            sha = _file_sha256(path)
        digests[name] = sha
        fresh[name] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha}
    if fresh != known:
        try:
            write_json(fresh, sidecar)
        except OSError:  # a read-only model folder: hash again next time
            log.debug("cannot write %s; weight digests are not cached", sidecar)
    return digests


def check_model_dir(model_dir: str | Path) -> Path | None:
    """The model's folder, checked to hold a config and weights; None for a hub id.

    A path that exists, or that looks like a local path (absolute, ``./``, ``~``, or more than
    one ``/``), must be a folder with ``config.json`` and weight files, else
    :class:`ModelFolderError` naming it (instead of a transformers "Repo id" traceback).
    """
    text = str(model_dir)
    path = Path(text).expanduser()
    looks_local = (
        path.exists() or text.startswith(("/", ".", "~")) or text.count("/") > 1 or "\\" in text
    )
    if not looks_local:
        return None
    if not path.is_dir():
        raise ModelFolderError(path, "model folder not found (run the download step first)")
    if not (path / "config.json").is_file():
        raise ModelFolderError(path, "model folder has no config.json")
    if not any(path.glob("*.safetensors")) and not any(path.glob("*.bin")):
        raise ModelFolderError(path, "model folder has no weights (*.safetensors or *.bin)")
    return path


def _dtype_name(dtype: str | torch.dtype, device: str) -> str:
    if isinstance(dtype, str):
        dtype = resolve_dtype(dtype, pick_device(device))
    return str(dtype).removeprefix("torch.")


def model_fingerprint(
    model_dir: str | Path, dtype: str | torch.dtype = "auto", device: str = "auto"
) -> str:
    """sha256 over a model folder's files (config, tokenizer, weight digests) and the dtype.

    What was computed with a model is valid only under the same fingerprint: new weights at the
    same path, or another dtype, give another one. ``dtype`` "auto" is resolved for ``device``.
    A hub id (no local folder) is fingerprinted by its name only, with a warning.
    """
    digest = hashlib.sha256(f"dtype={_dtype_name(dtype, device)}\n".encode())
    folder = check_model_dir(model_dir)
    if folder is None:
        log.warning(
            "%s is a hub id, not a folder: its fingerprint cannot see its weights", model_dir
        )
        digest.update(f"hub={model_dir}\n".encode())
        return digest.hexdigest()
    files = _model_files(folder)
    big = [p for p in files if p.stat().st_size >= _BIG_FILE]
    big_digests = _weight_digests(folder, big)
    for path in files:
        name = path.relative_to(folder).as_posix()
        sha = big_digests.get(name) or _file_sha256(path)
        digest.update(f"{name}={sha}\n".encode())
    return digest.hexdigest()


# ---------------------------------------------------------------- model


@dataclass
class Clip:
    """A loaded CLIP model with what is needed to feed it."""

    model: Any  # transformers.CLIPModel, in eval mode
    tokenizer: Any
    image_mean: tuple[float, float, float]
    image_std: tuple[float, float, float]
    image_size: int
    logit_scale: float  # exp of the model's learned logit scale
    model_id: str
    device: torch.device
    dtype: torch.dtype
    #: ``model_fingerprint`` of the weights and dtype: the key of anything computed with them.
    fingerprint: str = ""

    @property
    def dim(self) -> int:
        return int(self.model.config.projection_dim)


def load_clip(
    model_dir: str | Path,
    device: str = "auto",
    dtype: str = "auto",
    *,
    eager_attention: bool = False,
    fingerprint: bool = True,
) -> Clip:
    """Load a CLIP model, tokenizer and normalisation from a hub id or a save_pretrained folder.

    ``eager_attention`` asks for transformers' eager attention, the one that returns attention
    weights (E3's relevance maps need them; E3 uses it throughout so that its runs agree).
    ``fingerprint=False`` skips :func:`model_fingerprint` (and its digest file beside the model
    folder) for models whose outputs are not cached by fingerprint, such as E3's fine-tuned ones.
    """
    from transformers import AutoTokenizer, CLIPImageProcessor, CLIPModel

    check_model_dir(model_dir)
    dev = pick_device(device)
    torch_dtype = resolve_dtype(dtype, dev)
    digest = model_fingerprint(model_dir, torch_dtype) if fingerprint else ""
    extra = {"attn_implementation": "eager"} if eager_attention else {}
    model = CLIPModel.from_pretrained(str(model_dir), dtype=torch_dtype, **extra).to(dev).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    processor = CLIPImageProcessor.from_pretrained(str(model_dir))
    mean = tuple(float(x) for x in processor.image_mean)
    std = tuple(float(x) for x in processor.image_std)
    log.info("loaded CLIP %s on %s as %s", model_dir, dev, torch_dtype)
    return Clip(
        model=model,
        tokenizer=tokenizer,
        image_mean=mean,  # type: ignore[arg-type]
        image_std=std,  # type: ignore[arg-type]
        image_size=int(model.config.vision_config.image_size),
        logit_scale=float(model.logit_scale.detach().float().exp().item()),
        model_id=str(model_dir),
        device=dev,
        dtype=torch_dtype,
        fingerprint=digest,
    )


def clip_dim(model_dir: str | Path) -> int:
    """Embedding size from the model's config alone (no weights, no device)."""
    from transformers import AutoConfig

    check_model_dir(model_dir)
    return int(AutoConfig.from_pretrained(str(model_dir)).projection_dim)


def _normalise(feats: torch.Tensor) -> np.ndarray:
    import torch

    feats = feats.float()
    feats = feats / torch.linalg.vector_norm(feats, dim=-1, keepdim=True).clamp_min(1e-12)
    return feats.cpu().numpy().astype(np.float32, copy=False)


# ---------------------------------------------------------------- images


def pixel_values(clip: Clip, images: Sequence[Image.Image]) -> torch.Tensor:
    """Normalised (n, 3, S, S) tensor on the model's device from pre-resized RGB images.

    Images of another size are resized and centre-cropped first (CLIP's way), so the result is
    right for any input; the shard path gives images of the right size and skips that work.
    """
    import torch

    size = clip.image_size
    arrays = []
    for img in images:
        if img.mode != "RGB":
            img = img.convert("RGB")
        if img.size != (size, size):
            from semspace.images import resize_center_crop

            img = resize_center_crop(img, size)
        arrays.append(np.asarray(img, dtype=np.uint8))
    if not arrays:
        return torch.empty((0, 3, size, size), dtype=clip.dtype, device=clip.device)
    from semspace.images import normalise_pixels

    return normalise_pixels(arrays, clip.image_mean, clip.image_std, clip.device).to(clip.dtype)


def embed_pixels(clip: Clip, pixels: torch.Tensor) -> np.ndarray:
    """Image embeddings (n×d float32, unit norm) of a normalised pixel tensor."""
    import torch

    if pixels.shape[0] == 0:
        return np.zeros((0, clip.dim), dtype=np.float32)
    with torch.inference_mode():
        feats = clip.model.get_image_features(pixel_values=pixels).pooler_output
    return _normalise(feats)


def embed_images(clip: Clip, images: Sequence[Image.Image]) -> np.ndarray:
    """Image embeddings (n×d float32, unit norm), one forward pass for all ``images``."""
    return embed_pixels(clip, pixel_values(clip, images))


# ---------------------------------------------------------------- texts


TEXT_CACHE_SCHEMA = pa.schema(
    [
        pa.field("model", pa.string(), nullable=False),
        pa.field("fingerprint", pa.string(), nullable=False),
        pa.field("text", pa.string(), nullable=False),
        pa.field("embedding", pa.list_(pa.float32()), nullable=False),
    ]
)


class TextEmbeddingCache:
    """Text → vector, per model id and that model's fingerprint, in one Parquet file.

    Each model id holds vectors of one fingerprint (``model_fingerprint``: weights, config,
    dtype). Asked with another fingerprint, its old vectors are discarded, with a log line, and
    redone: new weights at the same path never reuse old vectors. ``embed_texts`` looks texts up
    here and adds what it computes; ``save`` writes atomically (``embed_texts`` calls it whenever
    it added something, unless ``autosave=False``). A cache of the older format (no fingerprint
    column) is read as of unknown fingerprint, so it is discarded on first use.
    """

    def __init__(self, path: str | Path, autosave: bool = True) -> None:
        self.path = Path(path)
        self.autosave = autosave
        self._vectors: dict[tuple[str, str], np.ndarray] = {}
        self._fingerprints: dict[str, str] = {}
        self._dirty = False
        if self.path.exists():
            try:
                table = pq.read_table(self.path)
                if "fingerprint" not in table.column_names:
                    table = table.append_column(
                        "fingerprint", pa.array([""] * table.num_rows, type=pa.string())
                    )
                table = table.select(TEXT_CACHE_SCHEMA.names).cast(TEXT_CACHE_SCHEMA)
            except (pa.ArrowInvalid, KeyError, ValueError) as exc:
                raise InputFormatError(
                    self.path, f"not a text-embedding cache ({exc}); delete it"
                ) from exc
            for model, fp, text, vec in zip(
                table["model"].to_pylist(),
                table["fingerprint"].to_pylist(),
                table["text"].to_pylist(),
                table["embedding"].to_pylist(),
            ):
                if self._fingerprints.setdefault(model, fp) != fp:
                    # Rows of two fingerprints for one model (made outside this class): trust none.
                    self._fingerprints[model] = ""
                self._vectors[(model, text)] = np.asarray(vec, dtype=np.float32)

    def __len__(self) -> int:
        return len(self._vectors)

    @property
    def dirty(self) -> bool:
        """Whether the cache differs from its file."""
        return self._dirty

    def fingerprint(self, model_id: str) -> str | None:
        """The fingerprint of the vectors held for ``model_id`` (None if it has none)."""
        return self._fingerprints.get(model_id)

    def _claim(self, model_id: str, fingerprint: str | None) -> None:
        """Discard ``model_id``'s vectors if they were made under another fingerprint."""
        if fingerprint is None:
            return
        old = self._fingerprints.get(model_id)
        if old is not None and old != fingerprint:
            stale = [k for k in self._vectors if k[0] == model_id]
            for k in stale:
                del self._vectors[k]
            log.info(
                "text cache %s: discarding %d vectors of %s made by other weights or dtype "
                "(fingerprint %s, now %s)",
                self.path,
                len(stale),
                model_id,
                old[:12] or "unknown",
                fingerprint[:12],
            )
            self._dirty = self._dirty or bool(stale)
        self._fingerprints[model_id] = fingerprint

    def get_many(
        self, model_id: str, texts: Sequence[str], fingerprint: str | None = None
    ) -> dict[str, np.ndarray]:
        """The cached vectors of those ``texts`` that are present, by text.

        With ``fingerprint``, vectors of ``model_id`` made under another one are discarded first.
        """
        self._claim(model_id, fingerprint)
        found = {}
        for text in texts:
            vec = self._vectors.get((model_id, text))
            if vec is not None:
                found[text] = vec
        return found

    def put_many(
        self,
        model_id: str,
        texts: Sequence[str],
        vectors: np.ndarray,
        fingerprint: str | None = None,
    ) -> None:
        if len(texts) != len(vectors):
            raise ValueError(f"{len(texts)} texts but {len(vectors)} vectors")
        self._claim(model_id, fingerprint if fingerprint is not None else "")
        for text, vec in zip(texts, vectors):
            self._vectors[(model_id, text)] = np.asarray(vec, dtype=np.float32)
        self._dirty = self._dirty or len(texts) > 0

    def save(self) -> None:
        keys = list(self._vectors)
        table = pa.table(
            {
                "model": [m for m, _ in keys],
                "fingerprint": [self._fingerprints.get(m, "") for m, _ in keys],
                "text": [t for _, t in keys],
                "embedding": [self._vectors[k].tolist() for k in keys],
            },
            schema=TEXT_CACHE_SCHEMA,
        )
        write_parquet(table, self.path, TEXT_CACHE_SCHEMA)
        self._dirty = False


def tokenize_texts(clip: Clip, texts: Sequence[str]) -> dict[str, torch.Tensor]:
    """Token ids and attention mask (CPU tensors) of ``texts``, padded to the longest one and
    truncated to the model's context (77 tokens for CLIP)."""
    max_length = min(
        int(clip.tokenizer.model_max_length),
        int(clip.model.config.text_config.max_position_embeddings),
    )
    return clip.tokenizer(
        list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="pt"
    )


def _encode_texts(clip: Clip, texts: Sequence[str], batch_size: int) -> np.ndarray:
    import torch

    out = np.zeros((len(texts), clip.dim), dtype=np.float32)
    # Similar lengths together: less padding. Padding does not change a text's vector (causal
    # mask, pooled at its own end token), so this only changes speed.
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        batch = tokenize_texts(clip, [texts[i] for i in idx]).to(clip.device)
        with torch.inference_mode():
            feats = clip.model.get_text_features(**batch).pooler_output
        out[idx] = _normalise(feats)
    return out


def embed_texts(
    clip: Clip,
    texts: Sequence[str],
    batch_size: int = 256,
    cache: TextEmbeddingCache | None = None,
) -> np.ndarray:
    """Text embeddings (n×d float32, unit norm) in the order of ``texts``.

    Each distinct text is run once (and not at all when ``cache`` has it); texts longer than the
    tokenizer's maximum (77 for CLIP) are truncated.
    """
    if batch_size < 1:
        raise ConfigError(f"text batch size must be positive, got {batch_size}")
    distinct = list(dict.fromkeys(texts))
    vectors: dict[str, np.ndarray] = (
        cache.get_many(clip.model_id, distinct, clip.fingerprint) if cache is not None else {}
    )
    missing = [t for t in distinct if t not in vectors]
    if missing:
        computed = _encode_texts(clip, missing, batch_size)
        vectors.update(zip(missing, computed))
        if cache is not None:
            cache.put_many(clip.model_id, missing, computed, clip.fingerprint)
    if cache is not None and cache.autosave and cache.dirty:  # added to, or stale rows dropped
        cache.save()
    if not texts:
        return np.zeros((0, clip.dim), dtype=np.float32)
    return np.stack([vectors[t] for t in texts]).astype(np.float32, copy=False)


# ---------------------------------------------------------------- reading embeddings


def read_embeddings(
    paths: str | Path | Sequence[str | Path], key: str = "key", model: str | None = None
) -> tuple[list[str], np.ndarray]:
    """Keys in file order and their vectors (n×d float32) from embedding Parquet files.

    ``key`` names the key column: ``key`` for images, ``text`` for E2's text embeddings. With
    ``model``, every row's ``model`` column must be it (embeddings of another model are refused,
    naming the file). NaN, infinite or null vectors are refused, naming file, row and key.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    keys: list[str] = []
    blocks: list[np.ndarray] = []
    dim: int | None = None
    for path in paths:
        columns = [key, "embedding"] + (["model"] if model is not None else [])
        try:
            table = pq.read_table(path, columns=columns)
        except (pa.ArrowInvalid, KeyError):
            raise InputFormatError(
                path, f"embedding file needs columns {', '.join(columns)}"
            ) from None
        if model is not None:
            found = table["model"].to_pylist()
            other = sorted({str(m) for m in found if m != model})
            if other:
                n_other = sum(m != model for m in found)
                raise InputFormatError(
                    path,
                    f"column model: {n_other} of {len(found)} rows are embeddings of "
                    f"{', '.join(repr(m) for m in other)}, not of {model!r} (--model-id)",
                )
        col = table["embedding"].combine_chunks()
        if not pa.types.is_fixed_size_list(col.type):
            raise InputFormatError(
                path, f"embedding column must be a fixed-size list, got {col.type}"
            )
        d = col.type.list_size
        if dim is not None and d != dim:
            raise InputFormatError(path, f"embedding size {d} differs from {dim} in earlier files")
        dim = d
        names = table[key].to_pylist()
        null_rows = np.asarray(col.is_null(), dtype=bool)
        flat = col.flatten()
        if not null_rows.any() and flat.null_count:
            null_rows = np.asarray(flat.is_null(), dtype=bool).reshape(len(col), d).any(axis=1)
        if null_rows.any():
            rows = np.flatnonzero(null_rows).tolist()
            raise InputFormatError(path, _bad_rows("empty (null) values", rows, names, len(col)))
        values = flat.to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
        vectors = values.reshape(len(col), d)
        bad = ~np.isfinite(vectors).all(axis=1)
        if bad.any():
            rows = np.flatnonzero(bad).tolist()
            raise InputFormatError(path, _bad_rows("NaN or infinite values", rows, names, len(col)))
        blocks.append(vectors)
        keys.extend(names)
    if not blocks:
        return [], np.zeros((0, 0), dtype=np.float32)
    vectors = np.concatenate(blocks, axis=0)
    _check_duplicates(keys, vectors, [p for p, b in zip(paths, blocks) for _ in range(len(b))])
    return keys, vectors


def _check_duplicates(keys: Sequence[str], vectors: np.ndarray, files: Sequence[Any]) -> None:
    """A key given twice with two different vectors (overlapping files of two runs or models)
    is an error naming both files: a stage's lookup by key would keep one silently."""
    first: dict[str, int] = {}
    for row, k in enumerate(keys):
        seen = first.setdefault(k, row)
        if seen != row and not np.array_equal(vectors[seen], vectors[row]):
            raise InputFormatError(
                files[row],
                f"key {k!r} is also in {files[seen]} with another vector (files of two runs or "
                "models?); give each image's embedding once",
            )


def _bad_rows(what: str, rows: Sequence[int], keys: Sequence[Any], n: int) -> str:
    """ "column embedding: N of M rows hold WHAT (first: row R, key K)": the rows of a
    downstream stage's input that would rank or project as garbage, never silently."""
    first = rows[0]
    return (
        f"column embedding: {len(rows)} of {n} rows hold {what} (first: row {first}, key "
        f"{keys[first]!r}); re-embed them (a float16 overflow or a broken image upstream?)"
    )


def embedding_table(keys: Sequence[str], vectors: np.ndarray, model_id: str, dim: int) -> pa.Table:
    """Rows of ``embedding_schema(dim)``."""
    vectors = np.asarray(vectors, dtype=np.float32).reshape(len(keys), dim)
    values = pa.array(vectors.reshape(-1), type=pa.float32())
    return pa.table(
        {
            "key": pa.array(list(keys), type=pa.string()),
            "embedding": pa.FixedSizeListArray.from_arrays(values, dim),
            "model": pa.array([model_id] * len(keys), type=pa.string()),
        },
        schema=embedding_schema(dim),
    )


# ---------------------------------------------------------------- the shard stage


def flush_size(batch_size: int, flush_every: int) -> int:
    """Rows per part file: ``flush_every`` rounded up to a whole number of batches."""
    if batch_size < 1 or flush_every < 1:
        raise ConfigError("embed.batch_size and embed.flush_every must be positive")
    return -(-flush_every // batch_size) * batch_size


def work_dir(out: str | Path) -> Path:
    """Folder of finished part files beside ``out``, kept across a killed job."""
    out = Path(out)
    return out.with_name(out.name + ".partial")


def read_shard_table(path: str | Path) -> pa.Table:
    try:
        table = pq.read_table(path, columns=SHARD.names)
    except (pa.ArrowInvalid, OSError, KeyError) as exc:
        raise InputFormatError(
            path, f"not an image shard with columns {SHARD.names}: {exc}"
        ) from exc
    return table


def _decode(data: bytes, key: str, path: str | Path) -> Image.Image:
    from PIL import Image, UnidentifiedImageError

    try:
        img = Image.open(io.BytesIO(data))
        img.load()
    except (UnidentifiedImageError, OSError) as exc:
        raise InputFormatError(path, f"image of key {key!r} cannot be decoded: {exc}") from exc
    return img.convert("RGB") if img.mode != "RGB" else img


def _part_ok(part: Path, keys: Sequence[str], dim: int, model_id: str) -> bool:
    try:
        table = pq.read_table(part)
    except (pa.ArrowInvalid, OSError):
        return False
    return (
        table.schema.equals(embedding_schema(dim))
        and table["key"].to_pylist() == list(keys)
        and set(table["model"].to_pylist()) <= {model_id}
    )


def embed_shard(
    shard: str | Path,
    out: str | Path,
    *,
    load: Callable[[], Clip],
    model_id: str,
    dim: int,
    batch_size: int,
    flush_every: int,
    after_part: Callable[[int], None] | None = None,
    workers: int = 4,
    fingerprint: str | None = None,
) -> dict[str, int]:
    """Embed every image of ``shard`` into ``out``, resuming from part files of a killed run.

    Batches start at multiples of ``batch_size`` from the shard's first row and parts hold
    ``flush_size`` rows, so a resumed run computes the very same batches as an uninterrupted one.
    ``load`` is called only if some part is still to be computed; ``after_part(i)`` is called
    after part ``i`` is written; ``workers`` threads decode images. Returns row counts.

    Parts are reused only if made under the same ``fingerprint`` (``model_fingerprint`` of the
    weights and dtype) as well as the same shard and settings; others are discarded, with a log
    line. Without ``fingerprint`` the model is loaded first to learn its own.
    """
    shard, out = Path(shard), Path(out)
    table = read_shard_table(shard)
    keys: list[str] = table["key"].to_pylist()
    n = len(keys)
    per_part = flush_size(batch_size, flush_every)
    work = work_dir(out)
    clip: Clip | None = None
    if fingerprint is None:
        clip = load()
        fingerprint = clip.fingerprint
    meta = {
        "shard": str(shard.resolve()),  # the same shard by any relative path, from any cwd
        "shard_sha256": _file_sha256(shard),  # parts of a shard since rewritten are not reused
        "rows": n,
        "batch_size": batch_size,
        "per_part": per_part,
        "model": model_id,
        "fingerprint": fingerprint,
        "dim": dim,
    }
    claim_work_dir(work, meta)  # another model, dtype, shard or settings: discarded, redone

    parts = [(start, min(start + per_part, n)) for start in range(0, n, per_part)]
    part_paths = [work / f"part-{i:05d}.parquet" for i in range(len(parts))]
    todo = [
        i
        for i, (start, stop) in enumerate(parts)
        if not (part_paths[i].exists() and _part_ok(part_paths[i], keys[start:stop], dim, model_id))
    ]
    todo_set = set(todo)
    resumed_rows = sum(stop - start for i, (start, stop) in enumerate(parts) if i not in todo_set)
    if resumed_rows:
        log.info("resuming: %d of %d rows already embedded in %s", resumed_rows, n, work)
    if todo:
        if clip is None:
            clip = load()
            if clip.fingerprint and clip.fingerprint != fingerprint:
                raise SemspaceError(
                    f"model {model_id} loaded with fingerprint {clip.fingerprint[:12]}, "
                    f"not the {fingerprint[:12]} given (were its weights replaced meanwhile?)"
                )
        if clip.dim != dim:
            raise SemspaceError(f"model gives {clip.dim}-d embeddings, config says {dim}")
        size = clip.image_size
        off = sum(
            1
            for w, h in zip(table["width"].to_pylist(), table["height"].to_pylist())
            if (w, h) != (size, size)
        )
        if off:
            log.warning(
                "%d of %d images in %s are not %d×%d (check models.<alias>.image_size); "
                "resizing them here",
                off,
                n,
                shard,
                size,
                size,
            )
        bar = Progress(f"embed {shard.name}", total=n - resumed_rows)
        images = table["image"]

        def decode_batch(b: int, e: int) -> list[Image.Image]:
            return list(pool.map(lambda j: _decode(images[j].as_py(), keys[j], shard), range(b, e)))

        # Batches inside each part; the next batch decodes on worker threads (PIL releases the
        # GIL) while the model runs on this one.
        batches = [
            (i, b, min(b + batch_size, parts[i][1]))
            for i in todo
            for b in range(parts[i][0], parts[i][1], batch_size)
        ]
        with (
            ThreadPoolExecutor(max_workers=max(1, workers)) as pool,
            ThreadPoolExecutor(1) as ahead,
        ):
            pending = ahead.submit(decode_batch, *batches[0][1:]) if batches else None
            vectors: list[np.ndarray] = []
            for k, (i, b, e) in enumerate(batches):
                decoded = pending.result()
                if k + 1 < len(batches):
                    pending = ahead.submit(decode_batch, *batches[k + 1][1:])
                batch = embed_images(clip, decoded)
                bad = ~np.isfinite(batch).all(axis=1)
                if bad.any():  # a dtype overflow: never written as a silent garbage vector
                    raise SemspaceError(
                        f"{shard}: model {model_id} ({clip.dtype}) gives NaN or infinite "
                        f"embeddings for {int(bad.sum())} images (first: key "
                        f"{keys[b + int(np.flatnonzero(bad)[0])]!r}); "
                        "try --dtype float32 (runtime.dtype)"
                    )
                vectors.append(batch)
                bar.update(e - b)
                if e == parts[i][1]:
                    start, stop = parts[i]
                    part = embedding_table(keys[start:stop], np.concatenate(vectors), model_id, dim)
                    write_parquet(part, part_paths[i], embedding_schema(dim))
                    vectors = []
                    if after_part is not None:
                        after_part(i)
        bar.close()

    pieces = [pq.read_table(p) for p in part_paths]
    result = (
        pa.concat_tables(pieces)
        if pieces
        else embedding_table([], np.zeros((0, dim)), model_id, dim)
    )
    write_parquet(result, out, embedding_schema(dim))
    shutil.rmtree(work)
    return {"rows": n, "resumed": resumed_rows, "computed": n - resumed_rows}


# ---------------------------------------------------------------- summary


def summarise_embeddings(
    embeddings: Sequence[str | Path], skipped: Sequence[str | Path]
) -> tuple[dict[str, Any], pa.Table]:
    """Counts per shard and in total (embedded, skipped by reason), and the joint skip list."""
    shards = []
    skip_tables = []
    models: set[str] = set()
    dims: set[int] = set()
    total_by_reason: dict[str, int] = {}
    for i, path in enumerate(embeddings):
        table = pq.read_table(path)
        col = table.schema.field("embedding").type
        if not pa.types.is_fixed_size_list(col):
            raise InputFormatError(path, f"embedding column must be a fixed-size list, got {col}")
        dims.add(col.list_size)
        models.update(table["model"].to_pylist())
        entry: dict[str, Any] = {"embeddings": str(path), "embedded": table.num_rows}
        if i < len(skipped):
            skip = pq.read_table(skipped[i]).select(SKIPPED.names).cast(SKIPPED)
            skip_tables.append(skip)
            by_reason: dict[str, int] = {}
            for reason in skip["reason"].to_pylist():
                by_reason[reason] = by_reason.get(reason, 0) + 1
                total_by_reason[reason] = total_by_reason.get(reason, 0) + 1
            entry.update(
                skipped_list=str(skipped[i]), skipped=skip.num_rows, skipped_by_reason=by_reason
            )
        shards.append(entry)
    for path in skipped[len(embeddings) :]:
        raise InputFormatError(
            path, "more skip lists than embedding files; pass them in shard order"
        )
    if len(models) > 1:
        raise SemspaceError(f"embedding files mix models: {sorted(models)}")
    if len(dims) > 1:
        raise SemspaceError(f"embedding files mix sizes: {sorted(dims)}")
    skip_all = pa.concat_tables(skip_tables) if skip_tables else SKIPPED.empty_table()
    summary = {
        "model": next(iter(models), None),
        "dim": next(iter(dims), None),
        "shards": len(shards),
        "embedded": sum(s["embedded"] for s in shards),
        "skipped": skip_all.num_rows,
        "skipped_by_reason": dict(sorted(total_by_reason.items())),
        "per_shard": shards,
    }
    return summary, skip_all


__all__ = [
    "Clip",
    "TextEmbeddingCache",
    "check_model_dir",
    "embed_images",
    "embed_shard",
    "embed_texts",
    "load_clip",
    "model_fingerprint",
    "pixel_values",
    "read_embeddings",
    "summarise_embeddings",
]
