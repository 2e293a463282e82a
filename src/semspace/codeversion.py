"""Digest of the code a CLI group runs, so that a code change re-runs the stages it changes.

Rules put ``code_digest(<group>)`` in their params; Snakemake re-runs a job whose params changed.
The digest covers ``semspace.cli.<group>`` and every ``semspace`` module it imports, directly or
through other modules, at any depth (imports inside functions included, as the CLI imports
lazily)."""

from __future__ import annotations

import ast
import hashlib
from functools import cache
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def module_file(name: str) -> Path | None:
    """The source file of module ``semspace.x.y`` (a package's ``__init__.py``), if any."""
    parts = name.split(".")[1:]
    base = PACKAGE_DIR.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_modules(path: Path, name: str) -> set[str]:
    """``semspace`` modules named by the import statements of one source file."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return {m for m in found if m == "semspace" or m.startswith("semspace.")}


@cache
def module_closure(name: str) -> tuple[str, ...]:
    """``name`` and every ``semspace`` module reachable from it by imports, sorted."""
    seen, todo = set(), [name]
    while todo:
        current = todo.pop()
        path = module_file(current)
        if current in seen or path is None:
            continue
        seen.add(current)
        todo.extend(imported_modules(path, current) - seen)
    return tuple(sorted(seen))


def code_digest(group: str) -> str:
    """SHA-256 (first 16 hex digits) of the sources that ``semspace <group> ...`` runs."""
    digest = hashlib.sha256()
    for name in module_closure(f"semspace.cli.{group}"):
        digest.update(name.encode() + b"\0" + module_file(name).read_bytes() + b"\0")
    return digest.hexdigest()[:16]
