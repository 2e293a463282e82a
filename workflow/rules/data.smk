# Stage `download`: datasets and models from their official sources (resumable, checksummed,
# atomic), unless the config gives a local `path`, in which case no rule runs. No code digest in
# params here: a new semspace release must not fetch gigabytes again.


rule download_dataset:
    output:
        directory("resources/datasets/{dataset}"),
    log:
        log_path("download/{dataset}.log"),
    benchmark:
        benchmark_path("download/{dataset}.tsv")
    conda:
        "../envs/cpu.yaml"
    params:
        spec=download_spec,
        lock=config["downloads_lock"],
        mirror=config["downloads_mirror"] or "",  # empty: no mirror
    shell:
        "semspace download dataset --spec {params.spec:q} --lock {params.lock}"
        " --mirror {params.mirror:q}"
        " --out {output} > {log} 2>&1"


rule download_model:
    output:
        directory("resources/models/{model}"),
    log:
        log_path("download/model_{model}.log"),
    benchmark:
        benchmark_path("download/model_{model}.tsv")
    conda:
        "../envs/cpu.yaml"
    params:
        hub_id=model_hub_id,
        revision=model_revision,
        lock=config["downloads_lock"],
    shell:
        "semspace download model --hub-id {params.hub_id} --revision {params.revision}"
        " --lock {params.lock} --out {output} > {log} 2>&1"
