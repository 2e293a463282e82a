"""E2 retrieval metrics against hand-worked rankings and scipy; features assembly; the table."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from scipy.stats import rankdata

from semspace.datasets.pairs import Pair, pairs_table
from semspace.experiments.retrieval import (
    PairedFeatures,
    build_features,
    evaluate,
    features_from_tables,
    fold_indices,
    image_ranks,
    rank_summary,
    sentence_ranks,
)
from semspace.report.retrieval import PAPER, pca_2d, retrieval_table, table_markdown
from semspace.report.tables import DEMO_NOTE

# Three images; image 0 has two captions (columns 0 and 1), images 1 and 2 one each.
SIMS = np.array(
    [
        [0.9, 0.1, 0.5, 0.2],
        [0.8, 0.3, 0.6, 0.7],
        [0.4, 0.4, 0.1, 0.4],
    ]
)
TEXT_ITEM = np.array([0, 0, 1, 2])


def test_sentence_ranks_hand_worked() -> None:
    # image 0: best own caption 0.9, nothing else >= 0.9 -> 1
    # image 1: own 0.6; captions 0 (0.8) and 3 (0.7) beat it -> 3
    # image 2: own 0.4; captions 0 and 1 tie at 0.4 and count against it -> 3
    assert sentence_ranks(SIMS, TEXT_ITEM).tolist() == [1, 3, 3]


def test_image_ranks_hand_worked() -> None:
    # caption 0: image 0 best -> 1; caption 1: 0.1 < 0.3, 0.4 -> 3;
    # caption 2: image 1 best -> 1; caption 3: own 0.4, image 1 has 0.7 -> 2
    assert image_ranks(SIMS, TEXT_ITEM).tolist() == [1, 3, 1, 2]


def test_other_captions_of_the_same_image_do_not_count_against_it() -> None:
    sims = np.array([[0.5, 0.9, 0.1], [0.2, 0.3, 0.8]])
    # image 0's captions 0 and 1: its best (0.9) is first; caption 0's lower score is irrelevant
    assert sentence_ranks(sims, np.array([0, 0, 1])).tolist() == [1, 1]


def test_ties_count_against_the_query() -> None:
    flat = np.zeros((3, 4))
    assert sentence_ranks(flat, TEXT_ITEM).tolist() == [3, 4, 4]
    assert image_ranks(flat, TEXT_ITEM).tolist() == [3, 3, 3, 3]
    summary = rank_summary(image_ranks(flat, TEXT_ITEM))
    assert summary["r1"] == 0.0 and summary["r5"] == 100.0


def test_rank_summary_hand_worked() -> None:
    s = rank_summary(np.array([1, 3, 3]))
    assert s["r1"] == pytest.approx(100 / 3) and s["r5"] == 100.0 and s["medr"] == 3.0
    assert s["meanr"] == pytest.approx(7 / 3)
    s = rank_summary(np.array([1, 3, 1, 2]))
    assert s["r1"] == 50.0 and s["medr"] == 1.5 and s["meanr"] == 1.75
    s = rank_summary(np.array([12, 4, 11, 30, 6, 1]), ks=(1, 5, 10))
    assert (s["r1"], s["r5"], s["r10"]) == pytest.approx((100 / 6, 200 / 6, 300 / 6))


def test_ranks_agree_with_scipy_rankdata() -> None:
    rng = np.random.default_rng(3)
    n, per = 12, 3
    text_item = np.repeat(np.arange(n), per)
    sims = np.round(rng.normal(size=(n, n * per)), 1)  # rounding makes ties
    for j, i in enumerate(text_item):
        # pessimistic rank of the gold image among all images of column j
        expected = rankdata(-sims[:, j], method="max")[i]
        assert image_ranks(sims, text_item)[j] == expected
    for i in range(n):
        own = np.flatnonzero(text_item == i)
        others = np.flatnonzero(text_item != i)
        best = sims[i, own].max()
        row = np.concatenate([[best], sims[i, others]])
        assert sentence_ranks(sims, text_item)[i] == rankdata(-row, method="max")[0]


def test_fold_indices() -> None:
    folds = fold_indices(2500, 1000)
    assert [f.tolist()[:1] + f.tolist()[-1:] for f in folds] == [[0, 999], [1000, 1999]]
    assert [len(f) for f in fold_indices(5, 1000)] == [5]
    assert [len(f) for f in fold_indices(3000, 1000)] == [1000] * 3


def test_evaluate_averages_folds() -> None:
    rng = np.random.default_rng(0)
    images = rng.normal(size=(8, 5))
    texts = np.repeat(images, 2, axis=0) + rng.normal(scale=0.8, size=(16, 5))
    text_item = np.repeat(np.arange(8), 2)
    both = evaluate(images, texts, text_item, fold_size=4)
    first = evaluate(images[:4], texts[:8], text_item[:8], fold_size=4)
    second = evaluate(images[4:], texts[8:], text_item[8:] - 4, fold_size=4)
    for direction in ("sentence", "image"):
        for key in ("r1", "r5", "medr", "meanr"):
            assert both[direction][key] == pytest.approx(
                (first[direction][key] + second[direction][key]) / 2
            )
        assert both[direction]["folds"] == 2 and both[direction]["images"] == 8
    # perfect alignment: every query finds its match first
    perfect = evaluate(images, np.repeat(images, 2, axis=0), text_item, fold_size=8)
    assert perfect["sentence"]["r1"] == 100.0 and perfect["image"]["r1"] == 100.0
    assert perfect["image"]["medr"] == 1.0


def _toy_pairs() -> pa.Table:
    return pairs_table(
        [
            Pair("train", "a.jpg", "a.jpg", "a red dot"),
            Pair("train", "a.jpg", "a.jpg", "red dot"),
            Pair("test", "b.jpg", "b.jpg", "a blue dot", (1, 2, 3, 4)),
            Pair("test", "c.jpg", "c.jpg", "gone"),
        ]
    )


def test_build_features_drops_pairs_without_image_and_keeps_order() -> None:
    pairs = _toy_pairs()
    image_keys = ["b.jpg#1,2,3,4", "a.jpg"]  # c.jpg was skipped by resize
    image_vecs = np.array([[0.0, 1.0], [1.0, 0.0]], dtype=np.float32)
    text_keys = ["gone", "a blue dot", "red dot", "a red dot"]
    text_vecs = np.arange(12, dtype=np.float32).reshape(4, 3)
    items, captions, dropped = build_features(pairs, image_keys, image_vecs, text_keys, text_vecs)
    assert items.column("key").to_pylist() == ["a.jpg", "b.jpg#1,2,3,4"]
    assert dropped.column("key").to_pylist() == ["c.jpg"]
    test = features_from_tables(items, captions, ["test"])
    assert test.keys == ["b.jpg#1,2,3,4"] and test.texts == ["a blue dot"]
    np.testing.assert_array_equal(test.images, [[0.0, 1.0]])
    np.testing.assert_array_equal(test.text_features, [[3.0, 4.0, 5.0]])
    train = features_from_tables(items, captions, ["train"])
    assert train.text_item.tolist() == [0, 0]
    np.testing.assert_array_equal(train.text_features, text_vecs[[3, 2]])


def test_paired_features_subset_and_concat() -> None:
    a = PairedFeatures(["x", "y"], np.eye(2), ["x1", "y1", "x2"], np.eye(3), np.array([0, 1, 0]))
    b = PairedFeatures(["z"], np.ones((1, 2)), ["z1"], np.ones((1, 3)), np.array([0]))
    both = PairedFeatures.concat([a, b])
    assert both.keys == ["x", "y", "z"] and both.text_item.tolist() == [0, 1, 0, 2]
    sub = both.subset(np.array([2, 0]))
    assert sub.keys == ["z", "x"] and sub.texts == ["x1", "x2", "z1"]
    assert sub.text_item.tolist() == [1, 1, 0]


def _embedding_file(path, keys, vectors, key="key"):
    import pyarrow.parquet as pq

    dim = vectors.shape[1]
    flat = pa.array(np.asarray(vectors, np.float32).ravel())
    table = pa.table({key: keys, "embedding": pa.FixedSizeListArray.from_arrays(flat, dim)})
    pq.write_table(table, path)
    return path


def test_read_features_and_load_paired_from_files(tmp_path) -> None:
    import pyarrow.parquet as pq

    from semspace.errors import ConfigError
    from semspace.experiments.retrieval import load_paired, read_features

    pq.write_table(_toy_pairs(), tmp_path / "pairs.parquet")
    image_vecs = np.array([[0.0, 1.0], [1.0, 0.0]], dtype=np.float32)
    shards = [
        _embedding_file(tmp_path / "0.parquet", ["b.jpg#1,2,3,4"], image_vecs[:1]),
        _embedding_file(tmp_path / "1.parquet", ["a.jpg"], image_vecs[1:]),
    ]
    text_keys = ["gone", "a blue dot", "red dot", "a red dot"]
    text_vecs = np.arange(12, dtype=np.float32).reshape(4, 3)
    texts = _embedding_file(tmp_path / "texts.parquet", text_keys, text_vecs, key="text")
    items, captions, dropped = read_features(tmp_path / "pairs.parquet", shards, texts)
    expected = build_features(
        _toy_pairs(), ["b.jpg#1,2,3,4", "a.jpg"], image_vecs, text_keys, text_vecs
    )
    assert items.equals(expected[0]) and captions.equals(expected[1])
    assert dropped.equals(expected[2])
    pq.write_table(items, tmp_path / "items.parquet")
    pq.write_table(captions, tmp_path / "captions.parquet")
    files = [tmp_path / "items.parquet"], [tmp_path / "captions.parquet"]
    pooled = load_paired(files[0] * 2, files[1] * 2, ["train"])
    one = features_from_tables(items, captions, ["train"])
    assert pooled.keys == one.keys * 2 and pooled.texts == one.texts * 2
    assert pooled.text_item.tolist() == one.text_item.tolist() + (one.text_item + 1).tolist()
    with pytest.raises(ConfigError, match="one file each"):
        load_paired(files[0], files[1] * 2, ["train"])
    with pytest.raises(ConfigError, match="no image-embedding files"):
        read_features(tmp_path / "pairs.parquet", [], texts)


def test_zero_shot_vectors_and_map_points() -> None:
    from semspace.errors import ConfigError
    from semspace.experiments.retrieval import joint_vectors, map_points

    rng = np.random.default_rng(0)
    data = PairedFeatures(
        ["x", "y", "z"],
        rng.normal(size=(3, 4)),
        ["x1", "y1", "x2", "z1"],
        rng.normal(size=(4, 4)),
        np.array([0, 1, 0, 2]),
    )
    images, texts = joint_vectors(data)
    np.testing.assert_allclose(np.linalg.norm(images, axis=1), 1.0)
    np.testing.assert_allclose(
        texts * np.linalg.norm(data.text_features, axis=1)[:, None], data.text_features
    )
    points = map_points(data, images, texts, n_images=2)
    assert points.modality == ["image", "image", "sentence", "sentence", "sentence"]
    assert points.item == [0, 1, 0, 1, 0]
    assert points.keys == ["x", "y", "x", "y", "x"]
    assert points.texts == [None, None, "x1", "y1", "x2"]
    np.testing.assert_array_equal(points.vectors, np.concatenate([images[:2], texts[:3]]))
    other = PairedFeatures(["x"], np.ones((1, 2)), ["x1"], np.ones((1, 3)), np.array([0]))
    with pytest.raises(ConfigError, match="one CLIP"):
        joint_vectors(other)


def test_write_map_writes_the_figure_and_its_coordinates(tmp_path) -> None:
    import pyarrow.parquet as pq

    from semspace.experiments.retrieval import MapPoints
    from semspace.report.retrieval import COORDS, map_title, write_map

    rng = np.random.default_rng(1)
    points = MapPoints(
        rng.normal(size=(6, 5)),
        ["image"] * 3 + ["sentence"] * 3,
        [0, 1, 2, 0, 1, 2],
        ["a", "b", "c", "a", "b", "c"],
        [None] * 3 + ["t0", "t1", "t2"],
    )
    title = map_title("clip", "sum", "flickr30k", "flickr8k")
    assert title == "clip features, sum loss, trained on flickr30k; eval flickr8k"
    assert map_title("clip", "none", "zeroshot", "vg") == "zero-shot CLIP; eval vg"
    write_map(points, title, tmp_path / "map.png", tmp_path / "coords.parquet", method="pca")
    assert (tmp_path / "map.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    coords = pq.read_table(tmp_path / "coords.parquet", schema=COORDS)
    assert coords.column("key").to_pylist() == points.keys
    xy = np.column_stack([coords.column("x").to_numpy(), coords.column("y").to_numpy()])
    np.testing.assert_allclose(xy, pca_2d(points.vectors))


def test_table_puts_paper_numbers_only_where_the_paper_has_them() -> None:
    rows = []
    for train in ("zeroshot", "flickr30k", "vg"):
        for direction in ("sentence", "image"):
            rows.append(
                {
                    "features": "clip",
                    "loss": "none" if train == "zeroshot" else "sum",
                    "train": train,
                    "eval": "flickr30k",
                    "direction": direction,
                    "r1": 1.0,
                    "r5": 2.0,
                    "r10": 3.0,
                    "medr": 4.0,
                    "meanr": 5.0,
                    "folds": 1,
                    "images": 10,
                    "texts": 50,
                }
            )
    from semspace.experiments.retrieval import METRICS

    table = retrieval_table(
        pa.Table.from_pylist(rows, schema=METRICS), ["flickr30k", "vg"], ["flickr30k"]
    )
    got = table.to_pylist()
    assert [r["train"] for r in got] == ["zeroshot", "flickr30k", "vg"]
    assert got[1]["sentence_r1_paper"] == PAPER[("flickr30k", "flickr30k")]["sentence"]["r1"]
    assert got[0]["sentence_r1_paper"] is None and got[2]["image_medr_paper"] is None
    assert got[1]["sentence_r1"] == 1.0
    md = table_markdown(table)
    # the paper's numbers in a row of their own under the cell's row, one under each metric
    lines = md.splitlines()
    row = (
        "| clip | sum | flickr30k | flickr30k "
        "| 1.0 | 2.0 | 3.0 | 4.0 | 1.0 | 2.0 | 3.0 | 4.0 | 10 | 50 |"
    )
    ours = lines.index(row)
    assert lines[ours + 1] == (
        "| paper |  | flickr30k | flickr30k "
        "| 11.7 | 33.9 | 47.5 | 11.5 | 6.1 | 14.4 | 19.0 | 77.0 | – | – |"
    )
    assert md.count("\n| clip") == 3 and md.count("\n| paper") == 1


def test_pca_2d_recovers_a_line() -> None:
    t = np.linspace(-1, 1, 20)
    x = np.stack([t, 2 * t, np.zeros_like(t)], axis=1)
    coords = pca_2d(x)
    assert np.corrcoef(coords[:, 0], t)[0, 1] == pytest.approx(1.0)
    np.testing.assert_allclose(coords[:, 1], 0.0, atol=1e-9)


def test_cli_chain_on_demo_scenes(tmp_path, tiny_clip_dir) -> None:
    """pairs → texts (tiny CLIP) → features → train → evaluate (trained and zero-shot) → table."""
    import pyarrow.parquet as pq

    from semspace.cli import main
    from semspace.embed import embedding_table

    root = tmp_path / "f30k"
    assert (
        main(
            [
                "retrieval",
                "demo-data",
                "--flickr30k",
                str(root),
                "--scenes",
                "12",
                "--val",
                "2",
                "--test",
                "4",
            ]
        )
        == 0
    )
    out = tmp_path / "out"
    assert (
        main(
            [
                "retrieval",
                "pairs",
                "--format",
                "flickr_entities",
                "--root",
                str(root),
                "--out",
                str(out / "pairs.parquet"),
            ]
        )
        == 0
    )
    pairs = pq.read_table(out / "pairs.parquet")
    assert (
        main(
            [
                "retrieval",
                "texts",
                "--pairs",
                str(out / "pairs.parquet"),
                "--model",
                str(tiny_clip_dir),
                "--cache",
                str(out / "cache.parquet"),
                "--device",
                "cpu",
                "--out",
                str(out / "texts.parquet"),
            ]
        )
        == 0
    )
    texts = pq.read_table(out / "texts.parquet")
    assert texts.column("text").to_pylist() == list(dict.fromkeys(pairs.column("text").to_pylist()))
    # image embeddings as the shared stage writes them; the first crop is "skipped"
    keys = list(dict.fromkeys(pairs.column("key").to_pylist()))
    vectors = np.random.default_rng(0).normal(size=(len(keys), 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    pq.write_table(embedding_table(keys[1:], vectors[1:], "clip", 32), out / "emb.parquet")
    feats = [str(out / f"{n}.parquet") for n in ("items", "captions", "dropped")]
    assert (
        main(
            [
                "retrieval",
                "features",
                "--pairs",
                str(out / "pairs.parquet"),
                "--embeddings",
                str(out / "emb.parquet"),
                "--texts",
                str(out / "texts.parquet"),
                "--out-items",
                feats[0],
                "--out-captions",
                feats[1],
                "--out-dropped",
                feats[2],
            ]
        )
        == 0
    )
    assert pq.read_table(feats[2]).column("key").to_pylist() == [keys[0]] * int(
        (pairs.column("key").to_numpy(zero_copy_only=False) == keys[0]).sum()
    )
    assert pq.read_table(feats[0]).num_rows == len(keys) - 1
    assert (
        main(
            [
                "retrieval",
                "train",
                "--items",
                feats[0],
                "--captions",
                feats[1],
                "--dim",
                "8",
                "--epochs",
                "3",
                "--batch-size",
                "16",
                "--lr",
                "0.01",
                "--fold-size",
                "4",
                "--device",
                "cpu",
                "--out",
                str(out / "m.pt"),
                "--history",
                str(out / "h.parquet"),
            ]
        )
        == 0
    )
    assert 1 <= pq.read_table(out / "h.parquet").num_rows <= 3
    for name, extra in (
        (
            "trained",
            [
                "--checkpoint",
                str(out / "m.pt"),
                "--loss",
                "sum",
                "--train-name",
                "flickr30k",
                *("--train-items", feats[0], "--train-datasets", "flickr30k"),
                *("--train-image-sources", "flickr30k", "--eval-image-sources", "flickr30k"),
            ],
        ),
        ("zeroshot", ["--loss", "none", "--train-name", "zeroshot"]),
    ):
        assert (
            main(
                [
                    "retrieval",
                    "evaluate",
                    *extra,
                    "--eval-names",
                    "flickr30k",
                    "--items",
                    feats[0],
                    "--captions",
                    feats[1],
                    "--fold-size",
                    "4",
                    "--features-name",
                    "clip",
                    "--map-images",
                    "4",
                    "--metrics-out",
                    str(out / f"{name}.metrics.parquet"),
                    "--maps-out",
                    str(out / f"{name}.png"),
                    "--coords-out",
                    str(out / f"{name}.coords.parquet"),
                    "--demo",
                ]
            )
            == 0
        )
        assert (out / f"{name}.png").stat().st_size > 0
        coords = pq.read_table(out / f"{name}.coords.parquet")
        assert coords.column("modality").to_pylist().count("image") == 4
    # Evaluating images the space was trained on is refused, naming them; a training set of
    # other image files (another source) is not compared.
    leak = [
        *("retrieval", "evaluate", "--checkpoint", str(out / "m.pt"), "--loss", "sum"),
        *("--train-name", "flickr30k", "--eval-names", "flickr30k", "--split", "train"),
        *("--items", feats[0], "--captions", feats[1], "--fold-size", "4"),
        *("--features-name", "clip", "--map-images", "4"),
        *("--metrics-out", str(out / "leak.parquet"), "--maps-out", str(out / "leak.png")),
        *("--coords-out", str(out / "leak.coords.parquet")),
        *("--train-items", feats[0], "--train-datasets", "flickr30k", "--train-split", "train"),
    ]
    assert (
        main([*leak, "--train-image-sources", "flickr30k", "--eval-image-sources", "flickr30k"])
        == 2
    )
    assert not (out / "leak.parquet").exists()
    assert main([*leak, "--train-image-sources", "vg", "--eval-image-sources", "flickr30k"]) == 0
    metrics = [str(out / f"{n}.metrics.parquet") for n in ("trained", "zeroshot")]
    assert (
        main(
            [
                "retrieval",
                "table",
                "--metrics",
                *metrics,
                "--train-order",
                "flickr30k",
                "--eval-order",
                "flickr30k",
                "--out-md",
                str(out / "t.md"),
                "--out-csv",
                str(out / "t.csv"),
                "--out-parquet",
                str(out / "t.parquet"),
                "--demo",
            ]
        )
        == 0
    )
    md = (out / "t.md").read_text()
    assert "| clip | none | zeroshot | flickr30k |" in md
    # the paper's Flickr30k numbers in a row under the trained row (none under zero-shot)
    assert "| paper |  | flickr30k | flickr30k | 11.7 | 33.9 | 47.5 |" in md
    assert md.count("\n| paper") == 1
    # the HTML twin of the Markdown (t.md -> t.html) holds the same rows and, with --demo, says so
    html = (out / "t.html").read_text()
    assert DEMO_NOTE in md and DEMO_NOTE in html
    assert html.count("<tr>") == sum(line.startswith("| ") for line in md.splitlines())


def test_cli_names_an_unknown_reader_option(tmp_path, capsys) -> None:
    from semspace.cli import main

    status = main(
        [
            "retrieval",
            "pairs",
            "--format",
            "visual_genome",
            "--root",
            str(tmp_path),
            "--options",
            '{"test_pair": 5}',
            "--out",
            str(tmp_path / "p.parquet"),
        ]
    )
    assert status == 2
    assert "test_pair" in capsys.readouterr().err
    assert not (tmp_path / "p.parquet").exists()


def test_overlap_check_names_the_shared_images() -> None:
    from semspace.experiments.retrieval import (
        SplitOverlapError,
        check_disjoint_images,
        image_of_key,
        overlapping_images,
    )

    assert image_of_key("3.jpg#10,0,150,200") == image_of_key("3.jpg") == "3.jpg"
    train = ["1.jpg#0,0,5,5", "3.jpg#10,0,150,200", "3.jpg#1,1,2,2", "7.jpg#0,0,1,1"]
    test = ["3.jpg", "5.jpg", "7.jpg"]
    assert overlapping_images(train, test) == ["3.jpg", "7.jpg"]
    with pytest.raises(
        SplitOverlapError,
        match=r"entities holds 2 image\(s\) of evaluation set flickr30k: 3.jpg, 7.jpg",
    ):
        check_disjoint_images(train, test, "entities", "flickr30k")
    check_disjoint_images(train[:1], test, "entities", "flickr30k")  # disjoint: no error
