# Input functions and targets of vwsd.smk (kept apart from the rules, as snakemake --lint asks).


def vwsd_split_names():
    return [entry["name"] for entry in config["vwsd"]["splits"]]


def vwsd_split(split):
    for entry in config["vwsd"]["splits"]:
        if entry["name"] == split:
            return entry
    raise ValueError(
        f"split {split!r} is not in config key vwsd.splits; known splits: "
        f"{', '.join(vwsd_split_names())}"
    )


def vwsd_root(wildcards):
    return dataset_root(vwsd_split(wildcards.split)["dataset"])


def vwsd_data_path(wildcards):
    entry = vwsd_split(wildcards.split)
    return f"{dataset_root(entry['dataset'])}/{entry['data']}"


def vwsd_gold_path(wildcards):
    """The split's gold file; empty when the config names none (the command then looks beside
    the data file)."""
    entry = vwsd_split(wildcards.split)
    if "gold" not in entry:
        return ""
    return f"{dataset_root(entry['dataset'])}/{entry['gold']}"


def vwsd_language(wildcards):
    return vwsd_split(wildcards.split)["language"]


def vwsd_image_dir(wildcards):
    entry = vwsd_split(wildcards.split)
    images = dataset_config(entry["dataset"]).get("options", {}).get("images", "images")
    return f"{dataset_root(entry['dataset'])}/{images}"


def vwsd_gloss_files(wildcards):
    return expand(
        result_path("vwsd/{split}/glosses/{strategy}.parquet"),
        split=wildcards.split,
        strategy=config["vwsd"]["strategies"],
    )


def vwsd_embedding_shards(wildcards):
    return embedding_shards(vwsd_split(wildcards.split)["dataset"], wildcards.model)


def vwsd_prompts_json(wildcards):
    return json.dumps(config["vwsd"]["prompts"])


def vwsd_references(wildcards):
    """`SPLIT=NAME` of every split with paper figures to show beside ours."""
    return [
        f"{entry['name']}={entry['reference']}"
        for entry in config["vwsd"]["splits"]
        if entry.get("reference")
    ]


def vwsd_items_files(wildcards):
    return expand(
        result_path("vwsd/{split}/{model}/items.parquet"),
        split=vwsd_split_names(),
        model=config["vwsd"]["models"],
    )


def vwsd_final_output():
    """The metrics table, and a ranking figure and correctness list per split and model."""
    outputs = [result_path("vwsd/metrics.csv"), result_path("vwsd/metrics.md")]
    for split in vwsd_split_names():
        for model in config["vwsd"]["models"]:
            outputs.append(result_path(f"vwsd/{split}/{model}/ranking.png"))
            outputs.append(result_path(f"vwsd/{split}/{model}/correctness.csv"))
    return outputs
