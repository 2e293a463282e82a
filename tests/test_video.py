"""Frame extraction needs ffmpeg only for frames that are missing."""

from __future__ import annotations

import pytest

from semspace import video


def test_present_frames_need_no_ffmpeg(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))  # no ffmpeg anywhere
    frames = {name: tmp_path / f"{name}.png" for name in ("a", "b")}
    for path in frames.values():
        path.write_bytes(b"\x89PNG")
    done = video.extract_frames(frames, tmp_path / "videos", position=0.5)
    assert (done.present, done.extracted, done.missing) == (2, 0, [])


def test_missing_frame_without_ffmpeg_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    frames = {"a": tmp_path / "a.png"}
    with pytest.raises(video.MissingToolError, match="ffmpeg is needed"):
        video.extract_frames(frames, tmp_path / "videos", position=0.5)


def test_shipped_frames_are_copied_without_ffmpeg(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    shipped = {name: tmp_path / "dataset" / f"{name}.png" for name in ("a", "b")}
    for name, path in shipped.items():
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"\x89PNG" + name.encode())
    out = tmp_path / "out"
    out.mkdir()
    (out / "b.png").write_bytes(b"kept")  # already at its target: left as it is
    targets = {name: out / f"{name}.png" for name in ("a", "b")}
    done = video.extract_frames(targets, tmp_path / "videos", 0.5, shipped=shipped)
    assert (done.present, done.copied, done.extracted, done.missing) == (1, 1, 0, [])
    assert (out / "a.png").read_bytes() == b"\x89PNGa" and (out / "b.png").read_bytes() == b"kept"
    assert shipped["a"].read_bytes() == b"\x89PNGa"  # the dataset's copy is untouched


def test_a_frame_neither_shipped_nor_present_needs_ffmpeg(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    shipped = {"a": tmp_path / "a.png"}
    shipped["a"].write_bytes(b"\x89PNG")
    targets = {name: tmp_path / "out" / f"{name}.png" for name in ("a", "b")}
    with pytest.raises(video.MissingToolError, match="ffmpeg is needed"):
        video.extract_frames(targets, tmp_path / "videos", 0.5, shipped=shipped)
