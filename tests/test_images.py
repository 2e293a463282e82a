"""Decoding of every bad or unusual kind of image, CLIP geometry, and image shards."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image, ImageDraw

from semspace.cli import main as cli_main
from semspace.errors import InputFormatError
from semspace.images import (
    BadImageError,
    decode_image,
    load_and_resize,
    read_shard_images,
    resize_center_crop,
    resize_shape,
    shard_rows,
    write_shard,
)
from semspace.schemas import MANIFEST, SHARD, SKIPPED

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


def pattern(w: int, h: int) -> Image.Image:
    """A smooth gradient with a disc: realistic content for resampling comparisons."""
    y, x = np.mgrid[0:h, 0:w]
    arr = np.stack(
        [x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1), ((x + y) * 7) % 256], axis=-1
    ).astype(np.uint8)
    img = Image.fromarray(arr)
    ImageDraw.Draw(img).ellipse((w // 4, h // 4, w // 2, h // 2), fill=(250, 10, 10))
    return img


def reason_of(source, **kw) -> str:
    with pytest.raises(BadImageError) as info:
        decode_image(source, **kw)
    return info.value.reason


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width×height and that holds no pixel data at all."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


# ---------------------------------------------------------------- bad files


def test_missing_empty_text(tmp_path: Path) -> None:
    assert reason_of(tmp_path / "nope.jpg") == "missing"
    (tmp_path / "zero.jpg").write_bytes(b"")
    assert reason_of(tmp_path / "zero.jpg") == "empty"
    assert reason_of(b"") == "empty"
    (tmp_path / "notes.jpg").write_text("this is not an image\n" * 20)
    assert reason_of(tmp_path / "notes.jpg") == "not_an_image"


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_is_detected_not_padded(tmp_path: Path, fmt: str) -> None:
    buf = io.BytesIO()
    pattern(120, 80).save(buf, fmt)
    data = buf.getvalue()
    path = tmp_path / f"cut.{fmt.lower()}"
    path.write_bytes(data[: len(data) // 2])
    assert reason_of(path) == "truncated"
    # the intact file decodes, so the cut is what was detected
    assert decode_image(data).size == (120, 80)


def test_truncated_detected_even_if_pillow_told_to_pad(tmp_path: Path, monkeypatch) -> None:
    from PIL import ImageFile

    buf = io.BytesIO()
    pattern(120, 80).save(buf, "JPEG")
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    assert reason_of(buf.getvalue()[:2000]) == "truncated"
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # the caller's setting is restored


def test_pixel_limit_checked_before_decoding() -> None:
    # The header claims 5000x5000 but there are no pixels: decoding them fails, so
    # "too_many_pixels" proves the limit was applied from the header alone.
    data = png_header_only(5000, 5000)
    assert reason_of(data, max_pixels=1_000_000) == "too_many_pixels"
    assert reason_of(data, max_pixels=25_000_000) == "unreadable"  # no pixel data at all
    # far beyond Pillow's own bomb threshold: still a clean reason, never a decode attempt
    assert reason_of(png_header_only(100_000, 100_000)) == "too_many_pixels"


def test_pixel_limit_real_image() -> None:
    buf = io.BytesIO()
    pattern(100, 50).save(buf, "PNG")
    assert reason_of(buf.getvalue(), max_pixels=4999) == "too_many_pixels"
    assert decode_image(buf.getvalue(), max_pixels=5000).size == (100, 50)


# ---------------------------------------------------------------- modes


def test_rgb_png_is_exact(tmp_path: Path) -> None:
    img = pattern(31, 17)
    img.save(tmp_path / "a.png")
    out = decode_image(tmp_path / "a.png")
    assert out.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(out), np.asarray(img))


def test_rgba_composited_over_white(tmp_path: Path) -> None:
    arr = np.zeros((2, 2, 4), dtype=np.uint8)
    arr[0, 0] = (255, 0, 0, 0)  # fully transparent red -> white
    arr[0, 1] = (0, 0, 255, 255)  # opaque blue
    arr[1, 0] = (0, 0, 0, 128)  # half-transparent black -> grey
    arr[1, 1] = (0, 200, 0, 64)
    Image.fromarray(arr, "RGBA").save(tmp_path / "a.png")
    out = np.asarray(decode_image(tmp_path / "a.png")).astype(int)
    a = arr[..., 3:4] / 255.0
    expected = np.round(arr[..., :3] * a + 255 * (1 - a))
    assert np.abs(out - expected).max() <= 1
    assert tuple(out[0, 0]) == WHITE and tuple(out[0, 1]) == BLUE


def test_la_over_white(tmp_path: Path) -> None:
    arr = np.array([[[100, 0], [100, 255]]], dtype=np.uint8)
    Image.fromarray(arr, "LA").save(tmp_path / "la.png")
    out = np.asarray(decode_image(tmp_path / "la.png"))
    assert tuple(out[0, 0]) == WHITE and tuple(out[0, 1]) == (100, 100, 100)


def test_palette_with_transparency(tmp_path: Path) -> None:
    img = Image.new("P", (4, 1))
    img.putpalette([255, 0, 0, 0, 0, 255] + [0] * (254 * 3))
    img.putdata([0, 1, 1, 0])
    img.save(tmp_path / "p.png", transparency=0)  # index 0 (red) is transparent
    reopened = Image.open(tmp_path / "p.png")
    assert reopened.mode == "P" and "transparency" in reopened.info
    out = np.asarray(decode_image(tmp_path / "p.png"))
    assert [tuple(p) for p in out[0]] == [WHITE, BLUE, BLUE, WHITE]
    # the same palette without transparency keeps its red
    img.save(tmp_path / "p2.png")
    assert tuple(np.asarray(decode_image(tmp_path / "p2.png"))[0, 0]) == RED


def test_cmyk(tmp_path: Path) -> None:
    img = Image.new("CMYK", (16, 16), (0, 255, 255, 0))  # no cyan, full magenta+yellow = red
    img.paste((255, 0, 0, 0), (8, 0, 16, 16))  # full cyan = (0, 255, 255)
    img.save(tmp_path / "c.tif")
    out = np.asarray(decode_image(tmp_path / "c.tif"))
    assert tuple(out[0, 0]) == RED and tuple(out[0, 15]) == (0, 255, 255)
    img.save(tmp_path / "c.jpg", quality=95)
    assert Image.open(tmp_path / "c.jpg").mode == "CMYK"
    out = np.asarray(decode_image(tmp_path / "c.jpg")).astype(int)
    assert np.abs(out[4, 2] - RED).max() <= 8 and np.abs(out[4, 13] - (0, 255, 255)).max() <= 8


def test_16_bit_png_scaled_not_clipped(tmp_path: Path) -> None:
    values = np.array([[0, 257, 25700, 32896, 65535, 1000]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode.startswith("I")
    out = np.asarray(decode_image(tmp_path / "g16.png"))
    expected = np.round(values / 257.0).astype(np.uint8)  # [0, 1, 100, 128, 255, 4]
    np.testing.assert_array_equal(out[..., 0], expected)
    np.testing.assert_array_equal(out[..., 0], out[..., 2])  # grey


def test_float_image_scaled(tmp_path: Path) -> None:
    values = np.array([[0.0, 0.5, 1.0]], dtype=np.float32)
    Image.fromarray(values, "F").save(tmp_path / "f.tif")
    out = np.asarray(decode_image(tmp_path / "f.tif"))[0, :, 0]
    assert list(out) == [0, 128, 255]


def test_mpo_first_frame(tmp_path: Path) -> None:
    first, second = Image.new("RGB", (32, 24), RED), Image.new("RGB", (32, 24), BLUE)
    first.save(tmp_path / "s.mpo", format="MPO", save_all=True, append_images=[second])
    with Image.open(tmp_path / "s.mpo") as check:
        assert check.format == "MPO" and check.n_frames == 2
    out = np.asarray(decode_image(tmp_path / "s.mpo")).astype(int)
    assert out.shape == (24, 32, 3)
    assert np.abs(out - RED).max() <= 6


def test_exif_orientation_6(tmp_path: Path) -> None:
    img = Image.new("RGB", (40, 20), BLUE)
    img.paste(RED, (0, 0, 10, 10))  # red top-left corner as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    img.save(tmp_path / "r.jpg", exif=exif, quality=95)
    out = decode_image(tmp_path / "r.jpg")
    assert out.size == (20, 40)
    arr = np.asarray(out).astype(int)
    # clockwise rotation: stored top-left lands at the top-right
    assert np.abs(arr[3, 16] - RED).max() <= 10
    assert np.abs(arr[3, 3] - BLUE).max() <= 10
    assert np.abs(arr[36, 16] - BLUE).max() <= 10


# ---------------------------------------------------------------- geometry


@pytest.mark.parametrize("wh", [(37, 91), (300, 199), (225, 224), (20, 13), (33, 32)])
def test_geometry_matches_clip_image_processor(wh: tuple[int, int]) -> None:
    from transformers import CLIPImageProcessor, CLIPImageProcessorPil

    img = pattern(*wh)
    ours = np.asarray(resize_center_crop(img, 32)).astype(float)
    assert ours.shape == (32, 32, 3)
    kw = {
        "size": {"shortest_edge": 32},
        "crop_size": {"height": 32, "width": 32},
        "do_normalize": False,
        "do_rescale": False,
    }
    pil_ref = CLIPImageProcessorPil(**kw)(images=img, return_tensors="np")["pixel_values"][0]
    assert np.abs(pil_ref.transpose(1, 2, 0) - ours).max() <= 1
    # the default (torchvision) backend resamples slightly differently: same geometry, close values
    tv_ref = CLIPImageProcessor(**kw)(images=img, return_tensors="np")["pixel_values"][0]
    diff = np.abs(tv_ref.transpose(1, 2, 0) - ours)
    assert np.percentile(diff, 99) <= 2 and diff.mean() < 0.5


def test_resize_shape_hand_worked() -> None:
    assert resize_shape(640, 480, 224) == (298, 224)  # int(224 * 640 / 480) = 298
    assert resize_shape(480, 640, 224) == (224, 298)
    assert resize_shape(50, 50, 224) == (224, 224)
    assert resize_center_crop(Image.new("RGB", (640, 480)), 224).size == (224, 224)


def test_crop_box(tmp_path: Path) -> None:
    img = Image.new("RGB", (64, 48), BLUE)
    img.paste(RED, (40, 8, 60, 30))
    img.save(tmp_path / "q.png")
    out = np.asarray(load_and_resize(tmp_path / "q.png", 16, box=(40, 8, 60, 30)))
    assert (out == RED).all()
    # a box partly outside the image is clipped to it
    out = np.asarray(load_and_resize(tmp_path / "q.png", 16, box=(40, 8, 90, 30)))
    assert out.shape == (16, 16, 3)
    with pytest.raises(BadImageError) as info:
        load_and_resize(tmp_path / "q.png", 16, box=(70, 8, 90, 30))
    assert info.value.reason == "bad_box"


def test_crop_box_after_exif_transpose(tmp_path: Path) -> None:
    img = Image.new("RGB", (40, 20), BLUE)
    img.paste(RED, (0, 0, 10, 10))
    exif = Image.Exif()
    exif[0x0112] = 6
    img.save(tmp_path / "r.png", exif=exif)
    # upright, the red square is at x 10..20, y 0..10
    out = np.asarray(load_and_resize(tmp_path / "r.png", 8, box=(11, 1, 19, 9))).astype(int)
    assert np.abs(out - RED).max() <= 2


# ---------------------------------------------------------------- shards


def make_dataset(root: Path, n_good: int, bad: dict[str, bytes] | None = None) -> pa.Table:
    keys, paths = [], []
    for i in range(n_good):
        name = f"img{i:02d}.png"
        Image.new("RGB", (30 + i, 20), (10 * i, 0, 0)).save(root / name)
        keys.append(f"k{i:02d}")
        paths.append(name)
    for name, data in (bad or {}).items():
        if data is not None:
            (root / name).write_bytes(data)
        keys.append(f"bad_{name}")
        paths.append(name)
    n = len(keys)
    return pa.Table.from_pydict(
        {
            "key": keys,
            "path": paths,
            "left": [None] * n,
            "top": [None] * n,
            "right": [None] * n,
            "bottom": [None] * n,
        },
        schema=MANIFEST,
    )


def test_shard_rows() -> None:
    assert shard_rows(7, 0, 3) == range(3)
    assert shard_rows(7, 2, 3) == range(6, 7)
    assert len(shard_rows(7, 3, 3)) == 0
    assert len(shard_rows(0, 0, 3)) == 0


def test_write_shard_ranges_and_content(tmp_path: Path) -> None:
    manifest = make_dataset(tmp_path, 7)
    seen = []
    for shard in range(3):
        out, skipped = tmp_path / f"{shard}.parquet", tmp_path / f"{shard}.skipped.parquet"
        stats = write_shard(
            manifest, tmp_path, shard, 3, 16, encoding="png", out=out, skipped_out=skipped
        )
        table = pq.read_table(out)
        assert table.schema.equals(SHARD) and pq.read_table(skipped).num_rows == 0
        keys = [k for k, _ in read_shard_images(out)]
        assert keys == [f"k{i:02d}" for i in range(shard * 3, min(shard * 3 + 3, 7))]
        assert stats.written == len(keys) and stats.skipped == 0
        seen += keys
        for key, img in read_shard_images(out):
            i = int(key[1:])
            expected = load_and_resize(tmp_path / f"img{i:02d}.png", 16)
            np.testing.assert_array_equal(np.asarray(img), np.asarray(expected))  # PNG is lossless
    assert seen == manifest.column("key").to_pylist()


def test_empty_shard(tmp_path: Path) -> None:
    manifest = make_dataset(tmp_path, 2)
    out, skipped = tmp_path / "s.parquet", tmp_path / "s.skipped.parquet"
    stats = write_shard(manifest, tmp_path, 5, 4, 16, out=out, skipped_out=skipped)
    assert stats.rows == 0
    assert pq.read_table(out).num_rows == 0 and pq.read_table(out).schema.equals(SHARD)
    assert pq.read_table(skipped).schema.equals(SKIPPED)


def test_bad_images_skipped_with_reasons(tmp_path: Path) -> None:
    buf = io.BytesIO()
    pattern(40, 40).save(buf, "JPEG")
    bad = {
        "zero.jpg": b"",
        "cut.jpg": buf.getvalue()[:300],
        "text.png": b"hello, world\n" * 10,
        "gone.jpg": None,
        "bomb.png": png_header_only(3000, 3000),
    }
    manifest = make_dataset(tmp_path, 2, bad)
    out, skipped = tmp_path / "s.parquet", tmp_path / "s.skipped.parquet"
    stats = write_shard(
        manifest,
        tmp_path,
        0,
        100,
        16,
        max_pixels=1_000_000,
        jpeg_quality=90,
        out=out,
        skipped_out=skipped,
    )
    listed = pq.read_table(skipped).to_pylist()
    assert {r["path"]: r["reason"] for r in listed} == {
        "zero.jpg": "empty",
        "cut.jpg": "truncated",
        "text.png": "not_an_image",
        "gone.jpg": "missing",
        "bomb.png": "too_many_pixels",
    }
    assert all(r["key"] == f"bad_{r['path']}" for r in listed)
    assert stats.written == 2 and stats.skipped == 5 and stats.reasons["missing"] == 1
    images = dict(read_shard_images(out))
    assert sorted(images) == ["k00", "k01"]
    assert Image.open(io.BytesIO(pq.read_table(out).column("image")[0].as_py())).format == "JPEG"
    expected = np.asarray(load_and_resize(tmp_path / "img01.png", 16)).astype(int)
    assert np.abs(np.asarray(images["k01"]).astype(int) - expected).max() <= 3  # JPEG q90


def test_on_bad_image_error_names_file(tmp_path: Path) -> None:
    manifest = make_dataset(tmp_path, 1, {"zero.jpg": b""})
    out, skipped = tmp_path / "s.parquet", tmp_path / "s.skipped.parquet"
    with pytest.raises(InputFormatError) as info:
        write_shard(
            manifest, tmp_path, 0, 10, 16, on_bad_image="error", out=out, skipped_out=skipped
        )
    assert "zero.jpg" in str(info.value) and "empty" in str(info.value)
    assert not out.exists()  # nothing half-written


def test_shard_with_boxes(tmp_path: Path) -> None:
    img = Image.new("RGB", (64, 48), BLUE)
    img.paste(RED, (40, 8, 60, 30))
    img.save(tmp_path / "q.png")
    manifest = pa.Table.from_pylist(
        [
            {"key": "whole", "path": "q.png"},
            {"key": "red", "path": "q.png", "left": 40, "top": 8, "right": 60, "bottom": 30},
            {"key": "empty", "path": "q.png", "left": 10, "top": 8, "right": 10, "bottom": 30},
        ],
        schema=MANIFEST,
    )
    out, skipped = tmp_path / "s.parquet", tmp_path / "s.skipped.parquet"
    write_shard(manifest, tmp_path, 0, 10, 8, encoding="png", out=out, skipped_out=skipped)
    images = dict(read_shard_images(out))
    assert (np.asarray(images["red"]) == RED).all()
    assert not (np.asarray(images["whole"]) == RED).all()
    assert pq.read_table(skipped).to_pylist() == [
        {"key": "empty", "path": "q.png", "reason": "bad_box"}
    ]


# ---------------------------------------------------------------- CLI


def test_cli_manifest_and_resize(tmp_path: Path) -> None:
    root = tmp_path / "data"
    (root / "sub").mkdir(parents=True)
    for i in range(5):
        pattern(20 + i, 30).save(root / "sub" / f"{i}.png")
    buf = io.BytesIO()
    pattern(40, 40).save(buf, "JPEG")
    (root / "sub" / "broken.jpg").write_bytes(buf.getvalue()[:400])
    manifest = tmp_path / "m.parquet"
    assert (
        cli_main(
            [
                "images",
                "manifest",
                "--format",
                "folder",
                "--root",
                str(root),
                "--options",
                "{}",
                "--out",
                str(manifest),
                "--shard-size",
                "4",
            ]
        )
        == 0
    )
    assert pq.read_table(manifest).num_rows == 6
    args = [
        "images",
        "resize",
        "--manifest",
        str(manifest),
        "--root",
        str(root),
        "--shard-size",
        "4",
        "--image-size",
        "16",
        "--max-pixels",
        "1000000",
        "--on-bad-image",
        "skip",
        "--encoding",
        "jpeg",
        "--jpeg-quality",
        "90",
    ]
    for shard in (0, 1):
        assert (
            cli_main(
                args
                + [
                    "--shard",
                    str(shard),
                    "--out",
                    str(tmp_path / f"{shard}.parquet"),
                    "--skipped",
                    str(tmp_path / f"{shard}.skipped.parquet"),
                ]
            )
            == 0
        )
    assert pq.read_table(tmp_path / "0.parquet").column("key").to_pylist() == [
        f"sub/{i}.png" for i in range(4)
    ]
    assert pq.read_table(tmp_path / "1.parquet").column("key").to_pylist() == ["sub/4.png"]
    assert pq.read_table(tmp_path / "0.skipped.parquet").num_rows == 0
    assert pq.read_table(tmp_path / "1.skipped.parquet").to_pylist() == [
        {"key": "sub/broken.jpg", "path": "sub/broken.jpg", "reason": "truncated"}
    ]
    strict = [a if a != "skip" else "error" for a in args]
    status = cli_main(
        strict
        + [
            "--shard",
            "1",
            "--out",
            str(tmp_path / "x.parquet"),
            "--skipped",
            str(tmp_path / "x.skipped.parquet"),
        ]
    )
    assert status == 2 and not (tmp_path / "x.parquet").exists()


# ---------------------------------------------------------------- real data

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "vwsd-trial" / "images"


@pytest.mark.realdata
def test_real_vwsd_trial_images(tmp_path: Path) -> None:
    if not REAL.is_dir():
        pytest.skip(f"real data not found at {REAL}")
    from semspace.datasets.folder import image_manifest

    manifest = image_manifest(REAL)
    assert manifest.num_rows == len([p for p in REAL.iterdir() if p.is_file()])
    keys = manifest.column("key").to_pylist()
    take = [i for i, k in enumerate(keys) if k.endswith(".png")] + list(range(12))
    subset = manifest.take(take)
    out, skipped = tmp_path / "s.parquet", tmp_path / "s.skipped.parquet"
    stats = write_shard(subset, REAL, 0, 100, 224, encoding="png", out=out, skipped_out=skipped)
    assert stats.written == subset.num_rows and stats.skipped == 0
    images = dict(read_shard_images(out))
    assert all(img.size == (224, 224) for img in images.values())
    # the one PNG with alpha, composited over white by hand, then resized
    png = subset.column("key")[0].as_py()
    rgba = np.asarray(Image.open(REAL / png).convert("RGBA")).astype(float)
    alpha = rgba[..., 3:] / 255.0
    assert (alpha == 0).any() and (alpha == 1).any()
    flat = np.round(rgba[..., :3] * alpha + 255.0 * (1 - alpha)).astype(np.uint8)
    expected = np.asarray(resize_center_crop(Image.fromarray(flat), 224)).astype(int)
    assert np.abs(np.asarray(images[png]).astype(int) - expected).max() <= 1


# ------------------------------------------------------- extreme aspect ratios (issue 17.2)


def _strip(width: int, colour: tuple[int, int, int]) -> Image.Image:
    """A width×1 strip, random but ``colour`` over its middle 41 pixels."""
    arr = np.random.default_rng(0).integers(0, 256, size=(1, width, 3), dtype=np.uint8)
    mid = width // 2
    arr[0, mid - 20 : mid + 21] = colour
    return Image.fromarray(arr)


def test_300000_by_1_strip_is_resized_in_bounded_memory(tmp_path: Path) -> None:
    """The 955-byte PNG of the issue: its 224-high resize would be 67 million pixels wide."""
    import tracemalloc

    colour = (12, 200, 99)
    path = tmp_path / "strip.png"
    _strip(300_000, colour).save(path, optimize=True)
    manifest = make_dataset(tmp_path, 1, {})
    manifest = pa.concat_tables(
        [
            manifest,
            pa.Table.from_pylist([{"key": "strip", "path": "strip.png"}], schema=MANIFEST),
        ]
    )
    tracemalloc.start()
    stats = write_shard(
        manifest,
        tmp_path,
        0,
        10,
        224,
        encoding="png",
        out=tmp_path / "s.parquet",
        skipped_out=tmp_path / "s.skipped.parquet",
    )
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert stats.written == 2 and stats.skipped == 0
    assert peak < 200 * 2**20  # far below the 15 GB of the unbounded resize
    images = dict(read_shard_images(tmp_path / "s.parquet"))
    arr = np.asarray(images["strip"])
    assert arr.shape == (224, 224, 3)
    # the centre crop of the upscaled strip covers one source pixel: the middle colour
    assert np.abs(arr.astype(int) - np.array(colour)).max() <= 1


@pytest.mark.parametrize("wh", [(2000, 3), (3, 2000), (700, 20)])
def test_bounded_resize_matches_the_two_step_way(wh: tuple[int, int]) -> None:
    """The region-only resample gives what resizing the whole and cropping gives."""
    w, h = wh
    img = pattern(w, h)
    size = 32
    new_w, new_h = resize_shape(w, h, size)
    assert new_w * new_h > 16 * size * size  # these take the bounded path
    whole = img.resize((new_w, new_h), resample=Image.Resampling.BICUBIC)
    left, top = (new_w - size) // 2, (new_h - size) // 2
    expected = np.asarray(whole.crop((left, top, left + size, top + size))).astype(int)
    got = np.asarray(resize_center_crop(img, size)).astype(int)
    assert got.shape == expected.shape
    assert np.abs(got - expected).mean() < 1.0


def test_image_that_cannot_be_resized_is_a_counted_skip(tmp_path: Path, monkeypatch) -> None:
    import semspace.images as images_mod

    manifest = make_dataset(tmp_path, 3)
    real = images_mod.resize_center_crop

    def failing(img: Image.Image, size: int) -> Image.Image:
        if img.width == 31:  # img01.png
            raise MemoryError
        return real(img, size)

    monkeypatch.setattr(images_mod, "resize_center_crop", failing)
    stats = write_shard(
        manifest,
        tmp_path,
        0,
        10,
        16,
        out=tmp_path / "s.parquet",
        skipped_out=tmp_path / "s.skipped.parquet",
    )
    assert stats.written == 2 and stats.reasons == {"cannot_resize": 1}
    listed = pq.read_table(tmp_path / "s.skipped.parquet").to_pylist()
    assert [(r["path"], r["reason"]) for r in listed] == [("img01.png", "cannot_resize")]


def test_normalise_pixels_per_channel_and_layout():
    from semspace.images import normalise_pixels

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(2, 5, 4, 3), dtype=np.uint8)
    mean, std = (0.1, 0.5, 0.9), (0.2, 0.3, 0.4)
    x = normalise_pixels(images, mean, std).numpy()
    assert x.shape == (2, 3, 5, 4) and x.dtype == np.float32
    for c in range(3):
        expected = (images[..., c] / 255.0 - mean[c]) / std[c]
        np.testing.assert_allclose(x[:, c], expected, rtol=1e-5, atol=1e-6)
    # a list of images gives the same tensor as their stack
    np.testing.assert_array_equal(normalise_pixels(list(images), mean, std).numpy(), x)


@pytest.mark.parametrize(
    ("rows", "size", "ids"), [(0, 4, []), (4, 4, ["00000"]), (5, 4, ["00000", "00001"])]
)
def test_shard_ids_cover_every_row_once(rows, size, ids):
    from semspace.images import shard_ids, shard_rows

    assert shard_ids(rows, size) == ids
    covered = [r for s in range(len(ids)) for r in shard_rows(rows, s, size)]
    assert covered == list(range(rows))
