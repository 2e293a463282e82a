# Stage `embed`: one job per shard on one GPU slot; CLIP image embeddings to Parquet.
# Concurrent GPU jobs each take a different device: every command with runtime flags takes its
# slot in one place (semspace.cli.main), before it loads a model.


rule embed_images:
    input:
        shard=result_path("shards/{dataset}/{model}/{shard}.parquet"),
        model=model_dir_input,
    output:
        embeddings=result_path("embeddings/{dataset}/{model}/{shard}.parquet"),
    log:
        log_path("embed/{dataset}/{model}/{shard}.log"),
    benchmark:
        benchmark_path("embed/{dataset}/{model}/{shard}.tsv")
    conda:
        "../envs/gpu.yaml"
    threads: 4
    resources:
        gpu=1,
    params:
        code=code_digest("embed"),  # re-run when the code it runs changes
        batch_size=config["embed"]["batch_size"],
        flush_every=config["embed"]["flush_every"],
        device=lookup(dpath="runtime/device", within=config),
        dtype=lookup(dpath="runtime/dtype", within=config),
        seed=lookup(dpath="runtime/seed", within=config),
        require_gpu=lookup(dpath="runtime/require_gpu", within=config),
    shell:
        "semspace embed images --shard {input.shard} --model {input.model}"
        " --model-id {wildcards.model} --batch-size {params.batch_size}"
        " --flush-every {params.flush_every} --workers {threads}"
        " --device {params.device} --dtype {params.dtype} --seed {params.seed}"
        " --require-gpu {params.require_gpu}"
        " --out {output.embeddings} > {log} 2>&1"


rule embed_summary:
    input:
        embeddings=embedding_shards_of_wildcards,
        skipped=skipped_lists_of_wildcards,
    output:
        summary=result_path("embeddings/{dataset}/{model}.summary.json"),
        skipped=result_path("embeddings/{dataset}/{model}.skipped.parquet"),
    log:
        log_path("embed/{dataset}/{model}.summary.log"),
    benchmark:
        benchmark_path("embed/{dataset}/{model}.summary.tsv")
    conda:
        "../envs/cpu.yaml"
    params:
        code=code_digest("embed"),  # re-run when the code it runs changes
    shell:
        "semspace embed summary --embeddings {input.embeddings} --skipped {input.skipped}"
        " --out {output.summary} --skipped-out {output.skipped} > {log} 2>&1"
