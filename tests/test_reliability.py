"""Bad inputs a researcher's data brings: each is a counted skip or one clear line (exit 2 for the
CLI) naming the file and line, or the config key and folder (issue 17). The table of cases is in
the closing note; each test here names its case."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from semspace.checks import (
    check_config_files,
    check_model_folders,
    load_config_file,
    models_used,
)
from semspace.cli import main
from semspace.config import load_config
from semspace.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent


def _env() -> dict[str, str]:
    """Subprocesses import this checkout's package (not whatever the venv's editable install
    points at) and run offline."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), env.get("PYTHONPATH", "")])
    env["PATH"] = os.pathsep.join([str(VENV_BIN), env.get("PATH", "")])
    env["HF_HUB_OFFLINE"] = "1"
    return env


def _error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("semspace ")]


# ---------------------------------------------------------------- YAML files (case: yaml-*)


def _tab_indented(path: Path) -> int:
    """A config whose line 3 is indented with a tab; returns that line number."""
    path.write_text("run: mine\nimages:\n\tshard_size: 8\n", encoding="utf-8")
    return 3


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    line = _tab_indented(bad)
    with pytest.raises(ConfigError) as info:
        load_config(REPO / "config" / "config.yaml", bad)
    message = str(info.value)
    assert message.startswith(f"{bad}:{line}:") and "YAML syntax error" in message
    assert "\n" not in message


def test_config_check_command_exit_2_one_line(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.yaml"
    line = _tab_indented(bad)
    status = main(["config", "check", str(REPO / "config" / "config.yaml"), str(bad)])
    lines = _error_lines(capsys.readouterr().err)
    assert status == 2
    assert len(lines) == 1 and f"{bad}:{line}:" in lines[0]
    assert main(["config", "check", str(REPO / "config" / "config.yaml")]) == 0


def test_key_given_twice_is_an_error_naming_both_lines(tmp_path: Path) -> None:
    dup = tmp_path / "dup.yaml"
    dup.write_text("run: a\nimages:\n  shard_size: 8\n  shard_size: 16\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"{dup}:4:\d+: .*'shard_size' given twice.*line 3"):
        load_config_file(dup)


def test_latin1_config_names_the_line_of_the_bad_byte(tmp_path: Path) -> None:
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes("run: a\n# caf\u00e9\nimages: {}\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=rf"^{bad}:2: not UTF-8"):
        load_config_file(bad)


def test_utf8_bom_and_empty_config_are_fine(tmp_path: Path) -> None:
    bom = tmp_path / "bom.yaml"
    bom.write_bytes(b"\xef\xbb\xbfrun: bom\n")
    assert load_config_file(bom) == {"run": "bom"}
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert load_config_file(empty) == {}
    listed = tmp_path / "list.yaml"
    listed.write_text("- run\n")
    with pytest.raises(ConfigError, match=rf"^{listed}:1: .*top level"):
        load_config_file(listed)


def test_shipped_configs_have_no_duplicate_keys() -> None:
    check_config_files(sorted((REPO / "config").glob("*.yaml")))


def _workflow_copy(dest: Path) -> Path:
    """What a dry run reads: the workflow, its configs and profiles (the package comes from
    PYTHONPATH)."""
    for name in ("workflow", "config", "profiles"):
        shutil.copytree(REPO / name, dest / name)
    return dest


def _dry_run(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["snakemake", "-n", "--cores", "1", *args],
        cwd=repo,
        env=_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_dry_run_names_file_and_line_of_a_broken_config_yaml(tmp_path: Path) -> None:
    repo = _workflow_copy(tmp_path / "repo")
    config = repo / "config" / "config.yaml"
    n_lines = len(config.read_text().splitlines())
    with config.open("a") as fh:
        fh.write("extra:\n\tkey: 1\n")  # a tab on line n_lines + 2
    result = _dry_run(repo)
    assert result.returncode != 0
    assert f"config/config.yaml:{n_lines + 2}:" in result.stdout + result.stderr


def test_make_checks_a_configfile_before_snakemake(tmp_path: Path) -> None:
    """`snakemake --configfile bad.yaml` stops in Snakemake's own parser with "Config file is not
    valid JSON or YAML" (no file, no line); the Makefile's run targets check the files first."""
    repo = _workflow_copy(tmp_path / "repo")
    shutil.copy2(REPO / "Makefile", repo / "Makefile")
    bad = repo / "config" / "mine.yaml"
    line = _tab_indented(bad)
    for target in ("report", "unlock"):
        result = subprocess.run(
            ["make", "-o", "setup", target, "CONFIG=config/mine.yaml", f"VENV={VENV_BIN.parent}"],
            cwd=repo,
            env=_env(),
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert result.returncode != 0
        assert f"config/mine.yaml:{line}:" in result.stderr, result.stderr[-2000:]
        assert "snakemake --" not in result.stdout  # stopped before Snakemake ran


# ---------------------------------------------------------------- model folders (case: model-*)


def _clip_overlay(path: Path, folder: Path, images: Path) -> Path:
    images.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"""run: mine
datasets:
  mine:
    format: vwsd
    path: {images}
    options: {{data: trial.data.txt, images: images}}
models:
  clip_local:
    path: {folder}
    image_size: 224
vwsd:
  enabled: true
  models: [clip_local]
  splits:
    - {{name: trial, dataset: mine, data: trial.data.txt, gold: trial.gold.txt, language: en}}
imagespace: {{enabled: false}}
retrieval: {{enabled: false}}
syntax: {{enabled: false}}
softtext: {{enabled: false}}
""",
        encoding="utf-8",
    )
    return path


def test_dry_run_reports_a_missing_or_weightless_model_folder(tmp_path: Path) -> None:
    repo = _workflow_copy(tmp_path / "repo")
    folder = tmp_path / "my-clip"
    overlay = _clip_overlay(repo / "config" / "mine.yaml", folder, tmp_path / "vwsd")
    result = _dry_run(repo, "--configfile", str(overlay))
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"config key models.clip_local.path: {folder}: model folder not found" in out
    assert "MissingInputException" not in out
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    result = _dry_run(repo, "--configfile", str(overlay))
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"models.clip_local.path: {folder}: model folder has no weights" in out


def test_model_check_skips_unused_models_and_folders_rules_make(tmp_path: Path) -> None:
    config = load_config(REPO / "config" / "config.yaml", REPO / "config" / "demo.yaml")
    assert set(models_used(config)) <= set(config["models"])
    assert "clip" in models_used(config)
    made = [e["path"] for e in config["models"].values() if "path" in e]
    check_model_folders(config, made)  # the demo's tiny models are made by its rules
    with pytest.raises(ConfigError) as info:
        check_model_folders(config)
    lines = str(info.value).splitlines()
    assert all(line.startswith("config key models.") for line in lines)
    config["models"]["unused"] = {"path": str(tmp_path / "nowhere")}
    check_model_folders(config, made)  # named by no enabled section: not checked


def _model_commands(model: str, d: Path) -> dict[str, list[str]]:
    x = str(d / "x")
    return {
        "embed images": ["embed", "images", "--shard", x, "--model", model, "--model-id", "m"]
        + ["--out", x],
        "associate generate": ["associate", "generate", "--captions", x, "--model", model]
        + ["--out", x],
        "retrieval texts": ["retrieval", "texts", "--pairs", x, "--model", model, "--out", x],
        "syntax evaluate": ["syntax", "evaluate", "--items", x, "--images", x, "--model-dir"]
        + [model, "--input", "a", "--out", x, "--summary", x],
        "syntax relevance": ["syntax", "relevance", "--items", x, "--images", x, "--model-dir"]
        + [model, "--input", "a", "--out", x],
        "vwsd score": ["vwsd", "score", "--split", "s", "--data", x, "--embeddings", x]
        + ["--model", model, "--model-id", "m", "--prompts", "{}", "--out", x],
        "syntax tokens": ["syntax", "tokens", "--items", x, "--model-dir", model]
        + ["--inputs", "a", "--out", x],
        "associate merge": ["associate", "merge", "--captions", x, "--model", model]
        + ["--shard-files", x, "--associations", x, "--tokensets", x],
    }


@pytest.mark.parametrize("kind", ["missing", "config-only", "offline-hub-id"])
@pytest.mark.parametrize("command", list(_model_commands("m", Path("/d"))))
def test_every_model_command_names_a_bad_model_folder(
    tmp_path: Path, capsys, monkeypatch, kind: str, command: str
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    folder = {"missing": str(tmp_path / "m"), "config-only": str(tmp_path / "m")}.get(
        kind, "nobody/no-such-model"
    )
    if kind == "config-only":
        Path(folder).mkdir()
        (Path(folder) / "config.json").write_text("{}")
    status = main(_model_commands(folder, tmp_path)[command])
    err = capsys.readouterr().err
    lines = _error_lines(err)
    assert status == 2 and "Traceback" not in err
    assert len(lines) == 1 and f"error: {folder}: model folder" in lines[0]


# ---------------------------------------------------------------- OS errors (case: os-*)


def test_missing_input_file_is_one_line(tmp_path: Path, capsys) -> None:
    """pyarrow raises FileNotFoundError(path) with no errno: still one line naming it."""
    from semspace import cli

    missing = tmp_path / "items.parquet"

    def gone(args):
        raise FileNotFoundError(str(missing))

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cli, "run_command", gone)
        status = main(["config", "check", "x"])
    lines = _error_lines(capsys.readouterr().err)
    assert status == 2 and len(lines) == 1 and f"{missing}: file not found" in lines[0]


def test_read_only_output_folder_is_one_line(tmp_path: Path, capsys, monkeypatch) -> None:
    from semspace import cli

    def denied(args):
        raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path / "out"))

    monkeypatch.setattr(cli, "run_command", denied)
    assert main(["config", "check", "x"]) == 2
    lines = _error_lines(capsys.readouterr().err)
    assert len(lines) == 1 and f"{tmp_path / 'out'}: Permission denied" in lines[0]
    with pytest.raises(PermissionError):  # -v: the traceback, for a report
        main(["-v", "config", "check", "x"])


def test_an_os_error_of_ours_keeps_its_traceback(monkeypatch) -> None:
    from semspace import cli

    def broken(args):
        raise OSError(errno.EBADF, "Bad file descriptor")

    monkeypatch.setattr(cli, "run_command", broken)
    with pytest.raises(OSError, match="Bad file descriptor"):
        main(["config", "check", "x"])


# ---------------------------------------------------------------- max_pixels (case: pixels-*)


def _png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG whose header declares ``width``x``height`` and whose pixel data stops after a few
    bytes: Pillow reads the size without decoding anything."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    idat = zlib.compress(b"\0" * 64)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat))
    return path


def test_max_pixels_above_pillows_limit_is_honoured(tmp_path: Path) -> None:
    """200 megapixels declared (over twice Pillow's 89.5 M, where Pillow itself refuses to open):
    with max_pixels 250 M the file is read, so it is skipped as truncated, not as too large."""
    from PIL import Image

    from semspace.images import BadImageError, decode_image

    big = _png_header_only(tmp_path / "big.png", 20_000, 10_000)
    assert 20_000 * 10_000 > 2 * Image.MAX_IMAGE_PIXELS
    with pytest.raises(BadImageError) as info:
        decode_image(big, max_pixels=250_000_000)
    assert info.value.reason == "truncated"
    with pytest.raises(BadImageError) as info:
        decode_image(big, max_pixels=150_000_000)
    assert info.value.reason == "too_many_pixels" and "max_pixels 150000000" in str(info.value)
    assert Image.MAX_IMAGE_PIXELS == 89_478_485  # Pillow's own setting is left as it was


def test_max_pixels_is_the_limit_whatever_pillows_is(tmp_path: Path, monkeypatch) -> None:
    """Another library lowered Pillow's limit to 1000 pixels: an 80x80 image under our
    max_pixels of 10000 still decodes; below max_pixels, ours applies (a counted skip)."""
    import numpy as np
    from PIL import Image

    from semspace.images import BadImageError, decode_image

    path = tmp_path / "a.png"
    Image.fromarray(np.full((80, 80, 3), 7, dtype=np.uint8)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    assert decode_image(path, max_pixels=10_000).size == (80, 80)
    with pytest.raises(BadImageError) as info:
        decode_image(path, max_pixels=6399)
    assert info.value.reason == "too_many_pixels"


def test_resize_counts_a_bomb_as_skipped(tmp_path: Path, capsys) -> None:
    import numpy as np
    import polars as pl
    from PIL import Image

    root = tmp_path / "imgs"
    root.mkdir()
    Image.fromarray(np.zeros((40, 40, 3), dtype=np.uint8)).save(root / "ok.png")
    _png_header_only(root / "bomb.png", 30_000, 30_000)  # 900 M pixels declared
    manifest = tmp_path / "manifest.parquet"
    assert (
        main(
            ["images", "manifest", "--format", "folder", "--root", str(root)]
            + ["--out", str(manifest)]
        )
        == 0
    )
    out, skipped = tmp_path / "shard.parquet", tmp_path / "skipped.parquet"
    status = main(
        ["images", "resize", "--manifest", str(manifest), "--root", str(root), "--shard", "0"]
        + ["--shard-size", "8", "--image-size", "16", "--on-bad-image", "skip"]
        + ["--max-pixels", "1000000000", "--out", str(out), "--skipped", str(skipped)]
    )
    assert status == 0
    assert pl.read_parquet(out).height == 1
    skips = pl.read_parquet(skipped)
    assert skips.height == 1 and skips["reason"].to_list() == ["truncated"]


# ---------------------------------------------------------------- a full disk (case: disk-full)


@pytest.fixture
def full_disk(tmp_path: Path):
    """A 256 KiB tmpfs filled to its last 8 KiB (skipped where mounting needs rights we lack)."""
    mnt = tmp_path / "full"
    mnt.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        stat = os.statvfs(mnt)
        (mnt / "filler").write_bytes(b"\0" * (stat.f_bavail * stat.f_frsize - 8192))
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _noise_images(root: Path, n: int, size: int = 96) -> Path:
    import numpy as np
    from PIL import Image

    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        pixels = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / f"{i:03d}.png")
    return root


def _resize_args(manifest: Path, root: Path, out: Path, skipped: Path) -> list[str]:
    return ["images", "resize", "--manifest", str(manifest), "--root", str(root)] + [
        "--shard", "0", "--shard-size", "64", "--image-size", "32", "--encoding", "png",
        "--out", str(out), "--skipped", str(skipped),
    ]  # fmt: skip


def test_full_disk_in_resize_setdist_embed_is_one_line_naming_the_file(
    tmp_path: Path, full_disk: Path, tiny_clip_dir: Path, capsys
) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = _noise_images(tmp_path / "imgs", 40)
    manifest = tmp_path / "manifest.parquet"
    assert (
        main(
            ["images", "manifest", "--format", "folder", "--root", str(root)]
            + ["--out", str(manifest)]
        )
        == 0
    )
    shard = tmp_path / "shard.parquet"
    assert main(_resize_args(manifest, root, shard, tmp_path / "skipped.parquet")) == 0
    rng = np.random.default_rng(1)
    sets = [sorted({f"w{t}" for t in rng.integers(0, 500, 60)}) for _ in range(300)]
    table = {"image": pa.array(range(300), pa.int32()), "coco_id": pa.array(range(300))}
    pq.write_table(pa.table({**table, "tokens": sets}), tmp_path / "sets.parquet")
    capsys.readouterr()
    commands = {
        "resize": _resize_args(manifest, root, full_disk / "shard.parquet", full_disk / "s.pq"),
        "setdist": ["imagespace", "setdist", "--sets", str(tmp_path / "sets.parquet")]
        + ["--out", str(full_disk / "setdist")],
        "embed": ["embed", "images", "--shard", str(shard), "--model", str(tiny_clip_dir)]
        + ["--model-id", "m", "--device", "cpu", "--out", str(full_disk / "emb.parquet")],
    }
    for name, argv in commands.items():
        status = main(argv)
        err = capsys.readouterr().err
        lines = _error_lines(err)
        assert status == 2, (name, err[-2000:])
        assert len(lines) == 1 and "Traceback" not in err, (name, err[-2000:])
        assert f"error: {full_disk}/" in lines[0] and "No space left on device" in lines[0]
    left = [p.name for p in full_disk.rglob("*") if ".tmp-" in p.name]
    assert left == []  # no temporary of the failed writes stays behind


# ---------------------------------------------------------------- output folders (case: outdir-*)


def test_a_failed_demo_data_run_leaves_the_old_folder_whole(tmp_path: Path, monkeypatch) -> None:
    import semspace.demo.vwsd as demo_vwsd

    out = tmp_path / "vwsd"
    assert main(["vwsd", "demo-data", "--out", str(out)]) == 0
    before = sorted(p.relative_to(out).as_posix() for p in out.rglob("*"))
    assert "demo.data.txt" in before

    def half(folder, seed=0):
        (Path(folder) / "demo.data.txt").write_text("half\n")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(demo_vwsd, "write_demo_vwsd", half)
    assert main(["vwsd", "demo-data", "--out", str(out)]) == 2
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == before
    assert (out / "demo.data.txt").read_text() != "half\n"
    assert [p.name for p in tmp_path.iterdir()] == ["vwsd"]  # no temporary left


def test_a_folder_from_another_run_is_replaced_whole(tmp_path: Path) -> None:
    out = tmp_path / "lava"
    out.mkdir()
    (out / "from-another-run.txt").write_text("old")
    assert main(["syntax", "demo-data", "--out", str(out)]) == 0
    assert not (out / "from-another-run.txt").exists() and (out / "lava.json").is_file()


# ---------------------------------------------------------------- numbers (case: seed-negative)


def test_negative_seed_is_refused_in_config_and_cli(capsys) -> None:
    import yaml

    from semspace.config import validate_config

    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["runtime"]["seed"] = -1
    with pytest.raises(ConfigError, match="config key runtime.seed: -1 is less than"):
        validate_config(config)
    with pytest.raises(SystemExit) as info:
        main(
            ["embed", "images", "--shard", "x", "--model", "m", "--model-id", "m"]
            + ["--out", "x", "--seed", "-1"]
        )
    assert info.value.code == 2 and "--seed: -1 is outside" in capsys.readouterr().err


# ---------------------------------------------------------------- image kinds (case: image-*)


def test_image_kinds_a_researcher_brings_decode_or_are_counted(tmp_path: Path) -> None:
    """CMYK, 16-bit, palette, animated, EXIF-rotated decode to upright RGB; empty, truncated and
    not-an-image files are skips with their reason; a non-ASCII folder name is fine."""
    import numpy as np
    from PIL import Image

    from semspace.images import BadImageError, decode_image

    root = tmp_path / "sub ü"
    root.mkdir()
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (40, 60, 3), dtype=np.uint8)
    Image.fromarray(rgb).convert("CMYK").save(root / "cmyk.jpg")
    grey16 = np.full((40, 60), 65535, dtype=np.uint16)
    Image.fromarray(grey16).save(root / "g16.png")
    Image.fromarray(rgb).convert("P").save(root / "pal.png")
    frames = [Image.fromarray(np.full((40, 60, 3), v, np.uint8)) for v in (10, 200)]
    frames[0].save(root / "anim.gif", save_all=True, append_images=frames[1:])
    img = Image.fromarray(rgb)
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    img.save(root / "rot.jpg", exif=exif)
    Image.fromarray(rgb).save(root / "rgb.png")
    (root / "zero.png").write_bytes(b"")
    (root / "text.jpg").write_text("not an image")
    (root / "trunc.png").write_bytes((root / "rgb.png").read_bytes()[:200])

    for name in ("cmyk.jpg", "g16.png", "pal.png", "anim.gif"):
        out = decode_image(root / name)
        assert out.mode == "RGB" and out.size == (60, 40), name
    assert np.asarray(decode_image(root / "g16.png")).min() == 255  # 65535 -> 255, not clipped
    assert np.asarray(decode_image(root / "anim.gif"))[0, 0, 0] in range(5, 16)  # first frame
    assert decode_image(root / "rot.jpg").size == (40, 60)  # upright: width and height swapped
    for name, reason in [("zero.png", "empty"), ("text.jpg", "not_an_image")] + [
        ("trunc.png", "truncated")
    ]:
        with pytest.raises(BadImageError) as info:
            decode_image(root / name)
        assert info.value.reason == reason, name


# ---------------------------------------------------------------- captions (case: captions-none)


def test_an_image_without_captions_is_a_counted_skip_not_a_later_error(
    tmp_path: Path, caplog
) -> None:
    """Before: the image kept its index, so the captions table ran 0, 2 and `imagespace setdist`
    failed two stages later naming tokensets.parquet ("column 'image' must run 0..n-1")."""
    import json

    import pyarrow.parquet as pq

    entries = [
        {"cocoid": c, "filename": f"COCO_val2014_{c:012d}.jpg", "split": "test", "sentences": s}
        for c, s in [
            (1, [{"raw": "a dog on grass", "tokens": ["a", "dog", "on", "grass"]}]),
            (2, []),
            (3, [{"raw": "a cat", "tokens": ["a", "cat"]}]),
        ]
    ]
    source = tmp_path / "captions.json"
    source.write_text(json.dumps({"images": entries}), encoding="utf-8")
    captions, sets = tmp_path / "captions.parquet", tmp_path / "sets.parquet"
    assert main(["imagespace", "captions", "--captions", str(source), "--out", str(captions)]) == 0
    table = pq.read_table(captions)
    assert table["image"].to_pylist() == [0, 1] and table["coco_id"].to_pylist() == [1, 3]
    assert f"{source}: 1 of 3 images have no caption and are left out (coco ids 2)" in caplog.text
    assert main(["imagespace", "tokensets", "--captions", str(captions), "--out", str(sets)]) == 0
    assert main(["imagespace", "setdist", "--sets", str(sets), "--out", str(tmp_path / "d")]) == 0
    source.write_text(json.dumps({"images": [entries[1]]}), encoding="utf-8")
    with pytest.raises(Exception, match="none of its 1 images has a caption"):
        from semspace.datasets.coco import read_captions

        read_captions(source)


# ---------------------------------------------------------------- dataset format (case: format-*)


def test_dry_run_names_an_unknown_dataset_format(tmp_path: Path) -> None:
    repo = _workflow_copy(tmp_path / "repo")
    overlay = repo / "config" / "mine.yaml"
    overlay.write_text(
        f"run: mine\ndatasets:\n  mine: {{format: folderz, path: {tmp_path}}}\n", encoding="utf-8"
    )
    result = _dry_run(repo, "--configfile", str(overlay))
    assert result.returncode != 0
    assert "config key datasets.mine.format" in result.stdout + result.stderr


# ---------------------------------------------------------------- set distances (case: setdist-*)


def _setdist_sets(path: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    tokens = [["a", "b"], ["b"], ["a", "c"], ["d"], ["a"]]
    ids = pa.array(range(len(tokens)), pa.int32())
    pq.write_table(pa.table({"image": ids, "coco_id": pa.array(range(5)), "tokens": tokens}), path)
    return path


def test_temporaries_a_killed_setdist_left_are_removed_by_the_next_run(tmp_path: Path) -> None:
    """kill -9 in the middle of writing the n x n matrices leaves their temporaries (n² bytes
    each); the next run into the folder removes them (their writer's pid is gone)."""
    import socket

    sets, out = _setdist_sets(tmp_path / "sets.parquet"), tmp_path / "setdist"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], check=True,
                          capture_output=True, text=True).stdout.strip()  # fmt: skip
    out.mkdir()
    host = socket.gethostname()
    stale = [
        out / f".{name}.tmp-{host}-{dead}-abcd1234.npy" for name in ("symdiff.npy", "union.npy")
    ]
    for path in stale:
        path.write_bytes(b"\0" * 4096)
    assert main(["imagespace", "setdist", "--sets", str(sets), "--out", str(out)]) == 0
    assert not any(path.exists() for path in stale)
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []


def test_a_setdist_folder_from_another_run_is_not_mixed(tmp_path: Path) -> None:
    """A run with the matrices, then one with --no-matrices into the same folder: the matrices of
    the first run stayed beside the second's summary ("matrices": false)."""
    sets, out = _setdist_sets(tmp_path / "sets.parquet"), tmp_path / "setdist"
    assert main(["imagespace", "setdist", "--sets", str(sets), "--out", str(out)]) == 0
    assert (out / "symdiff.npy").is_file()
    argv = ["imagespace", "setdist", "--sets", str(sets), "--out", str(out), "--no-matrices"]
    assert main(argv) == 0
    assert not (out / "symdiff.npy").exists()


# ---------------------------------------------------------------- embeddings (case: embed-nan)


def _embeddings_with(path: Path, values: list[list[float] | None]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    col = pa.array(values, type=pa.list_(pa.float32(), 3))
    keys = [f"k{i}" for i in range(len(values))]
    pq.write_table(pa.table({"key": keys, "embedding": col, "model": ["m"] * len(values)}), path)
    return path


@pytest.mark.parametrize(
    ("bad", "what"),
    [
        ([float("nan"), 0.0, 1.0], "NaN or infinite"),
        ([float("inf"), 0.0, 1.0], "NaN or infinite"),
        ([None, 0.0, 1.0], "empty \\(null\\)"),
        (None, "empty \\(null\\)"),
    ],
)
def test_non_finite_or_null_embeddings_name_file_column_and_key(
    tmp_path: Path, bad, what: str
) -> None:
    """Before: NaN, inf and a null value were read as numbers (rankings and maps of garbage,
    exit 0); a null row crashed in numpy's reshape (a traceback)."""
    from semspace.embed import read_embeddings
    from semspace.errors import InputFormatError

    path = _embeddings_with(tmp_path / "emb.parquet", [[1.0, 0.0, 0.0], bad, [0.0, 1.0, 0.0]])
    with pytest.raises(InputFormatError) as info:
        read_embeddings(path)
    assert str(info.value).startswith(f"{path}: column embedding: 1 of 3 rows hold ")
    assert "(first: row 1, key 'k1')" in str(info.value)
    assert __import__("re").search(what, str(info.value))


def test_vwsd_score_on_a_nan_embedding_exits_2_naming_the_file(
    tmp_path: Path, tiny_clip_dir: Path, capsys
) -> None:
    """Before: exit 0, the NaN image ranked somewhere among the candidates of its items."""
    import json

    import numpy as np
    import pyarrow.parquet as pq
    from PIL import Image

    from semspace.embed import embed_images, embedding_table, load_clip
    from semspace.experiments.vwsd import DEFAULT_PROMPTS

    root = tmp_path / "demo"
    assert main(["vwsd", "demo-data", "--out", str(root)]) == 0
    clip = load_clip(tiny_clip_dir, device="cpu")
    names = sorted(p.name for p in (root / "images").iterdir())
    vectors = embed_images(clip, [Image.open(root / "images" / n).convert("RGB") for n in names])
    vectors[3, 5] = np.nan
    emb = tmp_path / "emb.parquet"
    pq.write_table(embedding_table(names, vectors, "clip", vectors.shape[1]), emb)
    capsys.readouterr()
    status = main(
        ["vwsd", "score", "--split", "demo", "--data", str(root / "demo.data.txt")]
        + ["--embeddings", str(emb), "--model", str(tiny_clip_dir), "--model-id", "clip"]
        + ["--prompts", json.dumps(DEFAULT_PROMPTS), "--device", "cpu"]
        + ["--out", str(tmp_path / "items.parquet")]
    )
    lines = _error_lines(capsys.readouterr().err)
    assert status == 2 and len(lines) == 1
    assert f"{emb}: column embedding: 1 of {len(names)} rows" in lines[0]
    assert f"key '{names[3]}'" in lines[0]
    assert not (tmp_path / "items.parquet").exists()


def test_a_model_giving_nan_stops_the_embedding_naming_shard_and_key(
    tmp_path: Path, tiny_clip_dir: Path, monkeypatch, capsys
) -> None:
    """Before: a float16 overflow's NaN vectors were written as embeddings (exit 0)."""
    import numpy as np

    import semspace.embed as E

    root = _noise_images(tmp_path / "imgs", 6, size=32)
    manifest, shard = tmp_path / "manifest.parquet", tmp_path / "shard.parquet"
    argv = ["images", "manifest", "--format", "folder", "--root", str(root), "--out"]
    assert main([*argv, str(manifest)]) == 0
    assert main(_resize_args(manifest, root, shard, tmp_path / "skipped.parquet")) == 0
    real = E.embed_images

    def overflowing(clip, images):
        out = real(clip, images)
        out[-1] = np.inf
        return out

    monkeypatch.setattr(E, "embed_images", overflowing)
    out = tmp_path / "emb.parquet"
    capsys.readouterr()
    status = main(
        ["embed", "images", "--shard", str(shard), "--model", str(tiny_clip_dir)]
        + ["--model-id", "m", "--device", "cpu", "--out", str(out)]
    )
    lines = _error_lines(capsys.readouterr().err)
    assert status == 2 and len(lines) == 1 and not out.exists()
    assert f"{shard}: model m" in lines[0] and "NaN or infinite embeddings for 1 images" in lines[0]


# ---------------------------------------------------------------- text encodings (case: text-*)


def _text_readers() -> dict[str, tuple[str, object]]:
    """reader name -> (file text, function of the path): every reader of a researcher's text
    files (captions JSON, V-WSD data, Flickr30k Entities sentences, LAVA parses, sentences)."""
    import json

    from semspace.datasets.coco import read_captions
    from semspace.datasets.flickr import read_sentences as entity_sentences
    from semspace.datasets.lava import read_parses
    from semspace.datasets.vwsd import read_data
    from semspace.experiments.syntax import read_sentences

    caption = {"raw": "un caf\u00e9 \u00e0 Z\u00fcrich", "tokens": ["un", "caf\u00e9"]}
    entry = {"cocoid": 7, "filename": "x_000000000007.jpg", "split": "test", "sentences": [caption]}
    images = [f"image.{i}.jpg" for i in range(10)]
    return {
        "captions-json": (
            json.dumps({"images": [entry]}, ensure_ascii=False, indent=1),
            lambda p: read_captions(p).to_pylist(),
        ),
        "vwsd-data": (
            "\n".join(["\t".join(["caf\u00e9", "caf\u00e9 cr\u00e8me", *images])] * 2) + "\n",
            lambda p: [(it.target, it.phrase, it.candidates) for it in read_data(p)],
        ),
        "entities-sentences": (
            "[/EN#1/people A ma\u00f1ana man] rides .\nA [/EN#2/other bike] .\n",
            lambda p: entity_sentences(p),
        ),
        "lava-parses": (
            "0\t(S (NP I) (VP saw))\n1\t(S (NP y\u00f6u) (VP ran))\n",
            lambda p: {k: [str(t) for t in v] for k, v in read_parses(p).items()},
        ),
        "sentences": ("na\u00efve sentence\nanother one\n", lambda p: read_sentences(p)),
    }


@pytest.mark.parametrize("reader", list(_text_readers()))
@pytest.mark.parametrize("encoding", ["utf-8-bom", "utf-16", "utf-16-be-bom", "crlf"])
def test_data_files_with_a_bom_in_utf16_or_crlf_read_as_utf8(
    tmp_path: Path, reader: str, encoding: str
) -> None:
    """Before: a UTF-8 BOM failed the JSON readers ("Unexpected UTF-8 BOM") and LAVA's parses
    (line 1 "expected 'index<TAB>tree'") and stayed silently in the first of the sentences;
    UTF-16 (what Windows editors call "Unicode") was "not UTF-8" everywhere. CRLF was fine."""
    text, read = _text_readers()[reader]
    plain = tmp_path / "plain.data.txt"
    plain.write_bytes(text.encode("utf-8"))
    other = tmp_path / "other.data.txt"
    data = {
        "utf-8-bom": b"\xef\xbb\xbf" + text.encode("utf-8"),
        "utf-16": text.encode("utf-16"),  # with the BOM of the machine's byte order
        "utf-16-be-bom": b"\xfe\xff" + text.encode("utf-16-be"),
        "crlf": text.replace("\n", "\r\n").encode("utf-8"),
    }[encoding]
    other.write_bytes(data)
    assert read(other) == read(plain)


@pytest.mark.parametrize("reader", list(_text_readers()))
def test_utf16_without_a_bom_is_one_clear_line(tmp_path: Path, reader: str) -> None:
    """Before: ASCII text saved as UTF-16 without a BOM is valid UTF-8 with a NUL after every
    character: read as garbage (V-WSD: no candidate image found) or an unclear parse error."""
    from semspace.errors import InputFormatError

    text, read = _text_readers()[reader]
    path = tmp_path / "x.data.txt"
    path.write_bytes(text.encode("utf-16-le"))
    with pytest.raises(InputFormatError) as info:
        read(path)
    assert str(info.value).startswith(f"{path}:1: ") and "NUL bytes" in str(info.value)


def test_a_latin1_data_file_names_its_line(tmp_path: Path) -> None:
    from semspace.datasets.vwsd import read_data
    from semspace.errors import InputFormatError

    images = "\t".join(f"image.{i}.jpg" for i in range(10))
    path = tmp_path / "x.data.txt"
    path.write_bytes(
        f"bank\triver bank\t{images}\ncaf\u00e9\tcaf\u00e9\t{images}\n".encode("latin-1")
    )
    with pytest.raises(InputFormatError, match=rf"^{path}:2: not valid UTF-8 text"):
        read_data(path)


# ---------------------------------------------------------------- working directory (case: cwd-*)


def test_relative_paths_from_another_working_directory(
    tmp_path: Path, tiny_clip_dir: Path, monkeypatch
) -> None:
    """The chain manifest -> resize -> embed with relative paths from the data's folder gives the
    files of the absolute-path chain; a killed embedding resumed from another folder, by another
    relative path to the same shard, keeps its parts. Before: the resume stamp held the shard's
    path as typed, so the rerun discarded the parts and redid them all."""
    import pyarrow.parquet as pq

    from semspace.embed import embed_shard, load_clip, work_dir

    data = tmp_path / "data"
    _noise_images(data / "imgs", 12, size=40)
    (tmp_path / "elsewhere").mkdir()

    def chain(root: str, manifest: str, shard: str, emb: str) -> None:
        argv = ["images", "manifest", "--format", "folder", "--root", root, "--out", manifest]
        assert main(argv) == 0
        assert main(_resize_args(Path(manifest), Path(root), Path(shard), Path(shard + ".sk"))) == 0
        argv = ["embed", "images", "--shard", shard, "--model", str(tiny_clip_dir)]
        assert main([*argv, "--model-id", "m", "--device", "cpu", "--out", emb]) == 0

    absolute = tmp_path / "abs"
    absolute.mkdir()
    chain(str(data / "imgs"), *(str(absolute / n) for n in ("m.parquet", "s.parquet", "e.parquet")))
    monkeypatch.chdir(data)
    chain("imgs", "m.parquet", "s.parquet", "e.parquet")
    for name in ("m.parquet", "s.parquet", "e.parquet"):
        assert pq.read_table(data / name).equals(pq.read_table(absolute / name)), name

    def run(shard: str, after_part=None) -> dict[str, int]:
        return embed_shard(
            shard,
            "resumed.parquet" if Path.cwd() == data else "../data/resumed.parquet",
            load=lambda: load_clip(tiny_clip_dir, device="cpu"),
            model_id="m",
            dim=32,
            batch_size=4,
            flush_every=4,
            after_part=after_part,
        )

    def killed(i: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run("s.parquet", killed)
    assert len(list(work_dir(data / "resumed.parquet").glob("part-*"))) == 1
    monkeypatch.chdir(tmp_path / "elsewhere")
    counts = run("../data/s.parquet")
    assert counts == {"rows": 12, "resumed": 4, "computed": 8}
    assert pq.read_table(data / "resumed.parquet").equals(pq.read_table(data / "e.parquet"))


# ------------------------------------------------------------ model folders (case: outdir-model)


def _failing_processor_save(monkeypatch) -> None:
    """The model's save fails on a full disk after writing its config and half the weights:
    what a model folder looks like when the disk fills mid-save."""
    from transformers import PreTrainedModel

    def half(self, folder, *args, **kwargs):
        self.config.save_pretrained(folder)
        (Path(folder) / "model.safetensors").write_bytes(b"\0" * 100)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(PreTrainedModel, "save_pretrained", half)


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def test_demo_model_folder_written_whole_or_not_at_all(tmp_path: Path, monkeypatch) -> None:
    """`semspace demo tiny-clip` over a folder of another run replaces it whole; failing mid-save,
    it leaves the old folder as it was and no temporary."""
    out = tmp_path / "clip"
    out.mkdir()
    (out / "from-another-run.bin").write_bytes(b"old")
    assert main(["demo", "tiny-clip", "--out", str(out)]) == 0
    before = _tree(out)
    assert "from-another-run.bin" not in before and "model.safetensors" in before
    _failing_processor_save(monkeypatch)
    assert main(["demo", "tiny-clip", "--out", str(out), "--seed", "3"]) == 2
    assert _tree(out) == before
    assert [p.name for p in tmp_path.iterdir()] == ["clip"]


def test_syntax_finetune_writes_its_model_folder_whole(tmp_path: Path, tiny_clip_dir: Path,
                                                       monkeypatch) -> None:  # fmt: skip
    """A fine-tune failing while it saves the model leaves the folder of the previous run whole
    (config and weights of one run, never a mix) and no temporary beside it."""
    root, items = tmp_path / "lava", tmp_path / "items.parquet"
    assert main(["syntax", "demo-data", "--out", str(root)]) == 0
    argv = ["syntax", "items", "--root", str(root), "--frame-ext", ".png", "--out", str(items)]
    assert main([*argv, "--counts", str(tmp_path / "counts.json")]) == 0
    out, runs = tmp_path / "models" / "ft", tmp_path / "models"

    def finetune(steps: int) -> int:
        return main(
            ["syntax", "finetune", "--items", str(items), "--images", str(root)]
            + ["--model-dir", str(tiny_clip_dir), "--input", "compact", "--batch-size", "4"]
            + ["--steps", str(steps), "--learning-rate", "1e-3", "--device", "cpu"]
            + ["--out", str(out), "--loss-log", str(tmp_path / f"loss{steps}.parquet")]
        )

    assert finetune(2) == 0
    before = _tree(out)
    _failing_processor_save(monkeypatch)
    assert finetune(3) == 2
    assert _tree(out) == before
    assert [p.name for p in runs.iterdir()] == ["ft"]


def test_vwsd_score_refuses_image_embeddings_of_another_model(
    tmp_path: Path, tiny_clip_dir: Path, capsys
) -> None:
    """Embeddings of model A scored with the texts of model B (a hand-run `vwsd score` pointed
    at another model's shards). Before: exit 0, rankings of two unrelated spaces."""
    import json

    import pyarrow.parquet as pq
    from PIL import Image

    from semspace.embed import embed_images, embedding_table, load_clip
    from semspace.experiments.vwsd import DEFAULT_PROMPTS

    root = tmp_path / "demo"
    assert main(["vwsd", "demo-data", "--out", str(root)]) == 0
    clip = load_clip(tiny_clip_dir, device="cpu")
    names = sorted(p.name for p in (root / "images").iterdir())
    vectors = embed_images(clip, [Image.open(root / "images" / n).convert("RGB") for n in names])
    emb = tmp_path / "emb.parquet"
    pq.write_table(embedding_table(names, vectors, "clip_ft", vectors.shape[1]), emb)
    argv = ["vwsd", "score", "--split", "demo", "--data", str(root / "demo.data.txt")] + [
        "--embeddings", str(emb), "--model", str(tiny_clip_dir), "--prompts",
        json.dumps(DEFAULT_PROMPTS), "--device", "cpu", "--out", str(tmp_path / "items.parquet"),
    ]  # fmt: skip
    capsys.readouterr()
    assert main([*argv, "--model-id", "clip"]) == 2
    lines = _error_lines(capsys.readouterr().err)
    assert len(lines) == 1 and f"{emb}: column model: {len(names)} of {len(names)} rows" in lines[0]
    assert "of 'clip_ft', not of 'clip' (--model-id)" in lines[0]
    assert main([*argv, "--model-id", "clip_ft"]) == 0


def test_a_key_in_two_embedding_files_with_two_vectors_names_both(tmp_path: Path) -> None:
    """Overlapping shards of two runs given together: before, each stage's lookup by key kept
    one of the two vectors silently. The same vector twice (a file given twice) stays fine."""
    from semspace.embed import read_embeddings
    from semspace.errors import InputFormatError

    a = _embeddings_with(tmp_path / "a.parquet", [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    b = _embeddings_with(tmp_path / "b.parquet", [[0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    assert read_embeddings([a, a])[0] == ["k0", "k1", "k0", "k1"]
    with pytest.raises(InputFormatError) as info:
        read_embeddings([a, b])
    assert str(info.value).startswith(f"{b}: key 'k0' is also in {a} with another vector")
