# Input functions and targets of semspace.smk (kept apart from the rules, as snakemake --lint asks).


def semspace_branches():
    """`coco`, plus `llm` when semspace.llm.enabled."""
    return ["coco"] + (["llm"] if config["semspace"]["llm"]["enabled"] else [])


def semspace_captions_file(wildcards):
    """The captions file (or folder) of the dataset named by semspace.captions."""
    return dataset_root(config["semspace"]["captions"])


def semspace_captions_options(wildcards):
    return json.dumps(dataset_config(config["semspace"]["captions"]).get("options", {}))


def semspace_setdist_flags(wildcards):
    opts = config["semspace"]["setdist"]
    return f"--top-k {opts['top_k']} --memory-gb {opts['memory_gb']}"


def semspace_mds_flags(wildcards):
    opts = config["semspace"]["mds"]
    flags = [f"--k {opts['k']}", f"--seed {config['runtime']['seed']}"]
    if opts["sqrt"]:
        flags.append("--sqrt")
    if not opts["share"]:
        flags.append("--no-share")
    return " ".join(flags)


def semspace_final_output():
    """Tables and figures of every enabled branch."""
    names = ["tables.md", "stats.csv", "distances.csv", "eigen.csv", "neighbours.csv"]
    names += ["mds_map.png", "token_counts.png", "symdiff_intersection.png"]
    return [
        f"results/semspace/{b}/report/{name}"
        for b in semspace_branches()
        for name in names
    ]
