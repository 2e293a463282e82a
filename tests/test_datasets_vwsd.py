"""The V-WSD loader: the real files' quirks, bad input, and the image manifest."""

from __future__ import annotations

from pathlib import Path

import pytest

from semspace.datasets import build_image_manifest
from semspace.datasets.vwsd import gold_path_for, image_manifest, language_of, read_data, read_items
from semspace.errors import InputFormatError

IMAGES = [f"image.{i}.jpg" for i in range(10)]


def _line(target: str, phrase: str, images: list[str]) -> str:
    return "\t".join([target, phrase, *images])


def _write(path: Path, lines: list[str], end: str = "\n") -> Path:
    path.write_bytes((end.join(lines) + end).encode("utf-8"))
    return path


def test_crlf_direction_marks_and_png(tmp_path: Path) -> None:
    images = IMAGES[:9] + ["image.9.png"]
    data = _write(
        tmp_path / "fa.test.data.txt",
        [
            _line(
                "\u0628\u0631\u0646\u062c\u200e",
                "\u0641\u0644\u0632 \u0628\u0631\u0646\u062c",
                images,
            ),
            _line("bank", "river  bank", IMAGES),
        ],
        end="\r\n",
    )
    gold = _write(tmp_path / "fa.test.gold.txt", ["image.9.png", "image.3.jpg"], end="\r\n")
    items = read_items(data, gold)
    assert [it.target for it in items] == ["\u0628\u0631\u0646\u062c", "bank"]  # U+200E dropped
    assert items[1].phrase == "river bank"
    assert items[0].candidates[-1] == "image.9.png" and items[0].gold == "image.9.png"
    assert items[0].gold_index == 9 and items[1].gold_index == 3
    assert [it.line for it in items] == [1, 2] and [it.index for it in items] == [0, 1]
    assert {it.language for it in items} == {"fa"}
    assert gold_path_for(data) == gold


def test_missing_candidates_are_listed(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    for name in IMAGES[:7]:
        (tmp_path / "images" / name).write_bytes(b"x")
    data = _write(tmp_path / "x.data.txt", [_line("bank", "river bank", IMAGES)])
    gold = _write(tmp_path / "x.gold.txt", ["image.0.jpg"])
    (item,) = read_items(data, gold, images=tmp_path / "images")
    assert item.missing == ("image.7.jpg", "image.8.jpg", "image.9.jpg")


def test_wrong_field_count_names_file_and_line(tmp_path: Path) -> None:
    data = _write(
        tmp_path / "bad.data.txt", [_line("a", "a b", IMAGES), _line("c", "c d", IMAGES[:9])]
    )
    with pytest.raises(
        InputFormatError, match=r"bad\.data\.txt:2: expected 12 tab-separated fields.*found 11"
    ):
        read_data(data)


def test_gold_not_among_candidates_names_gold_file_and_line(tmp_path: Path) -> None:
    data = _write(tmp_path / "t.data.txt", [_line("a", "a b", IMAGES), _line("c", "c d", IMAGES)])
    gold = _write(tmp_path / "t.gold.txt", ["image.1.jpg", "image.77.jpg"])
    with pytest.raises(
        InputFormatError, match=r"t\.gold\.txt:2: gold image 'image\.77\.jpg' is not among"
    ):
        read_items(data, gold)


def test_gold_count_mismatch_and_other_bad_input(tmp_path: Path) -> None:
    data = _write(tmp_path / "t.data.txt", [_line("a", "a b", IMAGES), _line("c", "c d", IMAGES)])
    gold = _write(tmp_path / "t.gold.txt", ["image.1.jpg"])
    with pytest.raises(InputFormatError, match=r"t\.gold\.txt:2: 1 gold lines for 2 items"):
        read_items(data, gold)
    dup = _write(tmp_path / "d.data.txt", [_line("a", "a b", IMAGES[:9] + ["image.0.jpg"])])
    with pytest.raises(InputFormatError, match=r"d\.data\.txt:1: the same candidate"):
        read_data(dup)
    blank = _write(
        tmp_path / "b.data.txt", [_line("a", "a b", IMAGES), "", _line("c", "c d", IMAGES)]
    )
    with pytest.raises(InputFormatError, match=r"b\.data\.txt:2: expected 12"):
        read_data(blank)
    latin1 = tmp_path / "l.data.txt"
    latin1.write_bytes(_line("caf\xe9", "caf\xe9 noir", IMAGES).encode("latin-1") + b"\n")
    with pytest.raises(InputFormatError, match=r"l\.data\.txt:1: not valid UTF-8"):
        read_data(latin1)
    with pytest.raises(InputFormatError, match="file not found"):
        read_data(tmp_path / "absent.data.txt")


def test_trailing_blank_lines_are_ignored(tmp_path: Path) -> None:
    data = _write(tmp_path / "t.data.txt", [_line("a", "a b", IMAGES), "", ""])
    assert len(read_data(data)) == 1


def test_language_from_file_name() -> None:
    assert language_of("it.test.data.v1.1.txt") == "it"
    assert language_of("x/fa.test.data.txt") == "fa"
    assert language_of("en.test.data.v1.1.txt") == "en"
    assert language_of("train.data.v1.txt") == "en"


def test_manifest_lists_distinct_candidates_in_first_seen_order(tmp_path: Path) -> None:
    second = ["image.10.jpg", *IMAGES[1:]]
    _write(tmp_path / "a.data.txt", [_line("a", "a b", IMAGES), _line("c", "c d", second)])
    _write(tmp_path / "b.data.txt", [_line("e", "e f", ["image.11.png", *IMAGES[1:]])])
    table = image_manifest(tmp_path, data=["a.data.txt", "b.data.txt"], images="pics")
    keys = table.column("key").to_pylist()
    assert keys == IMAGES + ["image.10.jpg", "image.11.png"]
    assert table.column("path").to_pylist()[0] == "pics/image.0.jpg"
    assert table.column("left").null_count == len(keys)
    same = build_image_manifest("vwsd", tmp_path, data="a.data.txt")
    assert same.column("key").to_pylist() == keys[:11]


@pytest.mark.realdata
def test_real_trial_and_text_files(shared_data: Path) -> None:
    trial = shared_data / "vwsd-trial"
    items = read_items(trial / "trial.data.txt", trial / "trial.gold.txt", images=trial / "images")
    assert len(items) == 16
    assert items[0].target == "andromeda" and items[0].gold == "image.86.jpg"
    assert sum(len(it.missing) for it in items) == 14
    assert all(it.gold not in it.missing for it in items)
    table = image_manifest(trial, data="trial.data.txt", images="images")
    assert table.num_rows == 160
    on_disk = sum((trial / p).is_file() for p in table.column("path").to_pylist())
    assert on_disk == 146
    text = shared_data / "vwsd-text"
    sizes = {
        name: len(read_items(text / name, gold_path_for(text / name)))
        for name in [
            "train.data.v1.txt",
            "en.test.data.v1.1.txt",
            "it.test.data.v1.1.txt",
            "fa.test.data.txt",
        ]
    }
    assert sizes == {
        "train.data.v1.txt": 12869,
        "en.test.data.v1.1.txt": 463,
        "it.test.data.v1.1.txt": 305,
        "fa.test.data.txt": 200,
    }
    fa = read_data(text / "fa.test.data.txt")
    assert not any("\u200e" in it.target or "\u200e" in it.phrase for it in fa)
    assert fa[0].target in fa[0].phrase.split()  # the mark had hidden the target in the phrase


def test_empty_data_file_is_a_clear_error(tmp_path) -> None:
    import pytest

    from semspace.datasets.vwsd import read_items
    from semspace.errors import InputFormatError

    empty = tmp_path / "empty.data.txt"
    empty.write_text("")
    with pytest.raises(InputFormatError, match="empty.data.txt.*no V-WSD items"):
        read_items(empty)
