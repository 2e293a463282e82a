from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from semspace.config import load_config, validate_config
from semspace.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
CONFIGS = sorted((REPO / "config").glob("*.yaml"))


def minimal() -> dict:
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_shipped_configs_are_valid(path: Path) -> None:
    if path.name == "config.yaml":
        load_config(path)
    else:  # every other config is given with --configfile over config.yaml
        load_config(REPO / "config" / "config.yaml", path)


def test_unknown_key_is_named() -> None:
    config = minimal()
    config["images"]["shard_sise"] = 10
    with pytest.raises(ConfigError, match=r"config key images: .*'shard_sise' was unexpected"):
        validate_config(config)


def test_wrong_type_is_named() -> None:
    config = minimal()
    config["embed"]["batch_size"] = "many"
    with pytest.raises(
        ConfigError, match=r"config key embed.batch_size: 'many' is not of type 'integer'"
    ):
        validate_config(config)


def test_unknown_key_in_experiment_section_is_named() -> None:
    config = minimal()
    config["vwsd"]["enabeld"] = True
    with pytest.raises(ConfigError, match=r"config key vwsd: .*'enabeld' was unexpected"):
        validate_config(config)


def test_defaults_are_filled_in_nested_sections() -> None:
    config = {
        key: {}
        for key in [
            "runtime",
            "images",
            "embed",
            "datasets",
            "models",
            "demo",
            "vwsd",
            "imagespace",
            "retrieval",
            "syntax",
            "softtext",
        ]
    }
    validate_config(config)
    assert config["images"]["shard_size"] == 1024
    assert config["runtime"]["device"] == "auto"
    assert config["demo"]["clip"]["image_size"] == 32
    assert config["vwsd"]["enabled"] is False


def test_dataset_needs_path_or_downloads() -> None:
    config = minimal()
    config["datasets"] = {"x": {"format": "folder"}}
    with pytest.raises(ConfigError, match="config key datasets.x"):
        validate_config(config)
    config["datasets"] = {"x": {"format": "folder", "path": "/data/x"}}
    validate_config(config)


def test_merge_updates_nested_mappings(tmp_path: Path) -> None:
    override = tmp_path / "o.yaml"
    override.write_text("images:\n  shard_size: 7\n")
    config = load_config(REPO / "config" / "config.yaml", override)
    assert config["images"]["shard_size"] == 7
    assert config["images"]["encoding"] == "jpeg"  # kept from config.yaml


def test_unknown_dataset_format_stops_at_start() -> None:
    config = minimal()
    config["datasets"] = {"x": {"format": "folderz", "path": "/data/x"}}
    with pytest.raises(ConfigError, match="config key datasets.x.format"):
        validate_config(config)


def test_every_reader_format_is_allowed_by_the_schema() -> None:
    from semspace.datasets import IMAGE_MANIFESTS

    for fmt in [*IMAGE_MANIFESTS, "coco_captions"]:
        config = minimal()
        config["datasets"] = {"x": {"format": fmt, "path": "/data/x"}}
        validate_config(config)
