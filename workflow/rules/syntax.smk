# Experiment E3 `syntax`: syntax trees as CLIP text input on LAVA (DESIGN.md E3, docs/syntax.md).
# LAVA scenes are paired by reading; CLIP is fine-tuned on linearised trees with minibatches of
# whole pairs, then scored by pairwise accuracy on held-out sentences. Frames are read directly
# (fine-tuning needs pixels), so E3 does not use the shared image shards.


wildcard_constraints:
    lin=r"text|bracket|spaced|compact",
    batch=r"\d+",


rule syntax_demo_data:
    output:
        directory("resources/demo/lava"),
    log:
        log_path("syntax/demo_data.log"),
    benchmark:
        benchmark_path("syntax/demo_data.tsv")
    conda:
        "../envs/cpu.yaml"
    params:
        code=code_digest("syntax"),  # re-run when the code it runs changes
        seed=config["demo"]["seed"],
    shell:
        "semspace syntax demo-data --out {output} --seed {params.seed} > {log} 2>&1"


rule syntax_frames:
    input:
        root=dataset_root_input,
    output:
        # The dataset's folder is download_dataset's output: the frames go to a folder of their
        # own, in the layout of a LAVA root (frames/<visualFilename><ext>).
        images=directory(result_path("syntax/{dataset}/images")),
    log:
        log_path("syntax/{dataset}/frames.log"),
    benchmark:
        benchmark_path("syntax/{dataset}/frames.tsv")
    conda:
        "../envs/cpu.yaml"
    params:
        code=code_digest("syntax"),  # re-run when the code it runs changes
        videos=syntax_videos,
        position=config["syntax"]["frames"]["position"],
        ext=config["syntax"]["frame_ext"],
    shell:
        "semspace syntax frames --root {input.root} --videos {params.videos}"
        " --position {params.position} --frame-ext {params.ext} --out {output.images}"
        " > {log} 2>&1"


rule syntax_items:
    input:
        root=dataset_root_input,
        images=syntax_images,
    output:
        table=result_path("syntax/{dataset}/items.parquet"),
        counts=result_path("syntax/{dataset}/counts.json"),
        decisions=result_path("syntax/{dataset}/decisions.parquet"),
    log:
        log_path("syntax/{dataset}/items.log"),
    benchmark:
        benchmark_path("syntax/{dataset}/items.tsv")
    conda:
        "../envs/cpu.yaml"
    params:
        code=code_digest("syntax"),  # re-run when the code it runs changes
        ext=config["syntax"]["frame_ext"],
        test_fraction=config["syntax"]["test_fraction"],
        seed=config["syntax"]["split_seed"],
    shell:
        "semspace syntax items --root {input.root} --images {input.images}"
        " --frame-ext {params.ext}"
        " --test-fraction {params.test_fraction} --seed {params.seed}"
        " --out {output.table} --counts {output.counts} --decisions {output.decisions}"
        " > {log} 2>&1"


# The CFG induced from all of the parse file's trees, chart-parsing every LAVA sentence: do its
# parses equal the file's readings, and which trees do sentences without readings get.
rule syntax_trees:
    input:
        root=dataset_root_input,
    output:
        table=result_path("syntax/{dataset}/trees.parquet"),
        summary=result_path("syntax/{dataset}/trees.json"),
    log:
        log_path("syntax/{dataset}/trees.log"),
    benchmark:
        benchmark_path("syntax/{dataset}/trees.tsv")
    conda:
        "../envs/cpu.yaml"
    params:
        code=code_digest("syntax"),  # re-run when the code it runs changes
    shell:
        "semspace syntax trees --root {input.root}"
        " --out {output.table} --summary {output.summary} > {log} 2>&1"


rule syntax_tokens:
    input:
        table=result_path("syntax/{dataset}/items.parquet"),
        model=model_dir_input,
    output:
        result_path("syntax/{dataset}/{model}/tokens.parquet"),
    log:
        log_path("syntax/{dataset}/{model}/tokens.log"),
    benchmark:
        benchmark_path("syntax/{dataset}/{model}/tokens.tsv")
    conda:
        "../envs/cpu.yaml"
    params:
        code=code_digest("syntax"),  # re-run when the code it runs changes
    shell:
        "semspace syntax tokens --items {input.table} --model-dir {input.model}"
        " --inputs text bracket spaced compact --out {output} > {log} 2>&1"


rule syntax_finetune:
    input:
        table=result_path("syntax/{dataset}/items.parquet"),
        images=syntax_images,
        model=model_dir_input,
    output:
        model=directory(
            result_path("syntax/{dataset}/{model}/runs/{lin}_b{batch}/model")
        ),
        loss=result_path("syntax/{dataset}/{model}/runs/{lin}_b{batch}/loss.parquet"),
    log:
        log_path("syntax/{dataset}/{model}/finetune_{lin}_b{batch}.log"),
    benchmark:
        benchmark_path("syntax/{dataset}/{model}/finetune_{lin}_b{batch}.tsv")
    conda:
        "../envs/gpu.yaml"
    threads: 1
    resources:
        gpu=1,
    params:
        code=code_digest("syntax"),  # re-run when the code it runs changes
        # Not an output: it must survive a failed or killed job so that the next run resumes.
        checkpoint=result_path(
            "syntax/{dataset}/{model}/runs/{lin}_b{batch}/checkpoint"
        ),
        steps=config["syntax"]["train"]["steps"],
        lr=config["syntax"]["train"]["learning_rate"],
        wd=config["syntax"]["train"]["weight_decay"],
        warmup=config["syntax"]["train"]["warmup_steps"],
        every=config["syntax"]["train"]["checkpoint_every"],
        device=lookup(dpath="runtime/device", within=config),
        dtype=lookup(dpath="runtime/dtype", within=config),
        seed=lookup(dpath="runtime/seed", within=config),
        require_gpu=lookup(dpath="runtime/require_gpu", within=config),
    shell:
        "semspace syntax finetune --items {input.table} --images {input.images}"
        " --model-dir {input.model}"
        " --input {wildcards.lin} --batch-size {wildcards.batch} --steps {params.steps}"
        " --learning-rate {params.lr} --weight-decay {params.wd} --warmup-steps {params.warmup}"
        " --checkpoint-every {params.every} --checkpoint-dir {params.checkpoint}"
        " --out {output.model} --loss-log {output.loss}"
        " --device {params.device} --dtype {params.dtype} --seed {params.seed}"
        " --require-gpu {params.require_gpu}"
        " --threads {threads}"
        " > {log} 2>&1"


rule syntax_evaluate:
    input:
        table=result_path("syntax/{dataset}/items.parquet"),
        images=syntax_images,
        model=syntax_eval_model,
    output:
        scores=result_path("syntax/{dataset}/{model}/eval/{lin}_b{batch}.parquet"),
        summary=result_path("syntax/{dataset}/{model}/eval/{lin}_b{batch}.json"),
    log:
        log_path("syntax/{dataset}/{model}/evaluate_{lin}_b{batch}.log"),
    benchmark:
        benchmark_path("syntax/{dataset}/{model}/evaluate_{lin}_b{batch}.tsv")
    conda:
        "../envs/gpu.yaml"
    threads: 1
    resources:
        gpu=1,
    params:
        code=code_digest("syntax"),  # re-run when the code it runs changes
        device=lookup(dpath="runtime/device", within=config),
        dtype=lookup(dpath="runtime/dtype", within=config),
        seed=lookup(dpath="runtime/seed", within=config),
        require_gpu=lookup(dpath="runtime/require_gpu", within=config),
    shell:
        "semspace syntax evaluate --items {input.table} --images {input.images}"
        " --model-dir {input.model}"
        " --input {wildcards.lin} --train-batch {wildcards.batch} --model-name {wildcards.model}"
        " --out {output.scores} --summary {output.summary}"
        " --device {params.device} --dtype {params.dtype} --seed {params.seed}"
        " --require-gpu {params.require_gpu}"
        " --threads {threads}"
        " > {log} 2>&1"


rule syntax_relevance:
    input:
        table=result_path("syntax/{dataset}/items.parquet"),
        images=syntax_images,
        model=syntax_relevance_model,
    output:
        [
            report(
                result_path(f"syntax/{{dataset}}/{{model}}/relevance/pair_{i}.png"),
                caption="../report/syntax_relevance.rst",
                category="E3 Syntax",
                labels={"result": f"relevance, pair {i}, {{dataset}}, {{model}}"},
            )
            for i in range(len(syntax_relevance_figures()))
        ],
    log:
        log_path("syntax/{dataset}/{model}/relevance.log"),
    benchmark:
        benchmark_path("syntax/{dataset}/{model}/relevance.tsv")
    conda:
        "../envs/gpu.yaml"
    threads: 1
    resources:
        gpu=1,
    params:
        code=code_digest("syntax"),  # re-run when the code it runs changes
        demo=lookup(dpath="demo_models", within=config),
        lin=config["syntax"]["relevance"]["input"],
        pairs=lookup(dpath="syntax/relevance/pairs", within=config),
        device=lookup(dpath="runtime/device", within=config),
        dtype=lookup(dpath="runtime/dtype", within=config),
        seed=lookup(dpath="runtime/seed", within=config),
        require_gpu=lookup(dpath="runtime/require_gpu", within=config),
    shell:
        "semspace syntax relevance --items {input.table} --images {input.images}"
        " --model-dir {input.model}"
        " --demo {params.demo}"
        " --input {params.lin} --pairs {params.pairs} --out {output}"
        " --device {params.device} --dtype {params.dtype} --seed {params.seed}"
        " --require-gpu {params.require_gpu}"
        " --threads {threads} > {log} 2>&1"


rule syntax_table:
    input:
        summaries=syntax_summaries,
        losses=syntax_loss_logs,
        tokens=result_path("syntax/{dataset}/{model}/tokens.parquet"),
        counts=result_path("syntax/{dataset}/counts.json"),
    output:
        md=result_path("syntax/{dataset}/{model}/table.md"),
        csv=result_path("syntax/{dataset}/{model}/table.csv"),
        html=report(
            result_path("syntax/{dataset}/{model}/table.html"),
            caption="../report/syntax_table.rst",
            category="E3 Syntax",
            labels={"result": "table, {dataset}, {model}"},
        ),
        loss=report(
            result_path("syntax/{dataset}/{model}/loss.png"),
            caption="../report/syntax_loss.rst",
            category="E3 Syntax",
            labels={"result": "training loss, {dataset}, {model}"},
        ),
    log:
        log_path("syntax/{dataset}/{model}/table.log"),
    benchmark:
        benchmark_path("syntax/{dataset}/{model}/table.tsv")
    conda:
        "../envs/cpu.yaml"
    params:
        code=code_digest("syntax"),  # re-run when the code it runs changes
        demo=lookup(dpath="demo_models", within=config),
    shell:
        "semspace syntax table --summaries {input.summaries} --tokens {input.tokens}"
        " --demo {params.demo}"
        " --counts {input.counts} --loss-logs {input.losses} --md {output.md} --csv {output.csv}"
        " --loss-figure {output.loss} > {log} 2>&1"
