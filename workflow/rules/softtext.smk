# Experiment E4 `softtext`: soft-text prompts for CLIP zero-shot classification on CIFAR-10
# (DESIGN.md E4, docs/softtext.md). A classifier gives each test image its top-2 classes;
# CLIP scores hard and soft prompts against the shared image embeddings of the test split.
# The cifar10 manifest (rule `images_manifest`) exports the test images as PNG into its declared
# folder results/<run>/manifests/<dataset>.files/test/.


rule softtext_demo_data:
    output:
        directory("resources/demo/cifar10"),
    log:
        log_path("softtext/demo_data.log"),
    benchmark:
        benchmark_path("softtext/demo_data.tsv")
    conda:
        "../envs/cpu.yaml"
    params:
        code=code_digest("softtext"),  # re-run when the code it runs changes
        train_per_batch=config["softtext"]["demo_data"]["train_per_batch"],
        test=config["softtext"]["demo_data"]["test"],
        seed=config["demo"]["seed"],
    shell:
        "semspace softtext demo-data --out {output} --train-per-batch {params.train_per_batch}"
        " --test {params.test} --seed {params.seed} > {log} 2>&1"


rule softtext_classifier:
    input:
        root=dataset_root_input,
    output:
        top2=result_path("softtext/{dataset}/classifier/top2.parquet"),
        metrics=result_path("softtext/{dataset}/classifier/metrics.json"),
    log:
        log_path("softtext/{dataset}/classifier.log"),
    benchmark:
        benchmark_path("softtext/{dataset}/classifier.tsv")
    conda:
        "../envs/gpu.yaml"
    threads: 4
    resources:
        gpu=1,
    params:
        code=code_digest("softtext"),  # re-run when the code it runs changes
        # Not an output: it must survive a failed or killed job so that the next run resumes.
        checkpoint=result_path("softtext/{dataset}/classifier/checkpoint.pt"),
        arch=lookup(dpath="softtext/classifier/arch", within=config),
        epochs=lookup(dpath="softtext/classifier/epochs", within=config),
        batch_size=lookup(dpath="softtext/classifier/batch_size", within=config),
        lr=lookup(dpath="softtext/classifier/lr", within=config),
        momentum=lookup(dpath="softtext/classifier/momentum", within=config),
        weight_decay=lookup(dpath="softtext/classifier/weight_decay", within=config),
        schedule=lookup(dpath="softtext/classifier/schedule", within=config),
        augment=str(lookup(dpath="softtext/classifier/augment", within=config)).lower(),
        cifar_stem=str(
            lookup(dpath="softtext/classifier/cifar_stem", within=config)
        ).lower(),
        train_limit=lookup(dpath="softtext/classifier/train_limit", within=config),
        device=lookup(dpath="runtime/device", within=config),
        dtype=lookup(dpath="runtime/dtype", within=config),
        seed=lookup(dpath="runtime/seed", within=config),
        require_gpu=lookup(dpath="runtime/require_gpu", within=config),
    shell:
        "semspace softtext classifier --root {input.root} --checkpoint {params.checkpoint}"
        " --arch {params.arch} --epochs {params.epochs} --batch-size {params.batch_size}"
        " --lr {params.lr} --momentum {params.momentum} --weight-decay {params.weight_decay}"
        " --schedule {params.schedule} --augment {params.augment}"
        " --cifar-stem {params.cifar_stem} --train-limit {params.train_limit}"
        " --device {params.device} --dtype {params.dtype} --seed {params.seed}"
        " --require-gpu {params.require_gpu}"
        " --threads {threads}"
        " --top2 {output.top2} --metrics {output.metrics}"
        " > {log} 2>&1"


rule softtext_score:
    input:
        top2=result_path("softtext/{dataset}/classifier/top2.parquet"),
        embeddings=softtext_embeddings,
        model=model_dir_input,
        root=dataset_root_input,
    output:
        predictions=result_path("softtext/{dataset}/{model}/predictions.parquet"),
        accuracy=result_path("softtext/{dataset}/{model}/accuracy.parquet"),
        confusion=result_path("softtext/{dataset}/{model}/confusion.parquet"),
        texts=result_path("softtext/{dataset}/{model}/texts.parquet"),
    log:
        log_path("softtext/{dataset}/{model}/score.log"),
    benchmark:
        benchmark_path("softtext/{dataset}/{model}/score.tsv")
    conda:
        "../envs/gpu.yaml"
    resources:
        gpu=1,
    params:
        code=code_digest("softtext"),  # re-run when the code it runs changes
        hard=softtext_hard_template,
        soft=softtext_soft_template,
        relations=softtext_relations_json(),
        batch_size=config["softtext"]["text_batch_size"],
        # Not an output: distinct texts stay embedded across runs.
        text_cache=result_path("softtext/{dataset}/{model}/text_cache.parquet"),
        device=lookup(dpath="runtime/device", within=config),
        dtype=lookup(dpath="runtime/dtype", within=config),
        seed=lookup(dpath="runtime/seed", within=config),
        require_gpu=lookup(dpath="runtime/require_gpu", within=config),
    shell:
        "semspace softtext score --top2 {input.top2} --embeddings {input.embeddings}"
        " --model {input.model} --dataset-root {input.root}"
        " --hard-template {params.hard:q} --soft-template {params.soft:q}"
        " --relations {params.relations:q} --batch-size {params.batch_size}"
        " --text-cache {params.text_cache}"
        " --device {params.device} --dtype {params.dtype} --seed {params.seed}"
        " --require-gpu {params.require_gpu}"
        " --predictions {output.predictions} --accuracy {output.accuracy}"
        " --confusion {output.confusion} --texts {output.texts} > {log} 2>&1"


rule softtext_report:
    input:
        accuracy=result_path("softtext/{dataset}/{model}/accuracy.parquet"),
        confusion=result_path("softtext/{dataset}/{model}/confusion.parquet"),
        texts=result_path("softtext/{dataset}/{model}/texts.parquet"),
        top2=result_path("softtext/{dataset}/classifier/top2.parquet"),
        metrics=result_path("softtext/{dataset}/classifier/metrics.json"),
        embeddings=softtext_embeddings,
        root=dataset_root_input,
    output:
        table_md=result_path("softtext/{dataset}/{model}/table.md"),
        table_html=report(
            result_path("softtext/{dataset}/{model}/table.html"),
            caption="../report/softtext_table.rst",
            category="E4 Soft text",
            labels={"result": "table, {dataset}, {model}"},
        ),
        table_csv=result_path("softtext/{dataset}/{model}/table.csv"),
        confusion=report(
            result_path("softtext/{dataset}/{model}/confusion.png"),
            caption="../report/softtext_confusion.rst",
            category="E4 Soft text",
            labels={"result": "confusion matrix, {dataset}, {model}"},
        ),
        umap_hard=report(
            result_path("softtext/{dataset}/{model}/umap_hard.png"),
            caption="../report/softtext_umap_hard.rst",
            category="E4 Soft text",
            labels={"result": "UMAP, hard prompts, {dataset}, {model}"},
        ),
        umap_soft=report(
            result_path("softtext/{dataset}/{model}/umap_soft.png"),
            caption="../report/softtext_umap_soft.rst",
            category="E4 Soft text",
            labels={"result": "UMAP, soft prompts, {dataset}, {model}"},
        ),
    log:
        log_path("softtext/{dataset}/{model}/report.log"),
    benchmark:
        benchmark_path("softtext/{dataset}/{model}/report.tsv")
    conda:
        "../envs/cpu.yaml"
    params:
        code=code_digest("softtext"),  # re-run when the code it runs changes
        max_images=config["softtext"]["umap"]["max_images"],
        n_neighbors=config["softtext"]["umap"]["n_neighbors"],
        min_dist=config["softtext"]["umap"]["min_dist"],
        seed=config["runtime"]["seed"],
        demo=lookup(dpath="demo_models", within=config),
    shell:
        "semspace softtext report --accuracy {input.accuracy} --confusion {input.confusion}"
        " --demo {params.demo}"
        " --texts {input.texts} --top2 {input.top2} --classifier-metrics {input.metrics}"
        " --embeddings {input.embeddings} --dataset-root {input.root}"
        " --dataset-name {wildcards.dataset} --model-name {wildcards.model}"
        " --umap-max-images {params.max_images} --umap-neighbors {params.n_neighbors}"
        " --umap-min-dist {params.min_dist} --seed {params.seed}"
        " --table-md {output.table_md} --table-csv {output.table_csv}"
        " --confusion-png {output.confusion} --umap-hard {output.umap_hard}"
        " --umap-soft {output.umap_soft} > {log} 2>&1"
