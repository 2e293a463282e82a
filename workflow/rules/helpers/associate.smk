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


def association_setting(key):
    """An input function returning `imagespace.llm.<key>` (read at job time, not at parse time)."""

    def setting(wildcards):
        return association_llm()[key]

    setting.__name__ = f"association_{key}"
    return setting


def association_limit_args(wildcards):
    limit = association_llm()["limit_images"]
    return "" if limit is None else f"--limit-images {limit}"


def association_final_output():
    """The LLM branch's tables (empty unless both `imagespace.enabled` and `imagespace.llm.enabled`)."""
    if not (config["imagespace"]["enabled"] and association_llm()["enabled"]):
        return []
    return [
        result_path("imagespace/llm/tokensets.parquet"),
        result_path("imagespace/llm/token_statistics.parquet"),
        result_path("imagespace/llm/association_examples.csv"),
    ]
