# Input functions and targets of association.smk (kept apart from the rules, as snakemake --lint asks).


def association_llm():
    return config["imagespace"]["llm"]


def association_shard_files(wildcards):
    """Every shard output of the association stage, numbered 00000.. from `llm.shards`."""
    return [
        result_path(f"imagespace/llm/shards/{s:05d}.parquet")
        for s in range(association_llm()["shards"])
    ]


def association_model_dir(wildcards):
    return model_dir(association_llm()["model"])


def association_decoding_json(wildcards):
    return json.dumps(association_llm()["decoding"], sort_keys=True)
