"""One still frame per video clip (ffmpeg), for datasets such as LAVA that ship videos."""

from __future__ import annotations

import logging
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from semspace.errors import SemspaceError
from semspace.io import atomic_path
from semspace.runtime import progress

log = logging.getLogger(__name__)


class MissingToolError(SemspaceError):
    """A system program the stage needs (ffmpeg) is not on PATH."""


@dataclass
class FrameExtraction:
    """What `extract_frames` did: frames already present, frames copied from those the dataset
    ships, frames made by ffmpeg, clips without a video."""

    present: int = 0
    extracted: int = 0
    missing: list[str] = field(default_factory=list)
    copied: int = 0


def require_ffmpeg() -> None:
    for tool in ("ffmpeg", "ffprobe"):
        if shutil.which(tool) is None:
            raise MissingToolError(
                f"{tool} is needed to extract video frames but is not on PATH; install it "
                "(Debian/Ubuntu: apt-get install ffmpeg, or `make video-tools`) and rerun"
            )


def clip_duration(clip: Path) -> float:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(clip)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return float(out or 0)


def extract_frame(clip: Path, target: Path, position: float) -> None:
    """Write the frame at `position` (0..1 of the clip's duration) to `target`, atomically."""
    at = clip_duration(clip) * position
    with atomic_path(target, suffix=target.suffix) as tmp:
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-ss", f"{at:.3f}", "-i", str(clip)]
            + ["-frames:v", "1", str(tmp)],
            check=True,
        )


def copy_frame(source: Path, target: Path) -> None:
    """Copy a frame the dataset ships to `target`, atomically."""
    with atomic_path(target, suffix=target.suffix) as tmp:
        shutil.copyfile(source, tmp)


def extract_frames(
    targets: Mapping[str, Path],
    videos: Path,
    position: float,
    shipped: Mapping[str, Path] | None = None,
) -> FrameExtraction:
    """One frame per clip name into `targets[name]`: a copy of `shipped[name]` when the dataset
    ships that frame, else the frame at `position` of `videos/<name>.*`.

    Frames already at their target are kept, and shipped ones are copied, so ffmpeg is needed
    only when some frame is neither (the demo and users who unpacked frames need none)."""
    shipped = shipped or {}
    result = FrameExtraction()
    todo = {name: t for name, t in targets.items() if not t.is_file()}
    result.present = len(targets) - len(todo)
    copies = {name: shipped[name] for name in todo if name in shipped and shipped[name].is_file()}
    for name, source in copies.items():
        copy_frame(source, todo.pop(name))
    result.copied = len(copies)
    if todo:
        require_ffmpeg()
    for name, target in progress(sorted(todo.items()), "frames", total=len(todo)):
        clips = sorted(videos.glob(f"{name}.*"))
        if not clips:
            result.missing.append(name)
            continue
        extract_frame(clips[0], target, position)
        result.extracted += 1
    return result
