"""Config validation against the packaged schema (semspace/config_schema/config.schema.yaml), with
defaults filled in.

The top-level schema refers to one schema file per experiment (``$ref: vwsd.schema.yaml``);
those are inlined here so that defaults inside them are applied too, and errors name the key
as a dotted path (``images.shard_size``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from semspace.errors import ConfigError

# Shipped inside the package, so any install (not only an editable one) validates configs.
SCHEMA_DIR = Path(__file__).resolve().parent / "config_schema"


def load_schema(path: str | Path = SCHEMA_DIR / "config.schema.yaml") -> dict[str, Any]:
    """The config schema with every file reference (``$ref: other.yaml``) inlined."""
    path = Path(path)
    schema = yaml.safe_load(path.read_text(encoding="utf-8"))
    return _inline_file_refs(schema, path.parent)


def _inline_file_refs(node: Any, base: Path) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and not ref.startswith("#"):
            inlined = load_schema(base / ref)
            inlined.pop("$schema", None)
            return inlined
        return {key: _inline_file_refs(value, base) for key, value in node.items()}
    if isinstance(node, list):
        return [_inline_file_refs(item, base) for item in node]
    return node


def _with_defaults(validator_class: type) -> type:
    """A validator that fills in ``default`` values of missing properties while it validates."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(
        validator: Any, properties: Mapping, instance: Any, schema: Mapping
    ) -> Iterator:
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if isinstance(subschema, dict) and "default" in subschema:
                    instance.setdefault(name, _copy(subschema["default"]))
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


def _copy(value: Any) -> Any:
    return yaml.safe_load(yaml.safe_dump(value))


def validate_config(
    config: dict[str, Any], schema_path: str | Path | None = None
) -> dict[str, Any]:
    """Validate ``config`` in place (defaults filled in); raise ConfigError naming the key."""
    schema = load_schema(schema_path) if schema_path else load_schema()
    validator = _with_defaults(jsonschema.Draft202012Validator)(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [_describe(error) for error in errors]
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines))
    return config


def _describe(error: jsonschema.ValidationError) -> str:
    key = ".".join(str(part) for part in error.absolute_path) or "(top level)"
    return f"config key {key}: {error.message}"


def load_config(*paths: str | Path) -> dict[str, Any]:
    """Merge YAML files as Snakemake does (later files update earlier ones), then validate."""
    from semspace.checks import load_config_file

    merged: dict[str, Any] = {}
    for path in paths:  # a YAML error is a ConfigError naming the file and line
        _deep_update(merged, load_config_file(path))
    return validate_config(merged)


def _deep_update(base: dict[str, Any], update: Mapping[str, Any]) -> None:
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _deep_update(base[key], value)
        else:
            base[key] = value
