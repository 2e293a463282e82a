# Stages `manifest` and `resize`: a dataset's own format -> one Parquet manifest (a checkpoint
# that fixes the number of shards) -> pre-resized image shards for a model's input size.


checkpoint images_manifest:
    input:
        root=dataset_root_input,
        images_root=dataset_images_root_input,
    output:
        manifest=result_path("manifests/{dataset}.parquet"),
        # images the format must export (CIFAR-10's PNGs); empty for the others
        files=directory(result_path("manifests/{dataset}.files")),
        left_out=result_path("manifests/{dataset}.left_out.json"),
    log:
        log_path("manifest/{dataset}.log"),
    benchmark:
        benchmark_path("manifest/{dataset}.tsv")
    conda:
        "../envs/cpu.yaml"
    params:
        code=code_digest("images"),  # re-run when the code it runs changes
        fmt=dataset_format,
        options=dataset_options_json,
        shard_size=config["images"]["shard_size"],
    shell:
        "semspace images manifest --format {params.fmt} --root {input.root}"
        " --options {params.options:q} --shard-size {params.shard_size}"
        " --out {output.manifest} --files-dir {output.files} --left-out {output.left_out}"
        " > {log} 2>&1"


rule images_resize:
    input:
        manifest=result_path("manifests/{dataset}.parquet"),
        files=result_path("manifests/{dataset}.files"),
        root=dataset_root_input,
        images_root=dataset_images_root_input,
    output:
        shard=result_path("shards/{dataset}/{model}/{shard}.parquet"),
        skipped=result_path("shards/{dataset}/{model}/{shard}.skipped.parquet"),
    log:
        log_path("resize/{dataset}/{model}/{shard}.log"),
    benchmark:
        benchmark_path("resize/{dataset}/{model}/{shard}.tsv")
    conda:
        "../envs/cpu.yaml"
    params:
        code=code_digest("images"),  # re-run when the code it runs changes
        image_size=model_image_size,
        shard_size=config["images"]["shard_size"],
        max_pixels=config["images"]["max_pixels"],
        on_bad_image=config["images"]["on_bad_image"],
        encoding=config["images"]["encoding"],
        quality=config["images"]["jpeg_quality"],
    shell:
        "semspace images resize --manifest {input.manifest} --root {input.root} --shard {wildcards.shard}"
        " --shard-size {params.shard_size} --image-size {params.image_size}"
        " --max-pixels {params.max_pixels} --on-bad-image {params.on_bad_image}"
        " --encoding {params.encoding} --jpeg-quality {params.quality}"
        " --out {output.shard} --skipped {output.skipped} > {log} 2>&1"
