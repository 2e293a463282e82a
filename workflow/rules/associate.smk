# E5's LLM branch: falcon-7b-instruct associations of COCO captions (see DESIGN.md, E5 and
# docs/association.md). One GPU job per shard of images (`imagespace.llm.shards`, fixed in the
# config, so no checkpoint is needed), then one merge into the tables the E5 rules read:
#   results/imagespace/llm/tokensets.parquet   (schema semspace.schemas.TOKENSETS)


rule associate_generate:
    input:
        captions=result_path("imagespace/captions.parquet"),
        model=association_model_dir,
    output:
        shard=result_path("imagespace/llm/shards/{shard}.parquet"),
    log:
        log_path("association/generate/{shard}.log"),
    benchmark:
        benchmark_path("association/generate/{shard}.tsv")
    conda:
        "../envs/gpu.yaml"
    threads: 1
    resources:
        gpu=1,
    params:
        code=code_digest("associate"),  # re-run when the code it runs changes
        shards=lookup(dpath="imagespace/llm/shards", within=config),
        rounds=lookup(dpath="imagespace/llm/rounds", within=config),
        instruction=lookup(dpath="imagespace/llm/instruction", within=config),
        batch_size=lookup(dpath="imagespace/llm/batch_size", within=config),
        flush_every=lookup(dpath="imagespace/llm/flush_every", within=config),
        decoding=association_decoding_json,
        limit=lookup(dpath="imagespace/llm/limit_images", within=config),
        device=lookup(dpath="runtime/device", within=config),
        dtype=lookup(dpath="runtime/dtype", within=config),
        seed=lookup(dpath="runtime/seed", within=config),
        require_gpu=lookup(dpath="runtime/require_gpu", within=config),
    shell:
        "semspace associate generate --captions {input.captions} --model {input.model}"
        " --shard {wildcards.shard} --shards {params.shards} --limit-images {params.limit}"
        " --rounds {params.rounds} --instruction {params.instruction:q}"
        " --batch-size {params.batch_size} --flush-every {params.flush_every}"
        " --decoding {params.decoding:q}"
        " --device {params.device} --dtype {params.dtype} --seed {params.seed}"
        " --require-gpu {params.require_gpu}"
        " --threads {threads}"
        " --out {output.shard} > {log} 2>&1"


rule associate_merge:
    input:
        captions=result_path("imagespace/captions.parquet"),
        shards=association_shard_files,
        model=association_model_dir,
    output:
        associations=result_path("imagespace/llm/associations.parquet"),
        texts=result_path("imagespace/llm/association_texts.parquet"),
        tokensets=result_path("imagespace/llm/tokensets.parquet"),
        stats=result_path("imagespace/llm/token_statistics.parquet"),
        examples=result_path("imagespace/llm/association_examples.csv"),
        examples_html=report(
            result_path("imagespace/llm/association_examples.html"),
            caption="../report/association_examples.rst",
            category="E5 Semantic space",
            subcategory="LLM associations",
            labels={"result": "examples"},
        ),
    log:
        log_path("association/merge.log"),
    benchmark:
        benchmark_path("association/merge.tsv")
    conda:
        "../envs/cpu.yaml"
    params:
        code=code_digest("associate"),  # re-run when the code it runs changes
        rounds=lookup(dpath="imagespace/llm/rounds", within=config),
        limit=lookup(dpath="imagespace/llm/limit_images", within=config),
        n_examples=lookup(dpath="imagespace/llm/report_examples", within=config),
        demo=lookup(dpath="demo_models", within=config),
    shell:
        "semspace associate merge --captions {input.captions} --model {input.model}"
        " --shard-files {input.shards} --limit-images {params.limit} --rounds {params.rounds}"
        " --associations {output.associations} --texts {output.texts}"
        " --tokensets {output.tokensets} --stats {output.stats}"
        " --examples {output.examples} --examples-html {output.examples_html}"
        " --n-examples {params.n_examples} --demo {params.demo} > {log} 2>&1"
