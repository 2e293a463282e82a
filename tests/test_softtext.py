"""E4: soft-text construction on hand cases, de-duplicated text embedding, zero-shot scoring,
and the report (table with the paper column, confusion matrices, UMAP figures)."""

from __future__ import annotations

import hashlib
import itertools
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from semspace.errors import ConfigError
from semspace.experiments import softtext as st
from semspace.report import softtext as rp
from semspace.report.tables import DEMO_NOTE

CLASSES3 = ["cat", "dog", "car"]


def fake_vector(text: str, dim: int = 16) -> np.ndarray:
    """A deterministic unit vector per text (independent of any CLIP)."""
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    v = np.random.default_rng(seed).normal(size=dim).astype(np.float32)
    return v / np.linalg.norm(v)


class CountingEmbedder:
    """Embeds with :func:`fake_vector` and records every text it is asked to embed."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        return np.stack([fake_vector(t) for t in texts]) if texts else np.zeros((0, 16), np.float32)


# ---------------------------------------------------------------- prompt construction


def test_soft_others_hand_case() -> None:
    # image 0: p1 = 3, p2 = 5; image 1: p1 = 0, p2 = 1 (4 classes)
    others = st.soft_others(np.array([3, 0]), np.array([5, 1]), 4)
    assert others.tolist() == [[3, 3, 3, 5], [1, 0, 0, 0]]


def test_soft_texts_hand_case() -> None:
    like = st.Prompt("like", st.SOFT_TEMPLATE, "like")
    cand = st.candidates(
        like, CLASSES3, top1=np.array([1]), top2=np.array([0])
    )  # p1 = dog, p2 = cat
    per_class = [cand.texts[i] for i in cand.index[0]]
    assert per_class == [
        "a photo of a cat like a dog.",
        "a photo of a dog like a cat.",
        "a photo of a car like a dog.",
    ]
    looks = st.Prompt("looks_like", st.SOFT_TEMPLATE, "looks like")
    cand = st.candidates(
        looks, CLASSES3, top1=np.array([2]), top2=np.array([1])
    )  # p1 = car, p2 = dog
    assert [cand.texts[i] for i in cand.index[0]] == [
        "a photo of a cat looks like a car.",
        "a photo of a dog looks like a car.",
        "a photo of a car looks like a dog.",
    ]
    hard = st.candidates(
        st.Prompt("hard", st.HARD_TEMPLATE), CLASSES3, np.array([2, 0]), np.array([1, 1])
    )
    assert hard.texts == ["a photo of a cat.", "a photo of a dog.", "a photo of a car."]
    assert hard.index.tolist() == [[0, 1, 2], [0, 1, 2]]


def test_make_prompts_and_bad_templates() -> None:
    prompts = st.make_prompts(relations={"like": "like", "resembles": "resembles"})
    assert [p.name for p in prompts] == ["hard", "like", "resembles"]
    assert st.render(prompts[2], "cat", "dog") == "a photo of a cat resembles a dog."
    custom = st.make_prompts("{class}", "{other} then {class} ({rel})", {"r": "is like"})
    assert st.render(custom[1], "ship", "truck") == "truck then ship (is like)"
    with pytest.raises(ConfigError, match="klass"):
        st.make_prompts(hard_template="a photo of a {klass}.")
    with pytest.raises(ConfigError, match="lacks"):
        st.make_prompts(soft_template="a {other} {rel}")
    with pytest.raises(ConfigError, match="reserved"):
        st.make_prompts(relations={"hard": "like"})


def test_candidates_are_distinct_and_complete() -> None:
    rng = np.random.default_rng(0)
    n, k = 500, 10
    top1 = rng.integers(0, k, n)
    top2 = (top1 + rng.integers(1, k, n)) % k  # != top1
    names = [f"c{i}" for i in range(k)]
    prompt = st.Prompt("like", st.SOFT_TEMPLATE, "like")
    cand = st.candidates(prompt, names, top1, top2)
    expected = set()
    for i, c in itertools.product(range(n), range(k)):
        other = top1[i] if c != top1[i] else top2[i]
        text = f"a photo of a {names[c]} like a {names[other]}."
        expected.add(text)
        assert cand.texts[cand.index[i, c]] == text
    assert len(cand.texts) == len(set(cand.texts)) == len(expected)
    assert len(cand.texts) <= k * (k - 1)
    assert all(cand.classes[j] != cand.others[j] for j in range(len(cand.texts)))


# ---------------------------------------------------------------- de-duplicated embedding


def test_each_distinct_text_is_embedded_once() -> None:
    top1 = np.array([1, 1, 1, 0, 2, 1])
    top2 = np.array([0, 0, 2, 1, 0, 0])
    prompts = st.make_prompts()
    embedder = CountingEmbedder()
    emb = np.stack([fake_vector(f"img{i}") for i in range(6)])
    st.evaluate(
        [f"k{i}" for i in range(6)],
        np.array([1, 1, 2, 0, 2, 0]),
        top1,
        top2,
        emb,
        CLASSES3,
        prompts,
        embedder,
    )
    assert len(embedder.calls) == 1
    embedded = embedder.calls[0]
    assert len(embedded) == len(set(embedded))
    # Independent count: hard texts plus, per relation, the distinct (class, other) pairs.
    pairs = {(c, int(p1) if c != p1 else int(p2)) for p1, p2 in zip(top1, top2) for c in range(3)}
    assert len(embedded) == 3 + 3 * len(pairs)


def test_embed_distinct_across_prompts_keeps_rows() -> None:
    embedder = CountingEmbedder()
    out = st.embed_distinct({"a": ["x", "y", "x"], "b": ["y", "z"]}, embedder)
    assert embedder.calls == [["x", "y", "z"]]
    np.testing.assert_array_equal(
        out["a"], np.stack([fake_vector("x"), fake_vector("y"), fake_vector("x")])
    )
    np.testing.assert_array_equal(out["b"], np.stack([fake_vector("y"), fake_vector("z")]))


def test_text_cache_embeds_distinct_texts_once(
    tiny_clip_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    from semspace import embed

    encoded: list[str] = []
    original = embed._encode_texts

    def spy(clip, texts, batch_size):
        encoded.extend(texts)
        return original(clip, texts, batch_size)

    monkeypatch.setattr(embed, "_encode_texts", spy)
    clip = embed.load_clip(tiny_clip_dir, device="cpu", dtype="float32")
    cache = embed.TextEmbeddingCache(tmp_path / "cache.parquet")
    rng = np.random.default_rng(1)
    n = 300  # 300 images x 10 candidates x 3 relations = 9,000 candidate texts
    top1 = rng.integers(0, 10, n)
    top2 = (top1 + 1 + rng.integers(0, 9, n)) % 10
    labels = rng.integers(0, 10, n)
    images = np.stack([fake_vector(f"i{i}", clip.dim) for i in range(n)])
    names = list(st_classes())

    def run():
        return st.evaluate(
            [f"k{i}" for i in range(n)],
            labels,
            top1,
            top2,
            images,
            names,
            st.make_prompts(),
            lambda texts: embed.embed_texts(clip, texts, batch_size=64, cache=cache),
        )

    first = run()
    pairs = {(c, int(a) if c != a else int(b)) for a, b in zip(top1, top2) for c in range(10)}
    assert len(encoded) == len(set(encoded)) == 10 + 3 * len(pairs)
    assert first.accuracy.column("n_texts").to_pylist() == [10, len(pairs), len(pairs), len(pairs)]
    encoded.clear()
    second = run()  # everything comes from the cache file now
    assert encoded == []
    assert second.accuracy.equals(first.accuracy)
    assert len(embed.TextEmbeddingCache(tmp_path / "cache.parquet")) == 10 + 3 * len(pairs)


def st_classes() -> tuple[str, ...]:
    from semspace.datasets.cifar10 import CLASSES

    return CLASSES


# ---------------------------------------------------------------- scoring


def test_zero_shot_picks_most_similar_candidate() -> None:
    texts = np.eye(4, dtype=np.float32)  # text j is the j-th axis
    images = np.array([[0.1, 0.9, 0.0, 0.0], [0.0, 0.0, 0.6, 0.8]], dtype=np.float32)
    # image 0 has candidates (class 0 -> text 1, class 1 -> text 0); image 1 (text 2, text 3)
    index = np.array([[1, 0], [2, 3]])
    predicted, similarity = st.zero_shot(images, texts, index)
    assert predicted.tolist() == [0, 1]
    np.testing.assert_allclose(similarity, [0.9, 0.8])


def test_confusion_matrix_matches_counter() -> None:
    rng = np.random.default_rng(3)
    labels, predicted = rng.integers(0, 5, 200), rng.integers(0, 5, 200)
    matrix = st.confusion_matrix(labels, predicted, 5)
    counts = Counter(zip(labels.tolist(), predicted.tolist()))
    for t, p in itertools.product(range(5), range(5)):
        assert matrix[t, p] == counts.get((t, p), 0)


def test_evaluate_against_a_plain_loop() -> None:
    rng = np.random.default_rng(5)
    n = 40
    names = [f"k{i}" for i in range(5)]
    top1 = rng.integers(0, 5, n)
    top2 = (top1 + rng.integers(1, 5, n)) % 5
    labels = rng.integers(0, 5, n)
    images = np.stack([fake_vector(f"image {i}") for i in range(n)])
    result = st.evaluate([f"x{i}" for i in range(n)], labels, top1, top2, images, names,
                         st.make_prompts(), CountingEmbedder())  # fmt: skip
    acc = {r["prompt"]: r for r in result.accuracy.to_pylist()}
    for prompt in st.make_prompts():
        correct = 0
        for i in range(n):
            scores = []
            for c in range(5):
                other = top1[i] if c != top1[i] else top2[i]
                text = st.render(prompt, names[c], names[other])
                scores.append(float(images[i] @ fake_vector(text)))
            correct += int(np.argmax(scores) == labels[i])
        assert acc[prompt.name]["n_correct"] == correct
        assert acc[prompt.name]["accuracy"] == pytest.approx(correct / n)
    preds = result.predictions.to_pylist()
    assert len(preds) == 4 * n
    assert all(row["text"].split(" ")[4].rstrip(".") == names[row["predicted"]] for row in preds)
    matrices = rp.confusion_matrices(result.confusion, 5)
    for name, matrix in matrices.items():
        assert np.trace(matrix) == acc[name]["n_correct"] and matrix.sum() == n
    texts = result.texts.to_pylist()
    soft_uses = sum(r["n_images"] for r in texts if r["prompt"] == "like")
    assert soft_uses == n * 5  # every (image, class) slot uses exactly one text


def test_align_by_key() -> None:
    top2 = pa.table(
        {
            "key": ["a", "b", "c"],
            "label": [1, 2, 3],
            "top1": [4, 5, 6],
            "top2": [7, 8, 9],
            "p1": [0.5] * 3,
            "p2": [0.2] * 3,
        }
    )
    emb = np.arange(8, dtype=np.float32).reshape(4, 2)
    keys, labels, top1, second, kept, missing = st.align(["c", "zz", "a", "b"], emb, top2)
    assert keys == ["c", "a", "b"] and labels.tolist() == [3, 1, 2] and missing == ["zz"]
    assert top1.tolist() == [6, 4, 5] and second.tolist() == [9, 7, 8]
    np.testing.assert_array_equal(kept, emb[[0, 2, 3]])


# ---------------------------------------------------------------- report


def test_table_has_paper_column_beside_ours() -> None:
    accuracy = pa.Table.from_pylist(
        [
            {
                "prompt": "hard",
                "template": "a photo of a {class}.",
                "n_images": 8,
                "n_correct": 6,
                "accuracy": 0.75,
                "n_texts": 10,
            },
            {
                "prompt": "looks_like",
                "template": "t",
                "n_images": 8,
                "n_correct": 2,
                "accuracy": 0.25,
                "n_texts": 30,
            },
            {
                "prompt": "mine",
                "template": "t",
                "n_images": 8,
                "n_correct": 8,
                "accuracy": 1.0,
                "n_texts": 30,
            },
        ],
        schema=st.ACCURACY,
    )
    table = rp.accuracy_table(accuracy)
    rows = {r["prompt"]: r for r in table.to_pylist()}
    assert rows["hard"]["accuracy"] == 75.0 and rows["hard"]["paper"] == 96.19
    assert rows["looks_like"]["accuracy"] == 25.0 and rows["looks_like"]["paper"] == 95.19
    assert rows["mine"]["paper"] is None
    md = rp.report_markdown(table, {}, "m", "d")
    assert "| hard | hard text | a photo of a {class}. | 8 | 10 | 75.00 | 96.19 |" in md
    assert rp.best_soft_prompt(accuracy) == "mine"


def _texts_table(dim: int = 4) -> pa.Table:
    """Hard texts (one per class) and two soft prompts' candidates, with known vectors."""
    rows = []
    for prompt, per_class in (("hard", 1), ("like", 2), ("mine", 2)):
        for c in range(3):
            for j in range(per_class):
                text = f"{prompt} {c} {j}"
                rows.append(
                    {
                        "prompt": prompt,
                        "text": text,
                        "class": c,
                        "other": None if prompt == "hard" else (c + 1 + j) % 3,
                        "n_images": 1,
                        "embedding": fake_vector(text, dim).tolist(),
                    }
                )
    return pa.Table.from_pylist(rows, schema=st.TEXTS)


def test_prompt_texts_selects_one_prompts_vectors_and_classes() -> None:
    texts = _texts_table()
    vectors, classes = rp.prompt_texts(texts, "like")
    assert vectors.dtype == np.float32 and vectors.shape == (6, 4)
    assert classes.tolist() == [0, 0, 1, 1, 2, 2]
    expected = np.stack([fake_vector(f"like {c} {j}", 4) for c in range(3) for j in range(2)])
    np.testing.assert_array_equal(vectors, expected)
    empty, none = rp.prompt_texts(texts, "absent")
    assert empty.shape[0] == 0 and none.size == 0


def test_write_umaps_maps_hard_and_best_soft_prompt_on_one_image_sample(tmp_path, monkeypatch):
    """Both maps get the same seeded image sample followed by their own prompt's texts; the soft
    map is the most accurate soft prompt's (umap_2d replaced by a recorder: no numba)."""
    from semspace.report import projection

    calls = []

    def fake_umap(features, n_neighbors, min_dist, seed):
        calls.append((features.copy(), n_neighbors, min_dist, seed))
        return features[:, :2].astype(np.float32)

    monkeypatch.setattr(projection, "umap_2d", fake_umap)
    rng = np.random.default_rng(1)
    images = rng.normal(size=(30, 4)).astype(np.float32)
    labels = np.arange(30) % 3
    accuracy = pa.Table.from_pylist(
        [
            {"prompt": p, "template": "t", "n_images": 30, "n_correct": n, "accuracy": n / 30,
             "n_texts": 3}
            for p, n in (("hard", 20), ("like", 10), ("mine", 25))
        ],
        schema=st.ACCURACY,
    )  # fmt: skip
    texts = _texts_table()
    outputs = {"hard": tmp_path / "hard.png", "soft": tmp_path / "soft.png"}
    settings = rp.UmapSettings(max_images=12, n_neighbors=5, min_dist=0.3, seed=7)
    figures = rp.write_umaps(
        images, labels, texts, accuracy, CLASSES3, outputs, dataset="d", model="m",
        settings=settings, demo=True,
    )  # fmt: skip
    assert [(f.prompt, f.n_images, f.n_texts, f.out) for f in figures] == [
        ("hard", 12, 3, outputs["hard"]),
        ("mine", 12, 6, outputs["soft"]),
    ]
    pick = rp.sample_indices(labels, 12, 7)
    for (features, n_neighbors, min_dist, seed), prompt in zip(
        calls, ("hard", "mine"), strict=True
    ):
        assert (n_neighbors, min_dist, seed) == (5, 0.3, 7)
        np.testing.assert_array_equal(features[:12], images[pick])
        np.testing.assert_array_equal(features[12:], rp.prompt_texts(texts, prompt)[0])
    for out in outputs.values():
        assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow  # umap-learn imports numba (tens of seconds on first import)
def test_umap_figure(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 8))
    feats = np.concatenate([centres[i] + 0.05 * rng.normal(size=(20, 8)) for i in range(3)])
    from semspace.report.projection import umap_2d

    xy = umap_2d(np.concatenate([feats, centres]), n_neighbors=10, seed=0)
    assert xy.shape == (63, 2) and np.isfinite(xy).all()
    labels = np.repeat(np.arange(3), 20)
    # Points of one class lie closer to each other than to the other classes in the map.
    within = np.mean(
        [
            np.linalg.norm(xy[:60][labels == c] - xy[:60][labels == c].mean(0), axis=1).mean()
            for c in range(3)
        ]
    )
    spread = np.linalg.norm(xy[:60] - xy[:60].mean(0), axis=1).mean()
    assert within < spread
    out = tmp_path / "umap.png"
    rp.plot_umap(xy[:60], labels, xy[60:], np.arange(3), CLASSES3, "test", out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------- the commands, end to end


def _cli_inputs(tmp_path: Path, clip_dim: int) -> tuple[Path, list[str]]:
    """Synthetic CIFAR-10, a one-epoch classifier, and two embedding shards of random vectors."""
    from semspace.cli import main
    from semspace.demo.cifar import write_synthetic_cifar10
    from semspace.embed import embedding_table
    from semspace.io import write_parquet

    root = tmp_path / "cifar"
    write_synthetic_cifar10(root, train_per_batch=10, test=20, seed=0)
    status = main(
        [
            "softtext",
            "classifier",
            "--root",
            str(root),
            "--checkpoint",
            str(tmp_path / "ck.pt"),
            "--top2",
            str(tmp_path / "top2.parquet"),
            "--metrics",
            str(tmp_path / "metrics.json"),
            "--arch",
            "cifar_resnet8",
            "--epochs",
            "1",
            "--device",
            "cpu",
        ]
    )
    assert status == 0
    rng = np.random.default_rng(0)
    shards = []
    for s, keys in enumerate(
        [[f"test_{i:05d}" for i in range(10)], [f"test_{i:05d}" for i in range(10, 19)]]
    ):
        vectors = rng.normal(size=(len(keys), clip_dim)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        shards.append(str(tmp_path / f"emb{s}.parquet"))
        write_parquet(embedding_table(keys, vectors, "clip", clip_dim), shards[-1])
    return root, shards


def test_score_command(tiny_clip_dir: Path, tmp_path: Path) -> None:
    import json

    import pyarrow.parquet as pq

    from semspace.cli import main
    from semspace.embed import TextEmbeddingCache, clip_dim

    root, shards = _cli_inputs(tmp_path, clip_dim(tiny_clip_dir))
    out = {
        name: tmp_path / f"{name}.parquet"
        for name in ("predictions", "accuracy", "confusion", "texts")
    }
    args = [
        "softtext",
        "score",
        "--top2",
        str(tmp_path / "top2.parquet"),
        "--embeddings",
        *shards,
        "--model",
        str(tiny_clip_dir),
        "--dataset-root",
        str(root),
        "--relations",
        json.dumps({"like": "like", "resembles": "resembles"}),
        "--text-cache",
        str(tmp_path / "cache.parquet"),
        "--device",
        "cpu",
    ] + [a for name, path in out.items() for a in (f"--{name}", str(path))]
    assert main(args) == 0
    accuracy = pq.read_table(out["accuracy"], schema=st.ACCURACY).to_pylist()
    assert [r["prompt"] for r in accuracy] == ["hard", "like", "resembles"]
    assert all(r["n_images"] == 19 for r in accuracy)  # the 20th test image has no embedding
    predictions = pq.read_table(out["predictions"], schema=st.PREDICTIONS)
    assert predictions.num_rows == 3 * 19
    top2 = pq.read_table(tmp_path / "top2.parquet")
    assert top2.num_rows == 20
    texts = pq.read_table(out["texts"], schema=st.TEXTS)
    assert len(TextEmbeddingCache(tmp_path / "cache.parquet")) == len(
        set(texts.column("text").to_pylist())
    )
    # A template with an unknown placeholder is a configuration error (exit status 2).
    assert main(args + ["--hard-template", "a photo of a {klass}."]) == 2


@pytest.mark.slow  # trains a classifier, embeds texts and runs UMAP (numba) twice
def test_report_command(tiny_clip_dir: Path, tmp_path: Path) -> None:
    from semspace.cli import main
    from semspace.embed import clip_dim

    root, shards = _cli_inputs(tmp_path, clip_dim(tiny_clip_dir))
    scored = {
        name: str(tmp_path / f"{name}.parquet")
        for name in ("predictions", "accuracy", "confusion", "texts")
    }
    assert (
        main(
            [
                "softtext",
                "score",
                "--top2",
                str(tmp_path / "top2.parquet"),
                "--embeddings",
                *shards,
                "--model",
                str(tiny_clip_dir),
                "--dataset-root",
                str(root),
                "--device",
                "cpu",
            ]
            + [a for name, path in scored.items() for a in (f"--{name}", path)]
        )
        == 0
    )
    figures = {
        name: tmp_path / f"{name}.png" for name in ("confusion-png", "umap-hard", "umap-soft")
    }
    assert (
        main(
            [
                "softtext",
                "report",
                "--accuracy",
                scored["accuracy"],
                "--confusion",
                scored["confusion"],
                "--texts",
                scored["texts"],
                "--top2",
                str(tmp_path / "top2.parquet"),
                "--classifier-metrics",
                str(tmp_path / "metrics.json"),
                "--embeddings",
                *shards,
                "--dataset-root",
                str(root),
                "--umap-neighbors",
                "5",
                "--table-md",
                str(tmp_path / "table.md"),
                "--table-csv",
                str(tmp_path / "table.csv"),
                "--demo",
            ]
            + [a for name, path in figures.items() for a in (f"--{name}", str(path))]
        )
        == 0
    )
    md = (tmp_path / "table.md").read_text()
    assert (
        "| hard | hard text |" in md
        and "96.19" in md
        and "Classifier (cifar_resnet8, 1 epochs)" in md
    )
    # the HTML beside the Markdown (table.md -> table.html): same rows, caption and demo note
    html = (tmp_path / "table.html").read_text()
    assert "<table>" in html and "96.19" in html and "Classifier (cifar_resnet8, 1 epochs)" in html
    assert DEMO_NOTE in md and DEMO_NOTE in html
    assert html.count("<tr>") == sum(line.startswith("| ") for line in md.splitlines())
    assert (
        (tmp_path / "table.csv").read_text().splitlines()[0].startswith('"prompt","paper_prompt"')
    )
    for path in figures.values():
        assert path.read_bytes()[:4] == b"\x89PNG"
