"""The generic ``folder`` dataset format and the manifest checks of ``semspace manifest``."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from semspace.cli import main as cli_main
from semspace.datasets import build_image_manifest, check_manifest
from semspace.datasets.folder import image_manifest
from semspace.errors import InputFormatError
from semspace.schemas import MANIFEST


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    files = ["b/2.jpg", "a.PNG", "b/1.jpeg", "b/c/deep.webp", "z.png"]
    for rel in files:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (4, 4)).save(tmp_path / rel, format="PNG")  # content does not matter here
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "b" / "labels.csv").write_text("x")
    (tmp_path / "dir.jpg").mkdir()  # a folder named like an image is not a file
    return tmp_path


def test_every_image_sorted_relative_posix(tree: Path) -> None:
    table = image_manifest(tree)
    assert table.schema.equals(MANIFEST)
    expected = sorted(["b/2.jpg", "a.PNG", "b/1.jpeg", "b/c/deep.webp", "z.png"])
    assert table.column("key").to_pylist() == expected
    assert table.column("path").to_pylist() == expected
    assert table.column("left").null_count == len(expected)


def test_pattern_and_extensions(tree: Path) -> None:
    assert image_manifest(tree, pattern="b/*").column("key").to_pylist() == ["b/1.jpeg", "b/2.jpg"]
    keys = image_manifest(tree, extensions=["png"]).column("key").to_pylist()
    assert keys == ["a.PNG", "z.png"]
    # through the registry, as `semspace manifest --options` passes them
    assert build_image_manifest("folder", tree, pattern="*", extensions=[".png"]).num_rows == 2


def test_missing_root(tmp_path: Path) -> None:
    with pytest.raises(InputFormatError, match="not found"):
        image_manifest(tmp_path / "nowhere")


def test_check_manifest_rejects_duplicates_and_fills_boxes() -> None:
    table = pa.table({"key": ["a", "b", "a"], "path": ["1.jpg", "2.jpg", "3.jpg"]})
    with pytest.raises(InputFormatError, match="duplicate keys.*'a'"):
        check_manifest(table, "m")
    ok = check_manifest(table.slice(0, 2), "m")
    assert ok.schema.equals(MANIFEST) and ok.column("bottom").null_count == 2


def test_cli_manifest(tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "m.parquet"
    assert (
        cli_main(
            [
                "images",
                "manifest",
                "--format",
                "folder",
                "--root",
                str(tree),
                "--options",
                '{"pattern": "b/**/*"}',
                "--out",
                str(out),
            ]
        )
        == 0
    )
    table = pq.read_table(out)
    assert table.schema.equals(MANIFEST)
    assert table.column("key").to_pylist() == ["b/1.jpeg", "b/2.jpg", "b/c/deep.webp"]
    assert (
        cli_main(["images", "manifest", "--format", "nope", "--root", str(tree), "--out", str(out)])
        == 2
    )
    assert (
        cli_main(
            [
                "images",
                "manifest",
                "--format",
                "folder",
                "--root",
                str(tree),
                "--options",
                "[1]",
                "--out",
                str(out),
            ]
        )
        == 2
    )


# ---------------------------------------------------------------- symlinks (issue 17.5)


def _png(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (4, 4)).save(path, format="PNG")


def test_symlinked_folders_are_followed_and_loops_counted(tmp_path: Path) -> None:
    import json

    elsewhere = tmp_path / "elsewhere"
    _png(elsewhere / "x.png")
    _png(elsewhere / "sub" / "y.jpg")
    root = tmp_path / "data"
    _png(root / "a.png")
    (root / "linked").symlink_to(elsewhere, target_is_directory=True)
    (root / "b").mkdir()
    (root / "b" / "up").symlink_to(root, target_is_directory=True)  # a loop
    (root / "b" / "self").symlink_to(root / "b", target_is_directory=True)  # another
    (root / "gone.png").symlink_to(tmp_path / "no-such.png")  # dangling
    (root / "alias.png").symlink_to(root / "a.png")  # a linked file is a file
    table = image_manifest(root)
    assert table.column("key").to_pylist() == [
        "a.png",
        "alias.png",
        "linked/sub/y.jpg",
        "linked/x.png",
    ]
    assert json.loads(table.schema.metadata[b"left_out"]) == {"symlink_loop": 2, "broken_link": 1}
    # the pattern applies to the paths under the link as to any other
    assert image_manifest(root, pattern="linked/*").column("key").to_pylist() == ["linked/x.png"]


def test_nothing_left_out_gives_empty_counts(tree: Path) -> None:
    import json

    assert json.loads(image_manifest(tree).schema.metadata[b"left_out"]) == {}


@pytest.mark.parametrize(
    ("rel", "pattern", "expected"),
    [
        ("b/c/deep.webp", "**/*", True),
        ("a.png", "**/*", True),
        ("b/1.jpg", "b/*", True),
        ("b/c/deep.webp", "b/*", False),
        ("x/b/1.jpg", "b/*", False),
        ("a.png", "*", True),
        ("b/1.jpg", "*", False),
        ("b/c/deep.webp", "b/**/*.webp", True),
        ("b/deep.webp", "b/**/*.webp", True),
        ("A.PNG", "*.png", False),
    ],
)
def test_glob_match_agrees_with_path_glob(tmp_path: Path, rel: str, pattern: str, expected: bool):
    from semspace.datasets.folder import glob_match

    (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / rel).write_bytes(b"")
    by_pathlib = any(p.relative_to(tmp_path).as_posix() == rel for p in tmp_path.glob(pattern))
    assert by_pathlib == expected
    assert glob_match(rel, pattern) == expected


def test_hidden_and_macos_metadata_entries_are_left_out_and_counted(tmp_path: Path) -> None:
    """An unpacked macOS zip: ``__MACOSX/`` and ``._x.jpg`` AppleDouble files (named like
    images, not images), ``.thumbnails/`` copies, ``.DS_Store``. Before: ``._a.png`` and every
    ``__MACOSX/._*`` file were manifest rows, then skips (``not_an_image``) at resize."""
    import json

    root = tmp_path / "data"
    _png(root / "a.png")
    _png(root / "sub" / "b.jpg")
    (root / "._a.png").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    (root / "__MACOSX" / "sub").mkdir(parents=True)
    (root / "__MACOSX" / "sub" / "._b.jpg").write_bytes(b"\x00\x05\x16\x07")
    _png(root / ".thumbnails" / "a.png")
    (root / ".DS_Store").write_bytes(b"x")
    table = image_manifest(root)
    assert table.column("key").to_pylist() == ["a.png", "sub/b.jpg"]
    assert json.loads(table.schema.metadata[b"left_out"]) == {"hidden": 4}


def test_a_name_that_is_not_utf8_is_left_out_and_counted(tmp_path: Path, caplog) -> None:
    """A file named in Latin-1 bytes (an old archive unpacked on Linux). Before: a
    UnicodeEncodeError traceback from pyarrow ("surrogates not allowed"), no manifest at all."""
    import json
    import os

    root = tmp_path / "data"
    _png(root / "ok.png")
    _png(Path(os.fsdecode(os.fsencode(root) + b"/caf\xe9.png")))
    (root / os.fsdecode(b"d\xe9j\xe0")).mkdir()
    _png(root / "new\nline.png")  # a newline is valid UTF-8: kept
    table = image_manifest(root)
    assert table.column("key").to_pylist() == ["new\nline.png", "ok.png"]
    assert json.loads(table.schema.metadata[b"left_out"]) == {"name_not_utf8": 2}
    assert "caf\\xe9.png': its name is not UTF-8" in caplog.text
