"""The one resume policy of the stages that keep finished parts across a killed job.

A stage writes its parts into a work folder beside its output, stamped with the settings that
made them (model fingerprint, shard, batch sizes, decoding, ...). A rerun under the same
settings keeps the parts; under other settings, or with an unreadable stamp, the folder is
discarded with a log line and everything is redone, so parts of two settings never mix.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

from semspace.io import write_json

log = logging.getLogger(__name__)

#: The settings stamp inside a work folder.
STAMP = "settings.json"


def discard(work: Path, why: str) -> None:
    """Remove a work folder whose parts cannot be reused, saying why."""
    log.info("discarding %s (%s); redoing its parts", work, why)
    shutil.rmtree(work)


def claim_work_dir(work: str | Path, settings: dict[str, Any]) -> bool:
    """Make ``work`` a folder of parts made under ``settings``; True when earlier parts are kept.

    A folder made under other settings (or without a readable stamp) is discarded first.
    """
    work = Path(work)
    stamp = work / STAMP
    wanted = json.loads(json.dumps(settings))  # as the stamp reads back (tuples → lists)
    if work.exists():
        try:
            previous = json.loads(stamp.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            previous = None
        if previous == wanted:
            return True
        discard(work, "made with other settings" if previous is not None else "no settings stamp")
    work.mkdir(parents=True, exist_ok=True)
    write_json(settings, stamp)
    return False
