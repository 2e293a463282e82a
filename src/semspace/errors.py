"""Exception types. Messages name the file, line or key at fault and say what to do."""

from __future__ import annotations

from pathlib import Path


class SemspaceError(Exception):
    """Base class: the CLI prints these without a traceback and exits with status 2."""


class ConfigError(SemspaceError):
    """A configuration key is missing, unknown or of the wrong type."""


class InputFormatError(SemspaceError):
    """An input file does not follow its format; names the file and, where known, the line."""

    def __init__(self, path: str | Path, message: str, line: int | None = None) -> None:
        self.path = str(path)
        self.line = line
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


class DownloadError(SemspaceError):
    """A download failed after all retries, or its checksum did not match."""


class ModelFolderError(InputFormatError):
    """A model folder given to a command is missing or lacks its config or weights."""


class GpuUnavailableError(SemspaceError):
    """A job that must run on a GPU (``--device cuda`` or ``runtime.require_gpu``) sees none."""
