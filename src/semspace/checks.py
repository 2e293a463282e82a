"""Checks of user inputs that can run before any job: config files and user-placed model folders.

The workflow calls them at parse time (so ``snakemake -n`` reports them) and the CLI calls them
before it loads anything. Every failure is a :class:`~semspace.errors.SemspaceError` whose message
names the file and line, or the config key and the folder, on one line per problem.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from semspace.errors import ConfigError, ModelFolderError

# ---------------------------------------------------------------- YAML files


class _DuplicateKeyError(yaml.constructor.ConstructorError):
    """A mapping with a key given twice."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (PyYAML keeps the last silently,
    so a pasted block would override a setting without a word)."""


def _construct_unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict:
    seen: dict[Any, int] = {}
    for key_node, _value in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        try:
            first = seen.get(key)
        except TypeError:  # an unhashable key: the base constructor reports it
            break
        if first is not None:
            raise _DuplicateKeyError(
                None, None, f"key {key!r} given twice (first on line {first})", key_node.start_mark
            )
        seen[key] = line
    return loader.construct_mapping(node, deep=True)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping
)


def yaml_error_line(path: str | Path, exc: yaml.YAMLError) -> str:
    """``<file>:<line>:<column>: <problem>`` of a PyYAML error, on one line."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    what = f"{problem} ({context})" if context and context != problem else problem
    kind = "YAML error" if isinstance(exc, _DuplicateKeyError) else "YAML syntax error"
    if mark is None:
        return f"{path}: {kind}: {what}"
    return f"{path}:{mark.line + 1}:{mark.column + 1}: {kind}: {what}"


def load_yaml(path: str | Path) -> Any:
    """Parse one YAML (or JSON) file; a syntax error, a key given twice, a file that is not UTF-8
    or not there is a :class:`ConfigError` naming the file and line."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder, not a config file") from None
    try:
        text = data.decode("utf-8-sig")  # a BOM from a Windows editor is fine
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{path}:{line}: not UTF-8 (byte {data[exc.start]:#04x}); save the file as UTF-8"
        ) from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass: safe
    except yaml.YAMLError as exc:
        raise ConfigError(yaml_error_line(path, exc)) from None


def load_config_file(path: str | Path) -> dict[str, Any]:
    """A config file's top-level mapping (an empty file is an empty mapping)."""
    data = load_yaml(path)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}:1: a config file holds keys at the top level (`run: ...`), "
            f"not a {type(data).__name__}"
        )
    return data


def check_config_files(paths: Iterable[str | Path]) -> None:
    """Parse each config file; raise one :class:`ConfigError` with one line per broken file.

    Snakemake's own message for a YAML error ("Config file is not valid JSON or YAML") names
    neither the file nor the line; the Snakefile calls this before its ``configfile:``.
    """
    problems = []
    for path in paths:
        if not Path(path).exists():
            continue  # Snakemake reports a missing config file by name itself
        try:
            load_config_file(path)
        except ConfigError as exc:
            problems.append(str(exc))
    if problems:
        raise ConfigError("\n".join(problems))


# ---------------------------------------------------------------- model folders

#: Config sections of experiments (``enabled: false`` switches one off).
EXPERIMENTS = ("vwsd", "imagespace", "retrieval", "syntax", "softtext")


def model_folder_problem(path: str | Path) -> str | None:
    """Why ``path`` is not a usable ``save_pretrained`` folder, or None when it is one."""
    folder = Path(path).expanduser()
    if not folder.exists():
        return "model folder not found"
    if not folder.is_dir():
        return "not a folder (a model folder holds config.json and weights)"
    if not (folder / "config.json").is_file():
        return "model folder has no config.json"
    if not any(folder.glob("*.safetensors")) and not any(folder.glob("*.bin")):
        return "model folder has no weights (*.safetensors or *.bin)"
    return None


def check_model_folder(path: str | Path) -> Path:
    """``path`` if it is a model folder with config and weights, else :class:`ModelFolderError`."""
    problem = model_folder_problem(path)
    if problem is not None:
        raise ModelFolderError(path, problem)
    return Path(path)


#: Files of which a folder that serves only a tokenizer holds at least one.
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "tokenizer.model")


def looks_like_path(value: str) -> bool:
    """A value that can only be a local folder: it exists, is absolute or ``./``/``~``-relative,
    or has more than one ``/`` (a hub id is ``owner/name``)."""
    return (
        Path(value).expanduser().exists()
        or value.startswith(("/", ".", "~"))
        or value.count("/") > 1
        or "\\" in value
    )


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def _in_hub_cache(repo_id: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - transformers depends on it
        return True
    try:
        return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)
    except ValueError:  # an id the hub library refuses (HFValidationError): not cached
        return False


def check_model_value(value: str, *, weights: bool = True) -> None:
    """The ``--model`` / ``--model-dir`` of a command: a folder with config.json and weights
    (only a tokenizer when ``weights`` is False), or a hub id that can be loaded. Else
    :class:`ModelFolderError` naming it."""
    if not looks_like_path(value):
        if _hub_offline() and not _in_hub_cache(value):
            raise ModelFolderError(
                value,
                "model folder not found, and not a hub id in the local cache "
                "(HF_HUB_OFFLINE=1: run the download step, or give the folder's path)",
            )
        return
    if weights:
        check_model_folder(value)
        return
    folder = Path(value).expanduser()
    if not folder.is_dir():
        raise ModelFolderError(value, "model folder not found")
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        raise ModelFolderError(
            value, f"model folder has no tokenizer files ({', '.join(TOKENIZER_FILES)})"
        )


def models_used(config: Mapping[str, Any]) -> list[str]:
    """Names of ``config['models']`` that the enabled parts of the config refer to.

    Walks ``embed`` and every enabled experiment section for strings naming a model; a branch with
    ``enabled: false`` (imagespace.llm) uses nothing, nor does retrieval's vgg16 section when
    ``vgg16`` is not among its features.
    """
    known = set(config.get("models") or {})
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, str) and value in known:
            found.add(value)
        elif isinstance(value, Mapping):
            if value.get("enabled") is False:
                return
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(config.get("embed") or {})
    for section in EXPERIMENTS:
        part = dict(config.get(section) or {})
        if section == "retrieval" and "vgg16" not in (part.get("features") or []):
            part.pop("vgg16", None)
        walk(part)
    return sorted(found)


def _norm(path: str | Path) -> str:
    return os.path.normpath(os.path.abspath(os.fspath(path)))


def check_model_folders(config: Mapping[str, Any], made_by_rules: Iterable[str] = ()) -> None:
    """Every used model whose config gives a ``path:`` must be a folder with config.json and
    weights; a folder that a rule of the workflow makes (``made_by_rules``, e.g. the demo's tiny
    models) is left to that rule. Raises one :class:`ConfigError` with one line per bad folder:
    ``config key models.<name>.path: <folder>: <problem>``.
    """
    made = {_norm(p) for p in made_by_rules}
    problems = []
    for name in models_used(config):
        entry = config["models"][name] or {}
        path = entry.get("path")
        if not path or _norm(path) in made:
            continue
        problem = model_folder_problem(path)
        if problem is not None:
            problems.append(f"config key models.{name}.path: {path}: {problem}")
    if problems:
        raise ConfigError("\n".join(problems))


# ---------------------------------------------------------------- rehearsal leftovers

#: Written by scripts/rehearsal.sh: the paths its replicas, tiny models and results fill.
REHEARSAL_MARKER = Path("resources/.rehearsal-owns")


def _is_loopback(url: str | None) -> bool:
    return bool(url) and str(url).startswith(("http://127.0.0.1", "http://localhost"))


def check_rehearsal_leftovers(config: Mapping[str, Any], marker: Path = REHEARSAL_MARKER) -> None:
    """Refuse a run that would take a rehearsal's leftovers for its own.

    The rehearsal runs config/config.yaml's own paths, so after it ``resources/models/<alias>``
    holds tiny random models and ``results/main`` their numbers, all "up to date" for Snakemake.
    A later run (no loopback mirror) whose result folder or downloaded models lie there stops
    here, naming the marker and how to clear it. Runs elsewhere (the demo, coco-real) go on.
    """
    if not marker.is_file() or _is_loopback(config.get("downloads_mirror")):
        return
    owned = [Path(line.strip()) for line in marker.read_text().splitlines() if line.strip()]
    used = [Path("results") / str(config.get("run", "main"))]
    used += [
        Path("resources/models") / name
        for name in models_used(config)
        if not (config["models"][name] or {}).get("path")
    ]
    clash = [str(u) for u in used if u.exists() and any(u == o or o in u.parents for o in owned)]
    if clash:
        raise ConfigError(
            f"{marker}: {', '.join(clash)} hold a rehearsal's replicas or tiny random models "
            "(make rehearsal); this run would take them for its own. "
            "Remove them first: make clean-rehearsal"
        )
