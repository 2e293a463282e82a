# Input functions and targets of imagespace.smk (kept apart from the rules, as snakemake --lint asks).


def imagespace_branches():
    """`coco`, plus `llm` when imagespace.llm.enabled."""
    return ["coco"] + (["llm"] if config["imagespace"]["llm"]["enabled"] else [])


def imagespace_captions_file(wildcards):
    """The captions file (or folder) of the dataset named by imagespace.captions."""
    return dataset_root(config["imagespace"]["captions"])


def imagespace_captions_options(wildcards):
    return json.dumps(
        dataset_config(config["imagespace"]["captions"]).get("options", {})
    )


def imagespace_streaming():
    """Whether E5 runs without n×n arrays: imagespace.images (the images the captions give, when
    stated) above imagespace.mds.dense_max_images (docs/imagespace.md, "At scale")."""
    n = config["imagespace"].get("images")
    return n is not None and n > config["imagespace"]["mds"]["dense_max_images"]


def imagespace_final_output():
    """Tables and figures of every enabled branch."""
    names = ["tables.md", "stats.csv", "distances.csv", "eigen.csv", "neighbours.csv"]
    names += ["mds_map.png", "token_counts.png", "symdiff_intersection.png"]
    return [
        result_path(f"imagespace/{b}/report/{name}")
        for b in imagespace_branches()
        for name in names
    ]
