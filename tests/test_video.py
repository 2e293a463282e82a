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
