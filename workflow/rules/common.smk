# Helpers shared by all rules: config validation and look-ups, and input functions.
# Rules call these by name; no rule holds a lambda.

import json
import os
from pathlib import Path

import polars as pl
from semspace.codeversion import code_digest
from semspace.config import validate_config
from semspace.images import shard_ids as images_shard_ids

# Our validator rather than snakemake.utils.validate: it also fills in defaults inside the
# per-experiment schema files that config.schema.yaml refers to, and names keys as paths.
# The schema ships inside the package (semspace/config_schema/).
validate_config(config)


# ---------------------------------------------------------------- run folders


def result_path(path):
    """`results/<run>/<path>`: each config's run keeps its results apart (config key `run`)."""
    return f"results/{config['run']}/{path}"


def log_path(path):
    return f"logs/{config['run']}/{path}"


def benchmark_path(path):
    return f"benchmarks/{config['run']}/{path}"


# ---------------------------------------------------------------- datasets and models


def dataset_config(dataset):
    try:
        return config["datasets"][dataset]
    except KeyError:
        raise ValueError(
            f"config key datasets.{dataset} is missing; known datasets: "
            f"{', '.join(sorted(config['datasets']))}"
        ) from None


def dataset_root(dataset):
    """The dataset's folder: its local `path` when given, else where `download` puts it."""
    entry = dataset_config(dataset)
    if "path" in entry:
        return entry["path"]
    return f"resources/datasets/{dataset}"


def model_config(model):
    try:
        return config["models"][model]
    except KeyError:
        raise ValueError(
            f"config key models.{model} is missing; known models: "
            f"{', '.join(sorted(config['models']))}"
        ) from None


def model_dir(model):
    """The model's folder: its local `path` when given, else where `download_model` puts it."""
    entry = model_config(model)
    if "path" in entry:
        return entry["path"]
    return f"resources/models/{model}"


def dataset_root_input(wildcards):
    return dataset_root(wildcards.dataset)


def dataset_images_root_input(wildcards):
    """The folder of the dataset named by `images_from` (none when the images are its own)."""
    source = dataset_config(wildcards.dataset).get("images_from")
    return [dataset_root(source)] if source else []


def dataset_format(wildcards):
    return dataset_config(wildcards.dataset)["format"]


def dataset_options(dataset):
    """Reader options; with `images_from`, `images` (and `karpathy`) become paths relative to this
    dataset's folder that lead into the other dataset's folder (so both may live anywhere).
    """
    entry = dataset_config(dataset)
    options = dict(entry.get("options", {}))
    source = entry.get("images_from")
    if source:
        for key in ("images", "karpathy"):  # the options that name files of the source
            if key in options or key == "images":
                path = os.path.join(dataset_root(source), options.get(key, ""))
                options[key] = os.path.relpath(path, dataset_root(dataset))
    return options


def dataset_options_json(wildcards):
    return json.dumps(dataset_options(wildcards.dataset))


def download_spec(wildcards):
    """The dataset's `downloads` list as JSON for `semspace download dataset --spec`."""
    entry = dataset_config(wildcards.dataset)
    if "downloads" not in entry:
        raise ValueError(
            f"datasets.{wildcards.dataset} has a local path; nothing to download"
        )
    return json.dumps(entry["downloads"])


def model_dir_input(wildcards):
    return model_dir(wildcards.model)


def model_hub_id(wildcards):
    return model_config(wildcards.model)["hub_id"]


def model_revision(wildcards):
    return model_config(wildcards.model).get("revision", "main")


def model_image_size(wildcards):
    entry = model_config(wildcards.model)
    if "image_size" not in entry:
        raise ValueError(
            f"config key models.{wildcards.model}.image_size is needed to resize images"
        )
    return entry["image_size"]


# ---------------------------------------------------------------- image shards and embeddings


def shard_ids(dataset):
    """Shard names of a dataset (`00000`, ...), from its manifest (a checkpoint); the count is
    `semspace.images.shard_ids`, the one the `images resize` command splits by."""
    manifest = checkpoints.images_manifest.get(dataset=dataset).output.manifest
    n_rows = pl.scan_parquet(manifest).select(pl.len()).collect().item()
    return images_shard_ids(n_rows, config["images"]["shard_size"])


def embedding_shards(dataset, model):
    """Every image-embedding shard of a dataset under a model: the input of an experiment."""
    return [
        result_path(f"embeddings/{dataset}/{model}/{s}.parquet")
        for s in shard_ids(dataset)
    ]


def skipped_lists(dataset, model):
    return [
        result_path(f"shards/{dataset}/{model}/{s}.skipped.parquet")
        for s in shard_ids(dataset)
    ]


def embedding_shards_of_wildcards(wildcards):
    return embedding_shards(wildcards.dataset, wildcards.model)


def skipped_lists_of_wildcards(wildcards):
    return skipped_lists(wildcards.dataset, wildcards.model)


def embedding_summary(dataset, model):
    """Summary of a dataset's embeddings (rows, skips); depends on every shard."""
    return result_path(f"embeddings/{dataset}/{model}.summary.json")


# ---------------------------------------------------------------- targets


def experiment_outputs(experiment):
    """Tables and figures of one experiment section (E5 includes its LLM branch)."""
    targets = {
        "vwsd": vwsd_final_output,
        "imagespace": imagespace_final_output,
        "retrieval": retrieval_final_output,
        "syntax": syntax_final_output,
        "softtext": softtext_final_output,
    }
    return targets[experiment]()


def experiment_target(experiment):
    """Input function of the `<experiment>_all` rule: its tables, figures and provenance."""

    def inputs(wildcards):
        return experiment_outputs(experiment) + [
            result_path(f"{experiment}/provenance.json")
        ]

    return inputs


def get_final_output():
    """Every table and figure of the enabled experiments, with their provenance records: the
    inputs of `rule all`."""
    outputs = []
    for experiment in experiment_sections():
        if config[experiment]["enabled"]:
            outputs.extend(experiment_outputs(experiment))
    outputs.extend(embedding_final_output())
    outputs.extend(provenance_final_output())
    return outputs
