# E5's LLM branch: falcon-7b-instruct associations of COCO captions (see DESIGN.md, E5 and
# docs/association.md). One GPU job per shard of images (`semspace.llm.shards`, fixed in the
# config, so no checkpoint is needed), then one merge into the tables the E5 rules read:
#   results/semspace/llm/tokensets.parquet   (schema semspace.schemas.TOKENSETS)


def association_llm():
    return config["semspace"]["llm"]


def association_shard_files(wildcards):
    """Every shard output of the association stage, numbered 00000.. from `llm.shards`."""
    return [
        f"results/semspace/llm/shards/{s:05d}.parquet"
        for s in range(association_llm()["shards"])
    ]


def association_model_dir(wildcards):
    return model_dir(association_llm()["model"])


def association_decoding_json(wildcards):
    return json.dumps(association_llm()["decoding"], sort_keys=True)


def association_setting(key):
    """An input function returning `semspace.llm.<key>` (read at job time, not at parse time)."""

    def setting(wildcards):
        return association_llm()[key]

    setting.__name__ = f"association_{key}"
    return setting


def association_limit_args(wildcards):
    limit = association_llm()["limit_images"]
    return "" if limit is None else f"--limit-images {limit}"


rule association_generate:
    input:
        captions="results/semspace/captions.parquet",
        model=association_model_dir,
    output:
        shard="results/semspace/llm/shards/{shard}.parquet",
    log:
        "logs/association/generate/{shard}.log",
    benchmark:
        "benchmarks/association/generate/{shard}.tsv"
    conda:
        "../../envs/gpu.yaml"
    threads: 1
    resources:
        gpu=1,
    params:
        shards=association_setting("shards"),
        rounds=association_setting("rounds"),
        instruction=association_setting("instruction"),
        batch_size=association_setting("batch_size"),
        flush_every=association_setting("flush_every"),
        decoding=association_decoding_json,
        limit=association_limit_args,
        runtime=runtime_args(),
    shell:
        "semspace associate generate --captions {input.captions} --model {input.model}"
        " --shard {wildcards.shard} --shards {params.shards} {params.limit}"
        " --rounds {params.rounds} --instruction {params.instruction:q}"
        " --batch-size {params.batch_size} --flush-every {params.flush_every}"
        " --decoding {params.decoding:q} {params.runtime} --threads {threads}"
        " --out {output.shard} > {log} 2>&1"


rule association_merge:
    input:
        captions="results/semspace/captions.parquet",
        shards=association_shard_files,
        model=association_model_dir,
    output:
        associations="results/semspace/llm/associations.parquet",
        texts="results/semspace/llm/association_texts.parquet",
        tokensets="results/semspace/llm/tokensets.parquet",
        stats="results/semspace/llm/token_statistics.parquet",
        examples=report(
            "results/semspace/llm/association_examples.csv",
            caption="../report/association_examples.rst",
            category="Semantic space (E5)",
            subcategory="LLM associations",
        ),
    log:
        "logs/association/merge.log",
    benchmark:
        "benchmarks/association/merge.tsv"
    conda:
        "../../envs/cpu.yaml"
    params:
        rounds=association_setting("rounds"),
        limit=association_limit_args,
        n_examples=association_setting("report_examples"),
    shell:
        "semspace associate merge --captions {input.captions} --model {input.model}"
        " --shard-files {input.shards} {params.limit} --rounds {params.rounds}"
        " --associations {output.associations} --texts {output.texts}"
        " --tokensets {output.tokensets} --stats {output.stats}"
        " --examples {output.examples} --n-examples {params.n_examples} > {log} 2>&1"


def association_final_output():
    """The LLM branch's tables (empty unless both `semspace.enabled` and `semspace.llm.enabled`)."""
    if not (config["semspace"]["enabled"] and association_llm()["enabled"]):
        return []
    return [
        "results/semspace/llm/tokensets.parquet",
        "results/semspace/llm/token_statistics.parquet",
        "results/semspace/llm/association_examples.csv",
    ]
