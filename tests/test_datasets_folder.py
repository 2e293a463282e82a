"""The generic ``folder`` dataset format and the manifest checks of ``semspace manifest``."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from semspace.cli import main as cli_main
from semspace.cli.images import check_manifest
from semspace.datasets import build_image_manifest
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
    assert cli_main(["images", "manifest", "--format", "nope", "--root", str(tree), "--out", str(out)]) == 2
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
