"""Image decoding, CLIP-style resizing, and the image shards of the ``resize`` stage.

Decoding is strict: a missing, empty, truncated or oversized file raises :class:`BadImageError`
with a short reason code instead of yielding a padded or partial image, and the pixel limit is
checked from the header, before any pixel is decoded. Every mode ends as 8-bit RGB, done right
(alpha over white, 16-bit scaled rather than clipped). Resizing reproduces the geometry of
``transformers.CLIPImageProcessor``: shortest side to ``size`` (bicubic), centre crop.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image, ImageFile, UnidentifiedImageError

from semspace.errors import ConfigError, InputFormatError
from semspace.io import write_parquet
from semspace.runtime import Progress
from semspace.schemas import SHARD, SKIPPED

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

#: Same default as Pillow's decompression-bomb threshold (about 89.5 megapixels).
DEFAULT_MAX_PIXELS = 89_478_485

#: Reason codes of :class:`BadImageError`, as written to ``<shard>.skipped.parquet``.
REASONS = (
    "missing",  # no such file
    "empty",  # zero bytes
    "not_an_image",  # no image format recognised
    "truncated",  # data ends before the pixels do
    "too_many_pixels",  # header size above max_pixels (never decoded)
    "unsupported_mode",  # a pixel mode with no sensible RGB conversion
    "bad_box",  # the crop box is empty or outside the image
    "cannot_resize",  # the resized image cannot be made (memory, degenerate geometry)
    "unreadable",  # anything else the decoder rejects
)

# EXIF orientation -> the transpose that shows the image upright (as PIL.ImageOps.exif_transpose).
_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_WHITE = (255, 255, 255)


class BadImageError(Exception):
    """An image that cannot be used; ``reason`` is one of :data:`REASONS`."""

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


# ---------------------------------------------------------------- decoding


def _open(source: Path | str | bytes) -> Image.Image:
    if isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise BadImageError("empty", "0 bytes")
        fp: io.BytesIO | Path = io.BytesIO(bytes(source))
    else:
        fp = Path(source)
        try:
            size = fp.stat().st_size
        except FileNotFoundError:
            raise BadImageError("missing", f"no such file: {fp}") from None
        except OSError as exc:
            raise BadImageError("unreadable", str(exc)) from None
        if size == 0:
            raise BadImageError("empty", "0 bytes")
    try:
        with warnings.catch_warnings():
            # Our own limit applies below; Pillow's warning would only be noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(fp)
    except Image.DecompressionBombError as exc:
        raise BadImageError("too_many_pixels", str(exc)) from None
    except UnidentifiedImageError:
        raise BadImageError("not_an_image", "no known image format") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise BadImageError(_classify(exc), str(exc)) from None


def _classify(exc: BaseException) -> str:
    text = str(exc).lower()
    if isinstance(exc, EOFError) or "truncated" in text or "premature end" in text:
        return "truncated"
    return "unreadable"


def _orientation(img: Image.Image) -> int:
    try:
        return int(img.getexif().get(0x0112, 1))
    except Exception:  # noqa: BLE001 - a corrupt EXIF block must not lose a good image
        return 1


def _scale_to_uint8(arr: np.ndarray, mode: str) -> np.ndarray:
    """Integer/float greyscale to 8 bits by scaling (Pillow's own conversion clips at 255)."""
    if mode.startswith("I;16") or (
        mode == "I" and arr.size and arr.min() >= 0 and arr.max() <= 65535
    ):
        # 16-bit samples: 65535 -> 255, i.e. v / 257, rounded.
        return np.round(arr.astype(np.float64) / 257.0).astype(np.uint8)
    arr = arr.astype(np.float64)
    finite = arr[np.isfinite(arr)]
    if mode == "F" and finite.size and finite.min() >= 0.0 and finite.max() <= 1.0:
        lo, hi = 0.0, 1.0
    elif finite.size:
        lo, hi = float(finite.min()), float(finite.max())
    else:
        lo, hi = 0.0, 1.0
    scaled = (np.nan_to_num(arr, nan=lo) - lo) / max(hi - lo, 1e-12) * 255.0
    return np.clip(np.round(scaled), 0, 255).astype(np.uint8)


def to_rgb(img: Image.Image) -> Image.Image:
    """Any decoded Pillow image as 8-bit RGB: transparency over white, CMYK and 16-bit converted."""
    mode = img.mode
    if mode == "RGB" and "transparency" not in img.info:
        return img
    if mode in ("I", "F") or mode.startswith("I;16"):
        grey = _scale_to_uint8(np.asarray(img), mode)
        return Image.fromarray(grey, mode="L").convert("RGB")
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, _WHITE + (255,))
        return Image.alpha_composite(background, rgba).convert("RGB")
    try:
        return img.convert("RGB")
    except ValueError as exc:
        raise BadImageError("unsupported_mode", f"mode {mode}: {exc}") from None


def decode_image(
    source: Path | str | bytes, max_pixels: int | None = DEFAULT_MAX_PIXELS
) -> Image.Image:
    """Decode a file or bytes to an upright 8-bit RGB image, or raise :class:`BadImageError`.

    The pixel limit is checked from the header size before decoding; multi-frame files (MPO,
    GIF, APNG) give their first frame; the EXIF orientation is applied.
    """
    # ``max_pixels`` is the one limit, above or below Pillow's own (off while we decode).
    pillow_limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
    try:
        return _decode(source, max_pixels)
    finally:
        Image.MAX_IMAGE_PIXELS = pillow_limit


def _decode(source: Path | str | bytes, max_pixels: int | None) -> Image.Image:
    img = _open(source)
    try:
        width, height = img.size
        if max_pixels is not None and width * height > max_pixels:
            raise BadImageError(
                "too_many_pixels",
                f"{width}x{height} = {width * height} pixels > max_pixels {max_pixels}",
            )
        if width == 0 or height == 0:
            raise BadImageError("unreadable", f"image of size {width}x{height}")
        orientation = _orientation(img)
        # Multi-frame files open on their first frame. Truncation must raise, even if some
        # other library in this process told Pillow to pad truncated files silently.
        lenient = ImageFile.LOAD_TRUNCATED_IMAGES
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        try:
            img.load()
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise BadImageError(_classify(exc), str(exc)) from None
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = lenient
        rgb = to_rgb(img)
        if orientation in _ORIENTATION:
            rgb = rgb.transpose(_ORIENTATION[orientation])
        if rgb is img:  # detach from the file so that it can be closed
            rgb = img.copy()
        return rgb
    finally:
        img.close()


# ---------------------------------------------------------------- geometry


def resize_shape(width: int, height: int, size: int) -> tuple[int, int]:
    """(width, height) after scaling the shortest side to ``size``, as CLIPImageProcessor does."""
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = size, int(size * long / short)
    return (new_short, new_long) if width <= height else (new_long, new_short)


#: Above this many times ``size``² pixels the intermediate of resize-then-crop is not made.
_MAX_INTERMEDIATE = 16


def resize_center_crop(img: Image.Image, size: int) -> Image.Image:
    """Shortest side to ``size`` (bicubic), then the centre ``size``×``size`` crop.

    For a very elongated image (a 300000×1 strip) the resized whole would not fit in memory;
    then only the source region of the crop is resampled, straight to ``size``×``size``, which
    gives the same geometry (pixels differ by at most a few levels from the two-step way).
    """
    new_w, new_h = resize_shape(img.width, img.height, size)
    top = (new_h - size) // 2
    left = (new_w - size) // 2
    if new_w * new_h > _MAX_INTERMEDIATE * size * size:
        sx, sy = img.width / new_w, img.height / new_h
        box = (left * sx, top * sy, (left + size) * sx, (top + size) * sy)
        return img.resize((size, size), resample=Image.Resampling.BICUBIC, box=box)
    if (new_w, new_h) != img.size:
        img = img.resize((new_w, new_h), resample=Image.Resampling.BICUBIC)
    if (left, top, new_w, new_h) == (0, 0, size, size):
        return img
    return img.crop((left, top, left + size, top + size))


def crop_box(img: Image.Image, box: tuple[int, int, int, int]) -> Image.Image:
    """Crop ``(left, top, right, bottom)`` (right/bottom exclusive), clipped to the image."""
    left, top, right, bottom = box
    cl, ct = max(0, left), max(0, top)
    cr, cb = min(img.width, right), min(img.height, bottom)
    if cr <= cl or cb <= ct:
        raise BadImageError(
            "bad_box", f"box {box} is empty within the {img.width}x{img.height} image"
        )
    return img.crop((cl, ct, cr, cb))


def load_and_resize(
    path: Path | str | bytes,
    size: int,
    box: tuple[int, int, int, int] | None = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> Image.Image:
    """Decode, crop the optional box (original pixels, after the EXIF transpose) and resize."""
    if size < 1:
        raise ConfigError(f"models.<alias>.image_size must be positive, got {size}")
    img = decode_image(path, max_pixels=max_pixels)
    if box is not None:
        img = crop_box(img, box)
    try:
        return resize_center_crop(img, size)
    except (MemoryError, ValueError, OSError) as exc:
        raise BadImageError(
            "cannot_resize", f"{img.width}x{img.height} to {size}x{size}: {exc!r}"
        ) from None


# ---------------------------------------------------------------- pixels for a model


def normalise_pixels(
    images: np.ndarray | Sequence[np.ndarray],
    mean: Sequence[float],
    std: Sequence[float],
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """uint8 RGB images (n, h, w, 3) -> float32 tensor (n, 3, h, w) of ``(x / 255 - mean) / std``.

    The one pixel normalisation of every model input (CLIP, VGG16, the CIFAR classifier); each
    caller passes its model's ``mean`` and ``std``. The tensor is made on ``device`` (CPU if None).
    """
    import torch

    array = np.ascontiguousarray(np.stack(images) if isinstance(images, Sequence) else images)
    if array.ndim != 4 or array.shape[-1] != 3:
        raise ValueError(f"images must be (n, h, w, 3), got shape {array.shape}")
    x = torch.from_numpy(array).to(device).permute(0, 3, 1, 2).float().div_(255.0)
    m = torch.tensor(mean, dtype=torch.float32, device=x.device).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32, device=x.device).view(1, 3, 1, 1)
    return (x - m) / s


# ---------------------------------------------------------------- shards


@dataclasses.dataclass
class ShardStats:
    """What :func:`write_shard` did: rows asked for, written, skipped (by reason), seconds."""

    shard: int
    rows: int
    written: int
    skipped: int
    reasons: dict[str, int]
    seconds: float


def _row_box(row: dict[str, object], path: str) -> tuple[int, int, int, int] | None:
    values = [row.get(k) for k in ("left", "top", "right", "bottom")]
    if all(v is None for v in values):
        return None
    if any(v is None for v in values):
        raise BadImageError("bad_box", f"incomplete box {values} for {path}")
    return tuple(int(v) for v in values)  # type: ignore[return-value]


def encode_image(img: Image.Image, encoding: str = "jpeg", jpeg_quality: int = 95) -> bytes:
    """JPEG (4:4:4 chroma, so colours survive at small sizes) or lossless PNG."""
    buf = io.BytesIO()
    if encoding == "jpeg":
        img.save(buf, format="JPEG", quality=jpeg_quality, subsampling=0)
    elif encoding == "png":
        img.save(buf, format="PNG", compress_level=1)
    else:
        raise ConfigError(f"images.encoding: unknown {encoding!r}; use jpeg or png")
    return buf.getvalue()


def shard_rows(n_rows: int, shard: int, shard_size: int) -> range:
    """Manifest row numbers of shard ``shard``: [shard·size, min((shard+1)·size, n))."""
    start = shard * shard_size
    return range(min(start, n_rows), min(start + shard_size, n_rows))


def n_shards(n_rows: int, shard_size: int) -> int:
    """How many shards of ``shard_size`` rows a manifest of ``n_rows`` rows makes."""
    if shard_size < 1:
        raise ConfigError(f"images.shard_size must be positive, got {shard_size}")
    return (n_rows + shard_size - 1) // shard_size


def shard_ids(n_rows: int, shard_size: int) -> list[str]:
    """The shards' names, ``00000``, ``00001``, ...: the ``{shard}`` of their file names."""
    return [f"{i:05d}" for i in range(n_shards(n_rows, shard_size))]


def write_shard(
    manifest: pa.Table,
    root: Path | str,
    shard: int,
    shard_size: int,
    image_size: int,
    *,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    on_bad_image: str = "skip",
    encoding: str = "jpeg",
    jpeg_quality: int = 95,
    out: Path | str,
    skipped_out: Path | str,
) -> ShardStats:
    """Decode, crop, resize and encode one shard of the manifest; write it and its skip list.

    With ``on_bad_image="error"`` the first bad image raises :class:`InputFormatError` naming
    the file and the reason; with ``"skip"`` it is listed in ``skipped_out``. Both outputs are
    always written, atomically (an empty shard gives two empty tables).
    """
    if on_bad_image not in ("skip", "error"):
        raise ConfigError(f"images.on_bad_image must be skip or error, not {on_bad_image!r}")
    if encoding not in ("jpeg", "png"):
        raise ConfigError(f"images.encoding must be jpeg or png, not {encoding!r}")
    root = Path(root)
    rows = shard_rows(manifest.num_rows, shard, shard_size)
    if len(rows) == 0:
        log.warning("shard %d is empty: the manifest has %d rows", shard, manifest.num_rows)
    records = manifest.slice(rows.start, len(rows)).to_pylist()
    done: dict[str, list] = {name: [] for name in SHARD.names}
    skipped: dict[str, list] = {name: [] for name in SKIPPED.names}
    reasons: dict[str, int] = {}
    start = time.monotonic()
    bar = Progress(f"resize shard {shard:05d}", total=len(records))
    for row in records:
        key, rel = row["key"], row["path"]
        try:
            img = load_and_resize(
                root / rel, image_size, box=_row_box(row, rel), max_pixels=max_pixels
            )
        except BadImageError as exc:
            if on_bad_image == "error":
                raise InputFormatError(
                    root / rel, f"bad image ({exc.reason}): {exc.detail}; key {key!r}"
                ) from None
            log.warning("skipping %s (%s): %s", rel, exc.reason, exc.detail)
            skipped["key"].append(key)
            skipped["path"].append(rel)
            skipped["reason"].append(exc.reason)
            reasons[exc.reason] = reasons.get(exc.reason, 0) + 1
        else:
            done["key"].append(key)
            done["image"].append(encode_image(img, encoding, jpeg_quality))
            done["width"].append(img.width)
            done["height"].append(img.height)
        bar.update()
    write_parquet(pa.Table.from_pydict(done, schema=SHARD), out)
    write_parquet(pa.Table.from_pydict(skipped, schema=SKIPPED), skipped_out)
    stats = ShardStats(
        shard=shard,
        rows=len(records),
        written=len(done["key"]),
        skipped=len(skipped["key"]),
        reasons=reasons,
        seconds=time.monotonic() - start,
    )
    log.info(
        "shard %05d: %d rows (manifest %d-%d), %d written, %d skipped %s, %.1f images/s",
        shard,
        stats.rows,
        rows.start,
        rows.stop,
        stats.written,
        stats.skipped,
        reasons or "",
        stats.rows / max(stats.seconds, 1e-9),
    )
    return stats


def read_shard(path: Path | str) -> pa.Table:
    """A shard table, checked against :data:`semspace.schemas.SHARD`."""
    table = pq.read_table(path)
    missing = [n for n in SHARD.names if n not in table.column_names]
    if missing:
        raise InputFormatError(path, f"not an image shard: columns {missing} missing")
    return table.select(SHARD.names).cast(SHARD)


def read_shard_images(path: Path | str) -> Iterator[tuple[str, Image.Image]]:
    """``(key, RGB image)`` for every image of a shard, in shard order."""
    table = read_shard(path)
    for batch in table.to_batches(max_chunksize=256):
        for key, data in zip(batch.column("key").to_pylist(), batch.column("image").to_pylist()):
            with Image.open(io.BytesIO(data)) as img:
                yield key, img.convert("RGB")
