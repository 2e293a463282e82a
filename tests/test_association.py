"""E5's LLM branch: chaining, resumable shards, token sets, and batched generation on a tiny
Falcon."""

from __future__ import annotations

import csv
import html

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from semspace.errors import SemspaceError
from semspace.experiments import association as A
from semspace.io import write_parquet
from semspace.schemas import CAPTIONS, TOKENSETS

INSTR = A.INSTRUCTION


def fake_generate(prompts: list[str], seeds: list[int]) -> list[str]:
    """Appends ' r<k>' where k is the number of rounds the text has been through."""
    return [p + f" r{p.count(' r') + 1}" for p in prompts]


def items_of(captions: dict[tuple[int, int], str]) -> list[A.CaptionItem]:
    return [A.CaptionItem(i, 100 + i, c, t) for (i, c), t in sorted(captions.items())]


CAPS = {
    (0, 0): "a cat",
    (0, 1): "two dogs on grass",
    (1, 0): "a red bus",
    (2, 0): "x",
    (2, 1): "a long caption here",
}


def test_prompt_and_instruction_removal():
    assert A.make_prompt("a cat") == INSTR + "a cat"
    assert INSTR.startswith(
        "What do you associate with the following sentences?"
    ) and INSTR.endswith(". :\n")
    assert A.remove_instruction(INSTR + "a cat. Pets.") == "a cat. Pets."
    with pytest.raises(SemspaceError):
        A.remove_instruction("a cat " + INSTR)


def test_chained_rounds_hand_checked():
    seen: list[list[str]] = []

    def gen(prompts, seeds):
        seen.append(list(prompts))
        return fake_generate(prompts, seeds)

    texts = A.run_rounds(items_of(CAPS), gen, rounds=5, batch_size=2)
    assert texts[(0, 0, 0)] == "a cat"
    assert texts[(0, 0, 1)] == "a cat r1"
    assert texts[(0, 0, 3)] == "a cat r1 r2 r3"
    assert texts[(0, 0, 5)] == "a cat r1 r2 r3 r4 r5"
    assert texts[(2, 0, 5)] == "x r1 r2 r3 r4 r5"
    assert len(texts) == len(CAPS) * 6
    # round r's prompt is the instruction followed by text_{r-1}, never an earlier instruction
    prompts = [p for batch in seen for p in batch]
    assert INSTR + "a cat r1 r2" in prompts and INSTR + "a cat" in prompts
    assert all(p.count(INSTR) == 1 for p in prompts)
    assert len(prompts) == len(CAPS) * 5


def test_batches_sorted_by_length_within_each_round():
    calls: list[list[str]] = []

    def gen(prompts, seeds):
        calls.append(list(prompts))
        return fake_generate(prompts, seeds)

    A.run_rounds(items_of(CAPS), gen, rounds=2, batch_size=2)
    assert [len(c) for c in calls] == [2, 2, 1, 2, 2, 1]  # 5 captions per round, batch 2
    for round_calls in (calls[:3], calls[3:]):
        lengths = [len(p) for c in round_calls for p in c]
        assert lengths == sorted(lengths, reverse=True)
    assert calls[0][0] == INSTR + "a long caption here"


def test_sampling_seeds_are_per_caption_and_round():
    seeds = {A.caption_seed(0, i, c, r) for i in range(20) for c in range(6) for r in range(1, 6)}
    assert len(seeds) == 20 * 6 * 5
    assert A.caption_seed(3, 1, 2, 3) == A.caption_seed(3, 1, 2, 3) != A.caption_seed(4, 1, 2, 3)
    assert all(0 <= s < 2**63 for s in seeds)


def test_shards_partition_the_images():
    for n, k in [(10, 3), (5000, 7), (2, 4), (0, 2)]:
        parts = [list(A.shard_images(n, k, i)) for i in range(k)]
        assert sorted(x for p in parts for x in p) == list(range(n))
    with pytest.raises(SemspaceError):
        A.shard_images(10, 3, 3)
    items = items_of(CAPS)
    got = [A.captions_of_shard(items, 2, s) for s in range(2)]
    assert {(it.image, it.caption) for it in got[0]} | {
        (it.image, it.caption) for it in got[1]
    } == set(CAPS)
    assert {it.image for it in got[0]}.isdisjoint({it.image for it in got[1]})
    assert {it.image for it in A.captions_of_shard(items, 1, 0, limit_images=2)} == {0, 1}


def rows_of(table: pa.Table) -> list[tuple]:
    return sorted(zip(*(table.column(c).to_pylist() for c in A.ROUNDS_SCHEMA.names)))


def test_resume_after_failure_loses_and_repeats_nothing(tmp_path):
    items = items_of(CAPS)
    reference = A.generate_shard(
        items, fake_generate, tmp_path / "ref.parquet", settings={}, batch_size=2, flush_every=2
    )

    calls = {"n": 0, "prompts": 0}

    def failing(prompts, seeds):
        calls["n"] += 1
        if calls["n"] == 4:  # round 2's first batch: rounds 0 and 1 are flushed
            raise RuntimeError("killed")
        return fake_generate(prompts, seeds)

    out = tmp_path / "shard.parquet"
    with pytest.raises(RuntimeError):
        A.generate_shard(items, failing, out, settings={}, batch_size=2, flush_every=2)
    assert not out.exists()
    parts = out.with_name(out.name + ".parts")
    flushed = pa.concat_tables([pq.read_table(p) for p in sorted(parts.glob("part-*.parquet"))])
    assert flushed.num_rows == 5 + 5 + 0  # round 0 and round 1 complete, nothing of round 2
    (parts / ".part-000099.parquet.abc.tmp").write_bytes(b"half a file")  # a kill during a write

    def counting(prompts, seeds):
        calls["prompts"] += len(prompts)
        return fake_generate(prompts, seeds)

    table = A.generate_shard(items, counting, out, settings={}, batch_size=2, flush_every=2)
    assert calls["prompts"] == 5 * 4  # only rounds 2..5 were generated again
    assert rows_of(table) == rows_of(reference) == rows_of(pq.read_table(out))
    assert len({(r[0], r[2], r[3]) for r in rows_of(table)}) == table.num_rows == 30
    assert not parts.exists()


def test_empty_shard_writes_an_empty_table(tmp_path):
    def never(prompts, seeds):
        raise AssertionError("nothing to generate")

    table = A.generate_shard([], never, tmp_path / "empty.parquet", settings={})
    assert table.num_rows == 0
    assert pq.read_table(tmp_path / "empty.parquet").schema.equals(A.ROUNDS_SCHEMA)


def test_resume_with_other_settings_discards_and_redoes(tmp_path, caplog):
    out = tmp_path / "shard.parquet"
    calls = []

    def stop_after_one_part(n_parts):
        if n_parts == 1:
            raise RuntimeError("killed")

    def counting(prompts, seeds):
        calls.extend(prompts)
        return fake_generate(prompts, seeds)

    settings = {"decoding": {"top_k": 10}}
    with pytest.raises(RuntimeError, match="killed"):
        A.generate_shard(
            items_of(CAPS),
            counting,
            out,
            settings=settings,
            flush_every=1,
            batch_size=1,
            after_flush=stop_after_one_part,
        )
    assert len(list(out.with_name(out.name + ".parts").glob("part-*.parquet"))) == 1
    calls.clear()
    fresh = A.generate_shard(items_of(CAPS), fake_generate, tmp_path / "fresh.parquet", settings={})
    with caplog.at_level("INFO", logger="semspace.resume"):
        again = A.generate_shard(items_of(CAPS), counting, out, settings={"decoding": {"top_k": 5}})
    assert "made with other settings" in caplog.text
    # every row redone under the new settings: none of the killed run's rows was kept
    assert len(calls) == fresh.num_rows - len(CAPS) and again.equals(fresh)


def rounds_table(finals: dict[tuple[int, int], str], rounds: int = 2) -> pa.Table:
    rows = [
        {
            "image": i,
            "coco_id": 100 + i,
            "caption": c,
            "round": r,
            "text": t if r == rounds else f"older {r}",
        }
        for (i, c), t in finals.items()
        for r in range(rounds + 1)
    ]
    return pa.Table.from_pylist(rows, schema=A.ROUNDS_SCHEMA)


def test_examples_rows_pair_each_caption_with_its_last_round():
    table = rounds_table({(0, 0): "a", (0, 1): "b", (1, 0): "c", (2, 0): "d"})
    rows = A.examples_rows(table, n_images=2, rounds=2)
    assert rows == [
        {"image": 0, "coco_id": 100, "caption": 0, "text": "older 0", "association": "a"},
        {"image": 0, "coco_id": 100, "caption": 1, "text": "older 0", "association": "b"},
        {"image": 1, "coco_id": 101, "caption": 0, "text": "older 0", "association": "c"},
    ]


def space_prefixed_tokenize(text: str) -> list[str]:
    """A byte-level-BPE-like tokenizer: words after a space carry a "Ġ" (as falcon's do)."""
    return [("Ġ" if i else "") + w for i, w in enumerate(text.split(" ")) if w]


def test_token_sets_tokenise_each_images_joined_text():
    finals = {(0, 1): "d c", (0, 0): "b a", (1, 0): "x y"}
    table = rounds_table(finals, rounds=2)
    sets = A.association_tokensets(table, space_prefixed_tokenize, rounds=2)
    # the joined text "b a d c": "d" follows a space there, though it opens its own caption
    assert sets.column("tokens").to_pylist() == [
        sorted(["b", "Ġa", "Ġd", "Ġc"]),
        sorted(["x", "Ġy"]),
    ]
    union = sorted({t for k in ((0, 0), (0, 1)) for t in space_prefixed_tokenize(finals[k])})
    assert (
        sets.column("tokens").to_pylist()[0] != union
    )  # the per-caption union differs at the join
    stats = A.association_statistics(table, space_prefixed_tokenize, rounds=2)
    assert stats["texts"] == 3 and stats["tokens"] == 6 and stats["vocabulary"] == 6
    assert stats["characters"] == 9 and stats["mean_tokens_per_text"] == 2.0


def test_token_sets_are_the_union_of_the_final_texts_tokens():
    finals = {(0, 0): "b a c a", (0, 1): "c d", (1, 0): "z z y", (1, 1): "y", (1, 2): "x"}
    sets = A.association_tokensets(rounds_table(finals), str.split, rounds=2)
    assert sets.schema.equals(TOKENSETS)
    assert sets.column("image").to_pylist() == [0, 1]
    assert sets.column("coco_id").to_pylist() == [100, 101]
    assert sets.column("tokens").to_pylist() == [["a", "b", "c", "d"], ["x", "y", "z"]]
    stats = A.association_statistics(rounds_table(finals), str.split, rounds=2)
    assert stats["images"] == 2 and stats["texts"] == 5 and stats["tokens"] == 11
    assert stats["vocabulary"] == 7 and stats["mean_set_size"] == 3.5
    texts = A.association_texts_table(rounds_table(finals), rounds=2).column("text").to_pylist()
    assert texts == ["b a c a c d", "z z y y x"]


def test_merge_checks_completeness(tmp_path):
    finals = {(0, 0): "a", (1, 0): "b"}
    table = rounds_table(finals, rounds=5)
    items = [A.CaptionItem(0, 100, 0, "older 0"), A.CaptionItem(1, 101, 0, "older 0")]
    write_parquet(table.slice(0, 6), tmp_path / "s0.parquet", A.ROUNDS_SCHEMA)
    write_parquet(table.slice(6), tmp_path / "s1.parquet", A.ROUNDS_SCHEMA)
    merged = A.merge_rounds([tmp_path / "s1.parquet", tmp_path / "s0.parquet"], items)
    assert rows_of(merged) == rows_of(table)
    assert merged.column("image").to_pylist() == [0] * 6 + [1] * 6
    with pytest.raises(SemspaceError, match="miss"):
        A.merge_rounds([tmp_path / "s0.parquet"], items)
    with pytest.raises(SemspaceError, match="duplicate"):
        A.merge_rounds(
            [tmp_path / "s0.parquet", tmp_path / "s0.parquet", tmp_path / "s1.parquet"], items
        )


def test_read_captions_sorts_and_rejects_duplicates(tmp_path):
    rows = [
        {"image": 1, "coco_id": 7, "caption": 0, "text": "b"},
        {"image": 0, "coco_id": 5, "caption": 1, "text": "a"},
    ]
    path = tmp_path / "c.parquet"
    write_parquet(pa.Table.from_pylist(rows, schema=CAPTIONS), path, CAPTIONS)
    assert [(it.image, it.caption, it.text) for it in A.read_captions(path)] == [
        (0, 1, "a"),
        (1, 0, "b"),
    ]
    write_parquet(pa.Table.from_pylist(rows + rows[:1], schema=CAPTIONS), path, CAPTIONS)
    with pytest.raises(SemspaceError, match="duplicate"):
        A.read_captions(path)


def test_seeded_sampler_inverse_cdf_hand_worked():
    import torch

    # softmax of log(p) is p: sorted probabilities 0.5 (token 2), 0.3 (token 0), 0.2 (token 1)
    scores = torch.log(
        torch.tensor([[0.3, 0.2, 0.5], [0.3, 0.2, 0.5], [0.3, 0.2, 0.5], [0.3, 0.2, 0.5]])
    )
    uniforms = torch.tensor([[0.1], [0.6], [0.95], [0.79]])
    ids = torch.zeros((4, 3), dtype=torch.long)
    picks = A.SeededSampler(uniforms, 3, 1.0, 0, 1.0)(ids, scores).argmax(-1).tolist()
    assert picks == [2, 0, 1, 0]
    top1 = A.SeededSampler(uniforms, 3, 1.0, 1, 1.0)(ids, scores).argmax(-1).tolist()
    assert top1 == [2, 2, 2, 2]
    nucleus = (
        A.SeededSampler(uniforms, 3, 1.0, 0, 0.7)(ids, scores).argmax(-1).tolist()
    )  # keeps 0.5 + 0.3
    assert nucleus == [2, 2, 0, 0]  # u is scaled to the kept mass 0.8


@pytest.fixture(scope="module")
def tiny_lm(tiny_lm_dir):
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a toy model: on a shared 2-core machine, more threads only spin
    yield A.load_causal_lm(tiny_lm_dir, device="cpu", dtype="float32")
    torch.set_num_threads(threads)


PROMPTS = [
    A.make_prompt(t)
    for t in ["A man riding a horse on a sandy beach at sunset.", "A dog.", "Two cats."]
]


@pytest.mark.parametrize(
    "decoding",
    [
        A.Decoding(max_new_tokens=6),
        A.Decoding(max_new_tokens=6, do_sample=True, top_k=10, temperature=0.8),
        A.Decoding(max_new_tokens=6, do_sample=True, top_p=0.9, repetition_penalty=1.2),
    ],
    ids=["greedy", "top_k", "top_p"],
)
def test_left_padded_batch_equals_one_at_a_time(tiny_lm, decoding):
    seeds = [11, 12, 13]
    batched = A.generate_texts(tiny_lm, PROMPTS, decoding, seeds)
    single = [A.generate_texts(tiny_lm, [p], decoding, [s])[0] for p, s in zip(PROMPTS, seeds)]
    assert batched == single
    assert all(b.startswith(p) for b, p in zip(batched, PROMPTS))
    assert tiny_lm.tokenizer.padding_side == "left"
    reordered = A.generate_texts(tiny_lm, PROMPTS[::-1], decoding, seeds[::-1])
    assert reordered == batched[::-1]


def test_sampling_depends_on_the_seed(tiny_lm):
    decoding = A.Decoding(max_new_tokens=8, do_sample=True)
    runs = {A.generate_texts(tiny_lm, PROMPTS[1:2], decoding, [s])[0] for s in range(4)}
    assert len(runs) > 1


def test_max_length_caps_each_prompt(tiny_lm):
    lengths = A.token_lengths(tiny_lm, PROMPTS)
    cap = lengths[0]  # the longest prompt: it gets no new token, the shorter ones up to the cap
    assert lengths[1] < cap - 3
    out = A.generate_texts(
        tiny_lm, PROMPTS, A.Decoding(max_new_tokens=50, max_length=cap), [0, 1, 2]
    )
    assert out[0] == PROMPTS[0]
    assert out[1] != PROMPTS[1] and out[2] != PROMPTS[2]
    assert all(
        n <= cap + 1 for n in A.token_lengths(tiny_lm, out)
    )  # re-tokenising may split a boundary token
    assert A.generate_texts(tiny_lm, PROMPTS, A.Decoding(max_length=min(lengths) - 1)) == PROMPTS


def test_cli_generate_and_merge(tmp_path, tiny_lm_dir):
    import torch

    threads = torch.get_num_threads()
    try:
        check_cli_generate_and_merge(tmp_path, tiny_lm_dir)
    finally:
        torch.set_num_threads(threads)  # --threads 1 below sets it for the whole process


def check_cli_generate_and_merge(tmp_path, tiny_lm_dir):
    from semspace.cli import main

    rows = [
        {"image": i, "coco_id": 10 + i, "caption": c, "text": t}
        for i, caps in enumerate(
            [["A dog.", "A brown dog."], ["Two cats."], ["A red bus.", "A bus."]]
        )
        for c, t in enumerate(caps)
    ]
    captions = tmp_path / "captions.parquet"
    write_parquet(pa.Table.from_pylist(rows, schema=CAPTIONS), captions, CAPTIONS)
    common = ["--captions", str(captions), "--model", str(tiny_lm_dir)]
    shards = [tmp_path / f"{s:05d}.parquet" for s in range(2)]
    for s, out in enumerate(shards):
        argv = [
            "associate",
            "generate",
            *common,
            "--shard",
            str(s),
            "--shards",
            "2",
            "--rounds",
            "2",
            "--decoding",
            '{"max_new_tokens": 3}',
            "--device",
            "cpu",
            "--threads",
            "1",
            "--out",
            str(out),
        ]
        assert main(argv) == 0
    outs = {k: tmp_path / f"{k}.parquet" for k in ("assoc", "texts", "sets", "stats")}
    argv = [
        "associate",
        "merge",
        *common,
        "--rounds",
        "2",
        "--shard-files",
        *map(str, shards),
        "--associations",
        str(outs["assoc"]),
        "--texts",
        str(outs["texts"]),
        "--tokensets",
        str(outs["sets"]),
        "--stats",
        str(outs["stats"]),
        "--examples",
        str(tmp_path / "examples.csv"),
        "--examples-html",
        str(tmp_path / "examples.html"),
        "--n-examples",
        "2",
        "--demo",
        "true",
    ]
    assert main(argv) == 0
    assoc = pq.read_table(outs["assoc"])
    assert assoc.num_rows == 5 * 3
    finals = [
        t
        for t, r in zip(assoc.column("text").to_pylist(), assoc.column("round").to_pylist())
        if r == 2
    ]
    assert [f.startswith(row["text"]) for f, row in zip(finals, rows)] == [True] * 5
    # the examples: the first two images' three captions, in full in the CSV and in the HTML
    with open(tmp_path / "examples.csv", newline="") as fh:
        examples = list(csv.DictReader(fh))
    assert [(e["image"], e["coco_id"], e["caption"], e["text"]) for e in examples] == [
        (str(r["image"]), str(r["coco_id"]), str(r["caption"]), r["text"]) for r in rows[:3]
    ]
    assert [e["association"] for e in examples] == finals[:3]
    page = (tmp_path / "examples.html").read_text()
    assert "<table>" in page and "demo: random tiny models" in page
    assert all(html.escape(f) in page for f in finals[:3])
    sets = pq.read_table(outs["sets"])
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_lm_dir)
    # each image's joined association text, tokenised as one text (the paper's rule)
    expected = [
        sorted(set(tok.tokenize(finals[0] + A.JOIN + finals[1]))),
        sorted(set(tok.tokenize(finals[2]))),
    ]
    assert sets.column("tokens").to_pylist()[:2] == expected
    assert (
        main(
            [
                "associate",
                "generate",
                *common,
                "--decoding",
                '{"beams": 2}',
                "--out",
                str(tmp_path / "x"),
            ]
        )
        == 2
    )


def test_benchmark_architecture_is_falcon_7b():
    """bench/bench_llm.py's GPU model has tiiuae/falcon-7b-instruct's 6,921,720,704 parameters."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "bench" / "bench_llm.py"
    spec = importlib.util.spec_from_file_location("bench_llm", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.parameter_count(module.FALCON_7B) == 6_921_720_704


@pytest.mark.slow
def test_cli_resumes_after_kill_9(tmp_path, tiny_lm_dir):
    """A generation job killed with SIGKILL halfway resumes to exactly the uninterrupted rows."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import torch

    from semspace.cli import main

    rows = [
        {"image": i, "coco_id": i, "caption": c, "text": f"caption {c} of image {i}."}
        for i in range(6)
        for c in range(2)
    ]
    captions = tmp_path / "captions.parquet"
    write_parquet(pa.Table.from_pylist(rows, schema=CAPTIONS), captions, CAPTIONS)
    args = [
        "associate",
        "generate",
        "--captions",
        str(captions),
        "--model",
        str(tiny_lm_dir),
        "--rounds",
        "2",
        "--batch-size",
        "2",
        "--flush-every",
        "2",
        "--decoding",
        '{"max_new_tokens": 3, "do_sample": true}',
        "--device",
        "cpu",
        "--threads",
        "1",
    ]
    threads = torch.get_num_threads()
    try:
        assert main([*args, "--out", str(tmp_path / "ref.parquet")]) == 0
        out = tmp_path / "killed.parquet"
        parts = out.with_name(out.name + ".parts")
        env = {**os.environ, "SEMSPACE_ASSOCIATE_PAUSE_AFTER_PART": "0.5"}
        code = "import sys; from semspace.cli import main; sys.exit(main(sys.argv[1:]))"
        proc = subprocess.Popen(
            [sys.executable, "-c", code, *args, "--out", str(out)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 120
        while len(list(parts.glob("part-*.parquet"))) < 4 and time.monotonic() < deadline:
            assert proc.poll() is None, "the job ended before it could be killed"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        n_parts = len(list(parts.glob("part-*.parquet")))
        assert 4 <= n_parts < 13 and not out.exists()
        assert main([*args, "--out", str(out)]) == 0
    finally:
        torch.set_num_threads(threads)
    assert pq.read_table(out).equals(pq.read_table(tmp_path / "ref.parquet"))
    assert not parts.exists()
