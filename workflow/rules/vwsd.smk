# Experiment E1 `vwsd`: visual WSD with CLIP and WordNet (docs/vwsd.md).
# glosses (per split and strategy) -> score (per split and model, from the shared image
# embeddings) -> metrics table for all splits, and a ranking figure per split and model.


rule vwsd_demo_data:
    output:
        directory("resources/demo/vwsd"),
    log:
        log_path("demo/vwsd.log"),
    benchmark:
        benchmark_path("demo/vwsd.tsv")
    conda:
        "../envs/cpu.yaml"
    params:
        code=code_digest("vwsd"),  # re-run when the code it runs changes
        seed=config["demo"]["seed"],
    shell:
        "semspace vwsd demo-data --seed {params.seed} --out {output} > {log} 2>&1"


rule vwsd_glosses:
    input:
        root=vwsd_root,
    output:
        glosses=result_path("vwsd/{split}/glosses/{strategy}.parquet"),
    log:
        log_path("vwsd/{split}/glosses_{strategy}.log"),
    benchmark:
        benchmark_path("vwsd/{split}/glosses_{strategy}.tsv")
    wildcard_constraints:
        split=r"[A-Za-z0-9_]+",
        strategy=r"[a-z_]+",
    conda:
        "../envs/cpu.yaml"
    params:
        code=code_digest("vwsd"),  # re-run when the code it runs changes
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
        table=result_path("vwsd/{split}/{model}/items.parquet"),
    log:
        log_path("vwsd/{split}/{model}/score.log"),
    benchmark:
        benchmark_path("vwsd/{split}/{model}/score.tsv")
    wildcard_constraints:
        split=r"[A-Za-z0-9_]+",
    conda:
        "../envs/gpu.yaml"
    resources:
        gpu=1,
    params:
        code=code_digest("vwsd"),  # re-run when the code it runs changes
        data=vwsd_data_path,
        gold=vwsd_gold_path,
        language=vwsd_language,
        prompts=vwsd_prompts_json,
        no_gloss_prompt=config["vwsd"]["no_gloss_prompt"],
        batch_size=config["vwsd"]["batch_size"],
        device=lookup(dpath="runtime/device", within=config),
        dtype=lookup(dpath="runtime/dtype", within=config),
        seed=lookup(dpath="runtime/seed", within=config),
        require_gpu=lookup(dpath="runtime/require_gpu", within=config),
        # Not an output: it outlives reruns so that each distinct prompt is embedded once.
        text_cache=result_path("vwsd/{split}/{model}/text-cache.parquet"),
    shell:
        "semspace vwsd score --split {wildcards.split} --data {params.data} --gold {params.gold:q}"
        " --language {params.language} --glosses {input.glosses}"
        " --embeddings {input.embeddings} --model {input.model} --model-id {wildcards.model}"
        " --prompts {params.prompts:q} --no-gloss-prompt {params.no_gloss_prompt}"
        " --batch-size {params.batch_size} --text-cache {params.text_cache}"
        " --device {params.device} --dtype {params.dtype} --seed {params.seed}"
        " --require-gpu {params.require_gpu}"
        " --out {output.table} > {log} 2>&1"


rule vwsd_metrics:
    input:
        tables=vwsd_items_files,
    output:
        metrics=result_path("vwsd/metrics.parquet"),
        markdown=result_path("vwsd/metrics.md"),
        csv=result_path("vwsd/metrics.csv"),
        html=report(
            result_path("vwsd/metrics.html"),
            caption="../report/vwsd_metrics.rst",
            category="E1 Visual WSD",
            labels={"result": "metrics"},
        ),
    log:
        log_path("vwsd/metrics.log"),
    benchmark:
        benchmark_path("vwsd/metrics.tsv")
    conda:
        "../envs/cpu.yaml"
    params:
        code=code_digest("vwsd"),  # re-run when the code it runs changes
        references=vwsd_references,
        demo=lookup(dpath="demo_models", within=config),
    shell:
        "semspace vwsd metrics --items {input.tables} --reference {params.references}"
        " --demo {params.demo}"
        " --out {output.metrics} --markdown {output.markdown} --csv {output.csv} > {log} 2>&1"


rule vwsd_figure:
    input:
        table=result_path("vwsd/{split}/{model}/items.parquet"),
        root=vwsd_root,
    output:
        figure=report(
            result_path("vwsd/{split}/{model}/ranking.png"),
            caption="../report/vwsd_ranking.rst",
            category="E1 Visual WSD",
            labels={"result": "ranking, {split}, {model}"},
        ),
        correctness=result_path("vwsd/{split}/{model}/correctness.csv"),
        correctness_html=report(
            result_path("vwsd/{split}/{model}/correctness.html"),
            caption="../report/vwsd_correctness.rst",
            category="E1 Visual WSD",
            labels={"result": "correctness, {split}, {model}"},
        ),
    log:
        log_path("vwsd/{split}/{model}/figure.log"),
    benchmark:
        benchmark_path("vwsd/{split}/{model}/figure.tsv")
    wildcard_constraints:
        split=r"[A-Za-z0-9_]+",
    conda:
        "../envs/cpu.yaml"
    params:
        code=code_digest("vwsd"),  # re-run when the code it runs changes
        images=vwsd_image_dir,
        prompt=config["vwsd"]["figure"]["prompt"],
        strategy=config["vwsd"]["figure"]["strategy"],
        max_items=config["vwsd"]["figure"]["max_items"],
        demo=lookup(dpath="demo_models", within=config),
    shell:
        "semspace vwsd figure --items {input.table} --prompt {params.prompt} --demo {params.demo}"
        " --strategy {params.strategy} --images {params.images} --max-items {params.max_items}"
        " --title '{wildcards.split} / {wildcards.model}' --out {output.figure}"
        " --correctness {output.correctness} > {log} 2>&1"
