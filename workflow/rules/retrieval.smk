# Experiment `retrieval` (E2): granularity of joint image/text embeddings. Whole images with
# captions (Flickr8k/30k) against object crops with phrases (Flickr30k Entities, Visual Genome);
# joint spaces trained on frozen features, and zero-shot CLIP. See docs/retrieval.md.
#
# pairs -> texts (CLIP text tower) -> features (+ image embeddings of the shared `embed` stage,
# or VGG16 fc7) -> train -> evaluate -> map, table.


# ---------------------------------------------------------------- demo data


rule retrieval_demo_data:
    output:
        flickr30k=directory("resources/demo/flickr30k"),
        flickr8k=directory("resources/demo/flickr8k"),
        visual_genome=directory("resources/demo/visual_genome"),
    log:
        log_path("retrieval/demo_scenes.log"),
    benchmark:
        benchmark_path("retrieval/demo_scenes.tsv")
    conda:
        "../envs/cpu.yaml"
    params:
        code=code_digest("retrieval"),  # re-run when the code it runs changes
        scenes=config["retrieval"]["demo"]["scenes"],
        val=config["retrieval"]["demo"]["val"],
        test=config["retrieval"]["demo"]["test"],
        seed=config["demo"]["seed"],
    shell:
        "semspace retrieval demo-data --flickr30k {output.flickr30k} --flickr8k {output.flickr8k}"
        " --visual-genome {output.visual_genome} --scenes {params.scenes} --val {params.val}"
        " --test {params.test} --seed {params.seed} > {log} 2>&1"


# ---------------------------------------------------------------- features


rule retrieval_pairs:
    input:
        root=dataset_root_input,
        images_root=dataset_images_root_input,
    output:
        pairs=result_path("retrieval/pairs/{dataset}.parquet"),
    log:
        log_path("retrieval/pairs/{dataset}.log"),
    benchmark:
        benchmark_path("retrieval/pairs/{dataset}.tsv")
    conda:
        "../envs/cpu.yaml"
    params:
        code=code_digest("retrieval"),  # re-run when the code it runs changes
        fmt=dataset_format,
        options=dataset_options_json,
    shell:
        "semspace retrieval pairs --format {params.fmt} --root {input.root}"
        " --options {params.options:q} --out {output.pairs} > {log} 2>&1"


rule retrieval_texts:
    input:
        pairs=retrieval_all_pairs(),
        model=model_dir_input,
    output:
        texts=retrieval_all_texts(),
    log:
        log_path("retrieval/texts/{model}.log"),
    benchmark:
        benchmark_path("retrieval/texts/{model}.tsv")
    conda:
        "../envs/gpu.yaml"
    resources:
        gpu=1,
    params:
        code=code_digest("retrieval"),  # re-run when the code it runs changes
        cache=result_path("retrieval/texts/{model}.cache.parquet"),
        batch_size=config["retrieval"]["text_batch_size"],
        device=lookup(dpath="runtime/device", within=config),
        dtype=lookup(dpath="runtime/dtype", within=config),
        seed=lookup(dpath="runtime/seed", within=config),
        require_gpu=lookup(dpath="runtime/require_gpu", within=config),
    shell:
        "semspace retrieval texts --pairs {input.pairs} --model {input.model}"
        " --cache {params.cache} --batch-size {params.batch_size}"
        " --device {params.device} --dtype {params.dtype} --seed {params.seed}"
        " --require-gpu {params.require_gpu}"
        " --out {output.texts} > {log} 2>&1"


rule retrieval_vgg16:
    input:
        shard=retrieval_vgg_source_shard,
    output:
        embeddings=result_path("retrieval/vgg16/{dataset}/{shard}.parquet"),
    log:
        log_path("retrieval/vgg16/{dataset}/{shard}.log"),
    benchmark:
        benchmark_path("retrieval/vgg16/{dataset}/{shard}.tsv")
    conda:
        "../envs/gpu.yaml"
    resources:
        gpu=1,
    params:
        code=code_digest("retrieval"),  # re-run when the code it runs changes
        weights=config["retrieval"]["vgg16"]["weights"],
        batch_size=config["retrieval"]["vgg16"]["batch_size"],
        device=lookup(dpath="runtime/device", within=config),
        dtype=lookup(dpath="runtime/dtype", within=config),
        seed=lookup(dpath="runtime/seed", within=config),
        require_gpu=lookup(dpath="runtime/require_gpu", within=config),
    shell:
        "semspace retrieval vgg16 --shard {input.shard} --weights {params.weights}"
        " --batch-size {params.batch_size}"
        " --device {params.device} --dtype {params.dtype} --seed {params.seed}"
        " --require-gpu {params.require_gpu}"
        " --out {output.embeddings} > {log} 2>&1"


rule retrieval_features:
    input:
        pairs=result_path("retrieval/pairs/{dataset}.parquet"),
        embeddings=retrieval_image_embeddings,
        texts=result_path(f"retrieval/texts/{{dataset}}/{retrieval_model()}.parquet"),
    output:
        item_table=result_path("retrieval/features/{features}/{dataset}.items.parquet"),
        captions=result_path("retrieval/features/{features}/{dataset}.captions.parquet"),
        dropped=result_path("retrieval/features/{features}/{dataset}.dropped.parquet"),
    log:
        log_path("retrieval/features/{features}/{dataset}.log"),
    benchmark:
        benchmark_path("retrieval/features/{features}/{dataset}.tsv")
    wildcard_constraints:
        features="clip|vgg16",
    conda:
        "../envs/cpu.yaml"
    params:
        code=code_digest("retrieval"),  # re-run when the code it runs changes
    shell:
        "semspace retrieval features --pairs {input.pairs} --embeddings {input.embeddings}"
        " --texts {input.texts} --out-items {output.item_table} --out-captions {output.captions}"
        " --out-dropped {output.dropped} > {log} 2>&1"


# ---------------------------------------------------------------- joint spaces


rule retrieval_train:
    input:
        item_table=retrieval_train_items,
        captions=retrieval_train_captions,
    output:
        checkpoint=result_path("retrieval/models/{features}/{loss}/{train}.pt"),
        history=result_path(
            "retrieval/models/{features}/{loss}/{train}.history.parquet"
        ),
    log:
        log_path("retrieval/train/{features}/{loss}/{train}.log"),
    benchmark:
        benchmark_path("retrieval/train/{features}/{loss}/{train}.tsv")
    wildcard_constraints:
        features="clip|vgg16",
        loss="sum|max",
    conda:
        "../envs/gpu.yaml"
    resources:
        gpu=1,
    params:
        code=code_digest("retrieval"),  # re-run when the code it runs changes
        train_split=config["retrieval"]["train_split"],
        dev_split=config["retrieval"]["dev_split"],
        dim=config["retrieval"]["train"]["dim"],
        margin=config["retrieval"]["train"]["margin"],
        lr=config["retrieval"]["train"]["lr"],
        batch_size=config["retrieval"]["train"]["batch_size"],
        epochs=config["retrieval"]["train"]["epochs"],
        patience=config["retrieval"]["train"]["patience"],
        fold_size=config["retrieval"]["fold_size"],
        device=lookup(dpath="runtime/device", within=config),
        dtype=lookup(dpath="runtime/dtype", within=config),
        seed=lookup(dpath="runtime/seed", within=config),
        require_gpu=lookup(dpath="runtime/require_gpu", within=config),
    shell:
        "semspace retrieval train --items {input.item_table} --captions {input.captions}"
        " --train-split {params.train_split} --dev-split {params.dev_split}"
        " --dim {params.dim} --loss {wildcards.loss} --margin {params.margin} --lr {params.lr}"
        " --batch-size {params.batch_size} --epochs {params.epochs} --patience {params.patience}"
        " --fold-size {params.fold_size}"
        " --device {params.device} --dtype {params.dtype} --seed {params.seed}"
        " --require-gpu {params.require_gpu}"
        " --out {output.checkpoint} --history {output.history} > {log} 2>&1"


rule retrieval_evaluate:
    input:
        checkpoint=result_path("retrieval/models/{features}/{loss}/{train}.pt"),
        item_table=retrieval_eval_items,
        captions=retrieval_eval_captions,
        train_items=retrieval_train_items,
    output:
        metrics=retrieval_eval_outputs("eval", "metrics.parquet"),
        maps=[
            report(
                path,
                caption="../report/retrieval_map.rst",
                category="E2 Retrieval",
                subcategory="maps",
                labels={
                    "result": f"{eval_set}: {{features}}, {{loss}} loss, trained on {{train}}"
                },
            )
            for eval_set, path in zip(
                config["retrieval"]["eval_sets"], retrieval_eval_outputs("maps", "png")
            )
        ],
        coords=retrieval_eval_outputs("maps", "coords.parquet"),
    log:
        log_path("retrieval/eval/{features}/{loss}/{train}.log"),
    benchmark:
        benchmark_path("retrieval/eval/{features}/{loss}/{train}.tsv")
    wildcard_constraints:
        features="clip|vgg16",
        loss="sum|max",
    conda:
        "../envs/cpu.yaml"
    params:
        code=code_digest("retrieval"),  # re-run when the code it runs changes
        eval_names=list(config["retrieval"]["eval_sets"]),
        split=config["retrieval"]["eval_split"],
        # no evaluated image may be trained on (datasets that share image files)
        train_datasets=retrieval_train_datasets,
        train_sources=retrieval_train_image_sources,
        train_split=config["retrieval"]["train_split"],
        eval_sources=retrieval_eval_image_sources(),
        fold_size=config["retrieval"]["fold_size"],
        map_images=config["retrieval"]["map"]["images"],
        map_method=config["retrieval"]["map"]["method"],
        # Only projects cached features through the small joint-space checkpoint: CPU is enough.
        device="cpu",
        seed=config["runtime"]["seed"],
        demo=lookup(dpath="demo_models", within=config),
    shell:
        "semspace retrieval evaluate --demo {params.demo} --checkpoint {input.checkpoint}"
        " --eval-names {params.eval_names} --items {input.item_table} --captions {input.captions}"
        " --split {params.split} --fold-size {params.fold_size}"
        " --train-items {input.train_items} --train-datasets {params.train_datasets}"
        " --train-image-sources {params.train_sources} --train-split {params.train_split}"
        " --eval-image-sources {params.eval_sources}"
        " --features-name {wildcards.features} --loss {wildcards.loss} --train-name {wildcards.train}"
        " --map-images {params.map_images} --map-method {params.map_method}"
        " --device {params.device} --seed {params.seed} --metrics-out {output.metrics}"
        " --maps-out {output.maps} --coords-out {output.coords} > {log} 2>&1"


rule retrieval_evaluate_zeroshot:
    input:
        item_table=retrieval_zeroshot_items(),
        captions=retrieval_zeroshot_captions(),
    output:
        metrics=retrieval_zeroshot_outputs("eval", "metrics.parquet"),
        maps=[
            report(
                path,
                caption="../report/retrieval_map.rst",
                category="E2 Retrieval",
                subcategory="maps",
                labels={"result": f"{eval_set}: CLIP zero-shot"},
            )
            for eval_set, path in zip(
                config["retrieval"]["eval_sets"],
                retrieval_zeroshot_outputs("maps", "png"),
            )
        ],
        coords=retrieval_zeroshot_outputs("maps", "coords.parquet"),
    log:
        log_path("retrieval/eval/clip/none/zeroshot.log"),
    benchmark:
        benchmark_path("retrieval/eval/clip/none/zeroshot.tsv")
    conda:
        "../envs/cpu.yaml"
    params:
        code=code_digest("retrieval"),  # re-run when the code it runs changes
        eval_names=list(config["retrieval"]["eval_sets"]),
        split=config["retrieval"]["eval_split"],
        fold_size=config["retrieval"]["fold_size"],
        map_images=config["retrieval"]["map"]["images"],
        map_method=config["retrieval"]["map"]["method"],
        seed=config["runtime"]["seed"],
        demo=lookup(dpath="demo_models", within=config),
    shell:
        "semspace retrieval evaluate --demo {params.demo}"
        " --eval-names {params.eval_names} --items {input.item_table} --captions {input.captions}"
        " --split {params.split} --fold-size {params.fold_size}"
        " --features-name clip --loss none --train-name zeroshot"
        " --map-images {params.map_images} --map-method {params.map_method}"
        " --seed {params.seed} --metrics-out {output.metrics}"
        " --maps-out {output.maps} --coords-out {output.coords} > {log} 2>&1"


rule retrieval_table:
    input:
        metrics=retrieval_metrics_files(),
    output:
        md=result_path("retrieval/table.md"),
        csv=result_path("retrieval/table.csv"),
        html=report(
            result_path("retrieval/table.html"),
            caption="../report/retrieval_table.rst",
            category="E2 Retrieval",
            subcategory="table",
            labels={"result": "table"},
        ),
        parquet=result_path("retrieval/table.parquet"),
    log:
        log_path("retrieval/table.log"),
    benchmark:
        benchmark_path("retrieval/table.tsv")
    conda:
        "../envs/cpu.yaml"
    params:
        code=code_digest("retrieval"),  # re-run when the code it runs changes
        train_order=list(config["retrieval"]["train_sets"]),
        eval_order=list(config["retrieval"]["eval_sets"]),
        demo=lookup(dpath="demo_models", within=config),
    shell:
        "semspace retrieval table --metrics {input.metrics} --demo {params.demo}"
        " --train-order {params.train_order} --eval-order {params.eval_order}"
        " --out-md {output.md} --out-csv {output.csv} --out-parquet {output.parquet} > {log} 2>&1"
