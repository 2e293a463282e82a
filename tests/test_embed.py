"""semspace.embed: unit-norm, deterministic, batch-independent embeddings; the resumable shard
stage."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from semspace.cli import main
from semspace.embed import (
    TextEmbeddingCache,
    check_model_dir,
    embed_images,
    embed_shard,
    embed_texts,
    flush_size,
    load_clip,
    model_fingerprint,
    pixel_values,
    read_embeddings,
    work_dir,
)
from semspace.errors import ConfigError, ModelFolderError
from semspace.schemas import SHARD, SKIPPED, embedding_schema

TEXTS = ["a dog", "a photo of a cat", "a dog", "", "two men riding horses on a beach", "a cat"]


@pytest.fixture(scope="module")
def clip(tiny_clip_dir):
    return load_clip(tiny_clip_dir, device="cpu")


def _image(seed: int, size: tuple[int, int]) -> Image.Image:
    """A smooth random colour image (low-frequency noise, upsampled), like a photo at low detail."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(6, 8, 3), dtype=np.uint8)
    return Image.fromarray(small).resize(size, Image.BILINEAR)


def _jpeg(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=95, subsampling=0)
    return buf.getvalue()


def _write_shard(path: Path, n: int, size: int = 32) -> list[str]:
    keys = [f"img{i:03d}" for i in range(n)]
    imgs = [_image(i, (size, size)) for i in range(n)]
    table = pa.table(
        {
            "key": keys,
            "image": [_jpeg(im) for im in imgs],
            "width": [size] * n,
            "height": [size] * n,
        },
        schema=SHARD,
    )
    pq.write_table(table, path)
    return keys


# ---------------------------------------------------------------- model and texts


def test_load_clip(clip, tiny_clip_dir):
    assert not clip.model.training
    assert clip.image_size == 32 and clip.dim == 32
    assert clip.logit_scale == pytest.approx(np.exp(2.6592), rel=1e-4)  # CLIPConfig's initial value
    assert clip.model_id == str(tiny_clip_dir)
    assert str(clip.device) == "cpu" and str(clip.dtype) == "torch.float32"


def test_text_embeddings_unit_norm_and_order(clip):
    vecs = embed_texts(clip, TEXTS)
    assert vecs.dtype == np.float32 and vecs.shape == (len(TEXTS), 32)
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(vecs[0], vecs[2])  # same text, same vector
    assert not np.allclose(vecs[0], vecs[1])
    # Order preserved: embedding one text alone gives the row of that text.
    np.testing.assert_allclose(embed_texts(clip, [TEXTS[4]])[0], vecs[4], atol=1e-5)


def test_text_embeddings_match_transformers(clip):
    """Against CLIPModel.get_text_features called directly, one text at a time."""
    import torch

    vecs = embed_texts(clip, TEXTS[:2], batch_size=2)
    for text, vec in zip(TEXTS[:2], vecs):
        batch = clip.tokenizer([text], return_tensors="pt")
        with torch.no_grad():
            ref = clip.model.get_text_features(**batch).pooler_output[0].numpy()
        np.testing.assert_allclose(vec, ref / np.linalg.norm(ref), atol=1e-5)


def test_text_embeddings_batch_size_independent(clip):
    a = embed_texts(clip, TEXTS, batch_size=1)
    b = embed_texts(clip, TEXTS, batch_size=256)
    c = embed_texts(clip, TEXTS, batch_size=2)
    np.testing.assert_allclose(a, b, atol=1e-5)
    np.testing.assert_allclose(a, c, atol=1e-5)


def test_long_text_is_truncated(clip):
    long = " ".join(["zebra"] * 300)
    same_prefix = " ".join(["zebra"] * 200)
    a, b = embed_texts(clip, [long, same_prefix])
    np.testing.assert_allclose(a, b, atol=1e-6)  # both cut at 77 tokens


def test_texts_deduplicated_and_cached(clip, tmp_path, monkeypatch):
    seen: list[int] = []
    original = clip.model.get_text_features

    def counting(**batch):
        seen.append(int(batch["input_ids"].shape[0]))
        return original(**batch)

    monkeypatch.setattr(clip.model, "get_text_features", counting)
    cache = TextEmbeddingCache(tmp_path / "cache.parquet")
    first = embed_texts(clip, TEXTS, batch_size=2, cache=cache)
    assert sum(seen) == len(set(TEXTS)) == 5
    assert (tmp_path / "cache.parquet").exists() and len(cache) == 5

    seen.clear()
    reopened = TextEmbeddingCache(tmp_path / "cache.parquet")
    again = embed_texts(clip, TEXTS + ["a new text", "a dog"], cache=reopened)
    assert sum(seen) == 1  # only the new text runs
    np.testing.assert_array_equal(again[: len(TEXTS)], first)
    # The cache is per model id: another id misses.
    assert reopened.get_many("other-model", ["a dog"]) == {}


def test_empty_inputs(clip):
    assert embed_texts(clip, []).shape == (0, 32)
    assert embed_images(clip, []).shape == (0, 32)


# ---------------------------------------------------------------- images


def test_image_embeddings_batch_independent_and_deterministic(clip, tiny_clip_dir):
    imgs = [_image(i, (32, 32)) for i in range(5)]
    together = embed_images(clip, imgs)
    one_by_one = np.concatenate([embed_images(clip, [im]) for im in imgs])
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(together, one_by_one, atol=1e-5)
    again = embed_images(load_clip(tiny_clip_dir, device="cpu"), imgs)
    np.testing.assert_array_equal(together, again)


def test_pixel_values_match_clip_image_processor(clip, tiny_clip_dir):
    """Already-resized images: our normalisation equals CLIPImageProcessor's."""
    from transformers import CLIPImageProcessor

    imgs = [_image(i, (32, 32)) for i in range(3)]
    ours = pixel_values(clip, imgs).numpy()
    ref = CLIPImageProcessor.from_pretrained(tiny_clip_dir)(images=imgs, return_tensors="np")[
        "pixel_values"
    ]
    np.testing.assert_allclose(ours, ref, atol=1e-4)


def test_shard_path_close_to_clip_processor(clip, tiny_clip_dir):
    """Resize + JPEG in a shard, then our normalisation, vs CLIPProcessor on the original image."""
    import torch
    from transformers import CLIPProcessor

    from semspace.images import resize_center_crop

    processor = CLIPProcessor.from_pretrained(tiny_clip_dir)
    originals = [_image(10 + i, size) for i, size in enumerate([(120, 90), (64, 200), (300, 300)])]
    shard_images = [Image.open(io.BytesIO(_jpeg(resize_center_crop(im, 32)))) for im in originals]
    ours = embed_images(clip, shard_images)
    with torch.no_grad():
        ref = clip.model.get_image_features(
            **processor(images=originals, return_tensors="pt")
        ).pooler_output
    ref = ref.numpy() / np.linalg.norm(ref.numpy(), axis=1, keepdims=True)
    cosines = (ours * ref).sum(axis=1)
    assert cosines.min() > 0.99, cosines
    # Defensive resize: giving the originals directly gives about the same too.
    assert (embed_images(clip, originals) * ref).sum(axis=1).min() > 0.99


# ---------------------------------------------------------------- the shard stage


def test_flush_size_rounds_up_to_batches():
    assert flush_size(8, 8) == 8
    assert flush_size(8, 9) == 16
    assert flush_size(4, 1) == 4
    with pytest.raises(ConfigError):
        flush_size(0, 4)


def _embed_cli(shard: Path, out: Path, model: Path, batch: int = 4, flush: int = 6) -> int:
    return main(
        [
            "embed",
            "images",
            "--shard",
            str(shard),
            "--model",
            str(model),
            "--model-id",
            "clip",
            "--batch-size",
            str(batch),
            "--flush-every",
            str(flush),
            "--device",
            "cpu",
            "--out",
            str(out),
        ]
    )


def test_embed_images_cli(tmp_path, tiny_clip_dir, clip):
    shard = tmp_path / "00000.parquet"
    keys = _write_shard(shard, 11)
    out = tmp_path / "emb" / "00000.parquet"
    assert _embed_cli(shard, out, tiny_clip_dir) == 0
    table = pq.read_table(out)
    assert table.schema.equals(embedding_schema(32))
    assert table["model"].to_pylist() == ["clip"] * 11
    got_keys, vecs = read_embeddings([out])
    assert got_keys == keys
    decoded = [
        Image.open(io.BytesIO(b)).convert("RGB") for b in pq.read_table(shard)["image"].to_pylist()
    ]
    np.testing.assert_allclose(vecs, embed_images(clip, decoded), atol=1e-5)
    assert not work_dir(out).exists()
    # read_embeddings over two files keeps file order.
    keys2, vecs2 = read_embeddings([out, out])
    assert keys2 == keys + keys and vecs2.shape == (22, 32)


def test_embed_empty_shard(tmp_path, tiny_clip_dir):
    shard = tmp_path / "00000.parquet"
    _write_shard(shard, 0)
    out = tmp_path / "out.parquet"
    assert _embed_cli(shard, out, tiny_clip_dir) == 0
    table = pq.read_table(out)
    assert table.num_rows == 0 and table.schema.equals(embedding_schema(32))
    assert read_embeddings([out])[1].shape == (0, 32)


def test_bad_shard_is_an_input_error(tmp_path, tiny_clip_dir, capsys):
    shard = tmp_path / "bad.parquet"
    pq.write_table(
        pa.table(
            {"key": ["a"], "image": [b"not an image"], "width": [32], "height": [32]}, schema=SHARD
        ),
        shard,
    )
    assert _embed_cli(shard, tmp_path / "out.parquet", tiny_clip_dir) == 2
    assert "cannot be decoded" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["kill-9", "sigterm"])
def test_kill_and_resume_gives_identical_output(tmp_path, tiny_clip_dir, sig):
    """SIGKILL or SIGTERM (a scheduler's cancel, a time limit) the job after its first part file;
    a re-run gives the uninterrupted run's bytes, each key once."""
    shard = tmp_path / "00000.parquet"
    _write_shard(shard, 24)
    reference = tmp_path / "reference.parquet"
    assert _embed_cli(shard, reference, tiny_clip_dir) == 0

    out = tmp_path / "resumed.parquet"
    semspace = str(Path(sys.executable).parent / "semspace")
    cmd = [
        semspace,
        "embed",
        "images",
        "--shard",
        str(shard),
        "--model",
        str(tiny_clip_dir),
        "--model-id",
        "clip",
        "--batch-size",
        "4",
        "--flush-every",
        "6",
        "--device",
        "cpu",
        "--out",
        str(out),
    ]  # parts of 8 rows: 3 parts
    env = dict(os.environ, SEMSPACE_EMBED_PAUSE_AFTER_PART="30")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while not list(work_dir(out).glob("part-*.parquet")):
            assert proc.poll() is None, proc.stdout.read().decode()
            assert time.monotonic() < deadline, "no part file appeared"
            time.sleep(0.05)
        proc.send_signal(sig)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -sig
    assert not out.exists()
    assert [p.name for p in work_dir(out).glob("part-*.parquet")] == ["part-00000.parquet"]

    log_file = tmp_path / "resume.log"
    with log_file.open("w") as fh:
        rerun = subprocess.run(cmd, check=False, stdout=fh, stderr=subprocess.STDOUT, timeout=300)
    assert rerun.returncode == 0, log_file.read_text()
    assert "resuming: 8 of 24 rows" in log_file.read_text()
    assert pq.read_table(out).equals(pq.read_table(reference))
    assert out.read_bytes() == reference.read_bytes()
    keys = pq.read_table(out)["key"].to_pylist()
    assert len(keys) == len(set(keys)) == 24
    assert not work_dir(out).exists()


def test_parts_from_other_settings_are_discarded(tmp_path, tiny_clip_dir):
    shard = tmp_path / "00000.parquet"
    _write_shard(shard, 10)
    out = tmp_path / "out.parquet"
    work = work_dir(out)
    work.mkdir()
    (work / "settings.json").write_text(json.dumps({"batch_size": 999}))
    (work / "part-00000.parquet").write_bytes(b"garbage")
    assert _embed_cli(shard, out, tiny_clip_dir) == 0
    assert pq.read_table(out)["key"].to_pylist() == [f"img{i:03d}" for i in range(10)]


# ---------------------------------------------------------------- summary


def test_embed_summary_counts(tmp_path):
    from semspace.embed import embedding_table

    emb, skips = [], []
    reasons = [["corrupt", "too_large", "corrupt"], []]
    for s, (n, rs) in enumerate(zip([3, 5], reasons)):
        e = tmp_path / f"{s:05d}.parquet"
        pq.write_table(embedding_table([f"k{s}-{i}" for i in range(n)], np.eye(n, 8), "clip", 8), e)
        k = tmp_path / f"{s:05d}.skipped.parquet"
        pq.write_table(
            pa.table(
                {
                    "key": [f"x{s}{i}" for i in range(len(rs))],
                    "path": [f"p{i}.jpg" for i in range(len(rs))],
                    "reason": rs,
                },
                schema=SKIPPED,
            ),
            k,
        )
        emb.append(str(e))
        skips.append(str(k))
    out, skipped_out = tmp_path / "summary.json", tmp_path / "skipped.parquet"
    assert (
        main(
            [
                "embed",
                "summary",
                "--embeddings",
                *emb,
                "--skipped",
                *skips,
                "--out",
                str(out),
                "--skipped-out",
                str(skipped_out),
            ]
        )
        == 0
    )
    summary = json.loads(out.read_text())
    assert summary["model"] == "clip" and summary["dim"] == 8 and summary["shards"] == 2
    assert summary["embedded"] == 8 and summary["skipped"] == 3
    assert summary["skipped_by_reason"] == {"corrupt": 2, "too_large": 1}
    assert [s["embedded"] for s in summary["per_shard"]] == [3, 5]
    assert [s["skipped"] for s in summary["per_shard"]] == [3, 0]
    assert pq.read_table(skipped_out)["reason"].to_pylist() == reasons[0]


@pytest.mark.realdata
def test_shard_path_close_to_clip_processor_on_real_photos(clip, tiny_clip_dir, shared_data):
    """Real V-WSD photos (one PNG with alpha): the resize stage's shard images vs CLIPProcessor."""
    import torch
    from transformers import CLIPProcessor

    from semspace.images import decode_image, encode_image, resize_center_crop

    folder = shared_data / "vwsd-trial" / "images"
    files = sorted(folder.glob("*.jpg"))[:6] + sorted(folder.glob("*.png"))[:1]
    assert files, f"no images in {folder}"
    originals = [decode_image(path) for path in files]
    shard_images = [
        Image.open(io.BytesIO(encode_image(resize_center_crop(im, clip.image_size))))
        for im in originals
    ]
    ours = embed_images(clip, shard_images)
    processor = CLIPProcessor.from_pretrained(tiny_clip_dir)
    with torch.no_grad():
        ref = clip.model.get_image_features(
            **processor(images=originals, return_tensors="pt")
        ).pooler_output
    ref = ref.numpy() / np.linalg.norm(ref.numpy(), axis=1, keepdims=True)
    cosines = (ours * ref).sum(axis=1)
    assert cosines.min() > 0.99, dict(zip([f.name for f in files], cosines.round(4)))
    # Model-independent: pixels. Resizing alone matches CLIPImageProcessor within one grey level
    # (1/255/std ≈ 0.015 in normalised units); JPEG in the shard adds about one level on average.
    image_processor = processor.image_processor
    for im, shard_im in zip(originals, shard_images):
        ref_px = image_processor(images=[im], return_tensors="np")["pixel_values"]
        resized_px = pixel_values(clip, [resize_center_crop(im, clip.image_size)]).numpy()
        assert np.abs(resized_px - ref_px).max() < 0.02
        assert np.abs(pixel_values(clip, [shard_im]).numpy() - ref_px).mean() < 0.05


def test_parts_of_a_rewritten_shard_are_not_reused(tmp_path, tiny_clip_dir):
    """Same keys, new images: a stale part from the old shard must be recomputed."""
    shard = tmp_path / "00000.parquet"
    _write_shard(shard, 8)
    out = tmp_path / "out.parquet"
    calls = []

    from semspace.embed import embed_shard

    def load():
        calls.append(1)
        return load_clip(tiny_clip_dir, device="cpu")

    def stop_after_first(i):
        raise KeyboardInterrupt  # a job killed right after its first part file

    with pytest.raises(KeyboardInterrupt):
        embed_shard(
            shard,
            out,
            load=load,
            model_id="m",
            dim=32,
            batch_size=4,
            flush_every=4,
            after_part=stop_after_first,
        )
    assert (work_dir(out) / "part-00000.parquet").exists()
    table = pq.read_table(shard)
    flipped = [
        _jpeg(Image.open(io.BytesIO(b)).transpose(Image.FLIP_LEFT_RIGHT))
        for b in table["image"].to_pylist()
    ]
    pq.write_table(table.set_column(1, "image", pa.array(flipped, pa.binary())).cast(SHARD), shard)
    counts = embed_shard(shard, out, load=load, model_id="m", dim=32, batch_size=4, flush_every=4)
    assert counts["resumed"] == 0 and counts["computed"] == 8
    decoded = [Image.open(io.BytesIO(b)).convert("RGB") for b in flipped]
    np.testing.assert_allclose(read_embeddings([out])[1], embed_images(load(), decoded), atol=1e-5)


def test_shard_of_another_size_is_resized_with_a_warning(tmp_path, tiny_clip_dir, clip, caplog):
    shard = tmp_path / "00000.parquet"
    _write_shard(shard, 3, size=48)
    out = tmp_path / "out.parquet"
    with caplog.at_level("WARNING", logger="semspace.embed"):
        assert _embed_cli(shard, out, tiny_clip_dir) == 0
    assert "3 of 3 images" in caplog.text
    from semspace.images import resize_center_crop

    decoded = [
        Image.open(io.BytesIO(b)).convert("RGB") for b in pq.read_table(shard)["image"].to_pylist()
    ]
    expected = embed_images(clip, [resize_center_crop(im, 32) for im in decoded])
    np.testing.assert_allclose(read_embeddings([out])[1], expected, atol=1e-5)


# ---------------------------------------------------------------- fingerprints (issue 17)


def _copy_model(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_fingerprint_sees_weights_config_and_dtype(tiny_clip_dir, tmp_path, monkeypatch):
    import hashlib

    import semspace.embed as embed_mod

    model = _copy_model(tiny_clip_dir, tmp_path / "m")
    base = model_fingerprint(model, "float32")
    assert base == model_fingerprint(model, "float32")  # deterministic
    assert base == model_fingerprint(_copy_model(model, tmp_path / "m2"), "float32")  # by content
    assert model_fingerprint(model, "bfloat16") != base
    assert model_fingerprint(model, "auto", device="cpu") == base  # auto is float32 on CPU
    # one changed byte of the weights, size kept, mtime put back: hashed, so still seen
    weights = model / "model.safetensors"
    st = weights.stat()
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    os.utime(weights, ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    assert model_fingerprint(model, "float32") != base
    # the config alone
    other = _copy_model(tiny_clip_dir, tmp_path / "m3")
    cfg = json.loads((other / "config.json").read_text())
    cfg["logit_scale_init_value"] = 1.0
    (other / "config.json").write_text(json.dumps(cfg))
    assert model_fingerprint(other, "float32") != base

    # Big files go through a sidecar of digests keyed by size+mtime: its digest is the file's.
    monkeypatch.setattr(embed_mod, "_BIG_FILE", 1000)
    fresh = _copy_model(tiny_clip_dir, tmp_path / "m4")
    before = sorted(p.name for p in fresh.iterdir())
    fp = model_fingerprint(fresh, "float32")
    assert sorted(p.name for p in fresh.iterdir()) == before  # the model folder is not written
    sidecar = json.loads(embed_mod.digest_sidecar(fresh).read_text())
    expected = hashlib.sha256((fresh / "model.safetensors").read_bytes()).hexdigest()
    assert sidecar["model.safetensors"]["sha256"] == expected
    assert fp == base  # the same fingerprint, through the sidecar or not
    assert model_fingerprint(fresh, "float32") == fp
    # a sidecar entry is trusted only at the same size and mtime: a rewritten file is rehashed
    weights = fresh / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    assert model_fingerprint(fresh, "float32") != fp


def test_missing_or_weightless_model_folder_is_a_clear_error(tiny_clip_dir, tmp_path):
    missing = tmp_path / "models" / "clip-b32"
    with pytest.raises(ModelFolderError, match="clip-b32.*not found"):
        load_clip(missing, device="cpu")
    empty = _copy_model(tiny_clip_dir, tmp_path / "noweights")
    (empty / "model.safetensors").unlink()
    with pytest.raises(ModelFolderError, match="noweights.*no weights"):
        load_clip(empty, device="cpu")
    with pytest.raises(ModelFolderError, match="noweights"):
        model_fingerprint(empty)
    assert check_model_dir("openai/clip-vit-base-patch32") is None  # a hub id is let through
    assert check_model_dir(tiny_clip_dir) == Path(tiny_clip_dir)


def test_text_cache_redoes_vectors_of_new_weights_at_the_same_path(tiny_clip_dir, tmp_path, caplog):
    """Issue 17.1: new weights saved where the old ones were must not reuse the old vectors."""
    from semspace.demo.models import build_tiny_clip

    model = _copy_model(tiny_clip_dir, tmp_path / "resources" / "models" / "clip")
    cache_path = tmp_path / "text_cache.parquet"
    old_clip = load_clip(model, device="cpu")
    old = embed_texts(old_clip, TEXTS, cache=TextEmbeddingCache(cache_path))

    build_tiny_clip(model, seed=1, layers=3)  # e.g. demo.clip.layers changed
    new_clip = load_clip(model, device="cpu")
    assert new_clip.model_id == old_clip.model_id and new_clip.fingerprint != old_clip.fingerprint
    uncached = embed_texts(new_clip, TEXTS)
    assert not np.allclose(uncached, old, atol=1e-3)  # the new model really differs
    with caplog.at_level("INFO", logger="semspace.embed"):
        cache = TextEmbeddingCache(cache_path)
        got = embed_texts(new_clip, TEXTS, cache=cache)
    np.testing.assert_allclose(got, uncached, atol=1e-6)
    assert any("discarding 5 vectors" in r.getMessage() for r in caplog.records)
    # the file now holds the new vectors only, under the new fingerprint
    table = pq.read_table(cache_path)
    assert set(table["fingerprint"].to_pylist()) == {new_clip.fingerprint}
    assert table.num_rows == 5

    # and the dtype is part of the key too: a float32 cache is not served to a float16 model
    cache = TextEmbeddingCache(cache_path)
    assert cache.get_many(new_clip.model_id, ["a dog"], "f" * 64) == {}


def test_text_cache_of_the_old_format_is_discarded(clip, tmp_path):
    path = tmp_path / "old.parquet"
    pq.write_table(
        pa.table(
            {"model": [clip.model_id], "text": ["a dog"], "embedding": [[0.0] * clip.dim]},
        ),
        path,
    )
    got = embed_texts(clip, ["a dog"], cache=TextEmbeddingCache(path))
    np.testing.assert_allclose(got, embed_texts(clip, ["a dog"]), atol=1e-6)
    assert pq.read_table(path)["fingerprint"].to_pylist() == [clip.fingerprint]


class _Killed(Exception):
    pass


def _kill_after_first_part(i: int) -> None:
    raise _Killed


@pytest.mark.parametrize("pass_fingerprint", [True, False])
def test_resume_with_another_model_redoes_everything(tiny_clip_dir, tmp_path, pass_fingerprint):
    """Issue 17.3: parts of model A are never mixed into a resumed run of model B."""
    from semspace.demo.models import build_tiny_clip

    shard = tmp_path / "00000.parquet"
    keys = _write_shard(shard, 20)
    model_b = build_tiny_clip(tmp_path / "b", seed=7)

    def run(model: Path, out: Path, after_part=None):
        return embed_shard(
            shard,
            out,
            load=lambda: load_clip(model, device="cpu"),
            model_id="clip",
            dim=32,
            batch_size=4,
            flush_every=8,
            after_part=after_part,
            fingerprint=model_fingerprint(model, "auto", "cpu") if pass_fingerprint else None,
        )

    out = tmp_path / "out.parquet"
    with pytest.raises(_Killed):
        run(tiny_clip_dir, out, _kill_after_first_part)
    assert len(list(work_dir(out).glob("part-*.parquet"))) == 1
    counts = run(model_b, out)
    assert counts["resumed"] == 0 and counts["computed"] == 20
    reference = tmp_path / "reference.parquet"
    run(model_b, reference)
    assert pq.read_table(out).equals(pq.read_table(reference))
    _, vectors = read_embeddings(out)
    b = load_clip(model_b, device="cpu")
    imgs = [_image(i, (32, 32)) for i in range(len(keys))]
    decoded = [Image.open(io.BytesIO(_jpeg(im))).convert("RGB") for im in imgs]
    np.testing.assert_allclose(vectors, embed_images(b, decoded), atol=1e-5)

    # the same model resumes (the fingerprint is stable across runs)
    out2 = tmp_path / "out2.parquet"
    with pytest.raises(_Killed):
        run(model_b, out2, _kill_after_first_part)
    assert run(model_b, out2)["resumed"] == 8
    assert pq.read_table(out2).equals(pq.read_table(reference))


def test_resume_with_another_dtype_is_discarded(tiny_clip_dir, tmp_path):
    shard = tmp_path / "00000.parquet"
    _write_shard(shard, 12)
    out = tmp_path / "out.parquet"

    def run(dtype: str, after_part=None):
        return embed_shard(
            shard,
            out,
            load=lambda: load_clip(tiny_clip_dir, device="cpu", dtype=dtype),
            model_id="clip",
            dim=32,
            batch_size=4,
            flush_every=4,
            after_part=after_part,
        )

    with pytest.raises(_Killed):
        run("bfloat16", _kill_after_first_part)
    assert run("float32")["resumed"] == 0
