# Experiment E1 `vwsd`: visual WSD with CLIP and WordNet (docs/vwsd.md).
# glosses (per split and strategy) -> score (per split and model, from the shared image
# embeddings) -> metrics table for all splits, and a ranking figure per split and model.


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


def vwsd_gold_args(wildcards):
    entry = vwsd_split(wildcards.split)
    if "gold" not in entry:
        return ""
    return f"--gold {dataset_root(entry['dataset'])}/{entry['gold']}"


def vwsd_language(wildcards):
    return vwsd_split(wildcards.split)["language"]


def vwsd_image_dir(wildcards):
    entry = vwsd_split(wildcards.split)
    images = dataset_config(entry["dataset"]).get("options", {}).get("images", "images")
    return f"{dataset_root(entry['dataset'])}/{images}"


def vwsd_gloss_files(wildcards):
    return expand(
        "results/vwsd/{split}/glosses/{strategy}.parquet",
        split=wildcards.split,
        strategy=config["vwsd"]["strategies"],
    )


def vwsd_embedding_shards(wildcards):
    return embedding_shards(vwsd_split(wildcards.split)["dataset"], wildcards.model)


def vwsd_prompts_json(wildcards):
    return json.dumps(config["vwsd"]["prompts"])


def vwsd_reference_args(wildcards):
    return " ".join(
        f"--reference {entry['name']}={entry['reference']}"
        for entry in config["vwsd"]["splits"]
        if entry.get("reference")
    )


def vwsd_items_files(wildcards):
    return expand(
        "results/vwsd/{split}/{model}/items.parquet",
        split=vwsd_split_names(),
        model=config["vwsd"]["models"],
    )


rule vwsd_demo_data:
    output:
        directory("resources/demo/vwsd"),
    log:
        "logs/demo/vwsd.log",
    benchmark:
        "benchmarks/demo/vwsd.tsv"
    conda:
        "../../envs/cpu.yaml"
    params:
        seed=config["demo"]["seed"],
    shell:
        "semspace vwsd demo-data --seed {params.seed} --out {output} > {log} 2>&1"


rule vwsd_glosses:
    input:
        root=vwsd_root,
    output:
        glosses="results/vwsd/{split}/glosses/{strategy}.parquet",
    log:
        "logs/vwsd/{split}/glosses_{strategy}.log",
    benchmark:
        "benchmarks/vwsd/{split}/glosses_{strategy}.tsv"
    wildcard_constraints:
        split=r"[A-Za-z0-9_]+",
        strategy=r"[a-z_]+",
    conda:
        "../../envs/cpu.yaml"
    params:
        data=vwsd_data_path,
        language=vwsd_language,
    shell:
        "semspace vwsd glosses --data {params.data} --language {params.language}"
        " --strategy {wildcards.strategy} --out {output.glosses} > {log} 2>&1"


rule vwsd_score:
    input:
        root=vwsd_root,
        glosses=vwsd_gloss_files,
        embeddings=vwsd_embedding_shards,
        model=model_dir_input,
    output:
        table="results/vwsd/{split}/{model}/items.parquet",
    log:
        "logs/vwsd/{split}/{model}/score.log",
    benchmark:
        "benchmarks/vwsd/{split}/{model}/score.tsv"
    wildcard_constraints:
        split=r"[A-Za-z0-9_]+",
    conda:
        "../../envs/gpu.yaml"
    resources:
        gpu=1,
    params:
        data=vwsd_data_path,
        gold=vwsd_gold_args,
        language=vwsd_language,
        prompts=vwsd_prompts_json,
        no_gloss_prompt=config["vwsd"]["no_gloss_prompt"],
        batch_size=config["vwsd"]["batch_size"],
        runtime=runtime_args(),
        # Not an output: it outlives reruns so that each distinct prompt is embedded once.
        text_cache="results/vwsd/{split}/{model}/text-cache.parquet",
    shell:
        "semspace vwsd score --split {wildcards.split} --data {params.data} {params.gold}"
        " --language {params.language} --glosses {input.glosses}"
        " --embeddings {input.embeddings} --model {input.model} --model-id {wildcards.model}"
        " --prompts {params.prompts:q} --no-gloss-prompt {params.no_gloss_prompt}"
        " --batch-size {params.batch_size} --text-cache {params.text_cache} {params.runtime}"
        " --out {output.table} > {log} 2>&1"


rule vwsd_metrics:
    input:
        tables=vwsd_items_files,
    output:
        metrics="results/vwsd/metrics.parquet",
        markdown="results/vwsd/metrics.md",
        csv=report(
            "results/vwsd/metrics.csv",
            caption="../report/vwsd_metrics.rst",
            category="E1 Visual WSD",
        ),
    log:
        "logs/vwsd/metrics.log",
    benchmark:
        "benchmarks/vwsd/metrics.tsv"
    conda:
        "../../envs/cpu.yaml"
    params:
        references=vwsd_reference_args,
    shell:
        "semspace vwsd report --items {input.tables} {params.references}"
        " --out {output.metrics} --markdown {output.markdown} --csv {output.csv} > {log} 2>&1"


rule vwsd_figure:
    input:
        table="results/vwsd/{split}/{model}/items.parquet",
        root=vwsd_root,
    output:
        figure=report(
            "results/vwsd/{split}/{model}/ranking.png",
            caption="../report/vwsd_ranking.rst",
            category="E1 Visual WSD",
        ),
        correctness=report(
            "results/vwsd/{split}/{model}/correctness.csv",
            caption="../report/vwsd_correctness.rst",
            category="E1 Visual WSD",
        ),
    log:
        "logs/vwsd/{split}/{model}/figure.log",
    benchmark:
        "benchmarks/vwsd/{split}/{model}/figure.tsv"
    wildcard_constraints:
        split=r"[A-Za-z0-9_]+",
    conda:
        "../../envs/cpu.yaml"
    params:
        images=vwsd_image_dir,
        prompt=config["vwsd"]["figure"]["prompt"],
        strategy=config["vwsd"]["figure"]["strategy"],
        max_items=config["vwsd"]["figure"]["max_items"],
    shell:
        "semspace vwsd figure --items {input.table} --prompt {params.prompt}"
        " --strategy {params.strategy} --images {params.images} --max-items {params.max_items}"
        " --title '{wildcards.split} / {wildcards.model}' --out {output.figure}"
        " --correctness {output.correctness} > {log} 2>&1"


def vwsd_final_output():
    """The metrics table, and a ranking figure and correctness list per split and model."""
    outputs = ["results/vwsd/metrics.csv", "results/vwsd/metrics.md"]
    for split in vwsd_split_names():
        for model in config["vwsd"]["models"]:
            outputs.append(f"results/vwsd/{split}/{model}/ranking.png")
            outputs.append(f"results/vwsd/{split}/{model}/correctness.csv")
    return outputs
