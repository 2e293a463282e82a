# Stage `provenance`: for each enabled experiment, results/<run>/<experiment>/provenance.json
# with the merged config, the code version, each model's id and commit, each dataset's digest.


rule provenance_config:
    output:
        result_path("config.json"),
    log:
        log_path("provenance/config.log"),
    params:
        # A changed config rewrites the file (Snakemake reruns a job whose params changed).
        digest=merged_config_digest,
    run:
        # The merged, validated config as Snakemake holds it: nothing to compute, only written.
        with open(output[0], "w") as out:
            out.write(merged_config_json())


rule provenance_write:
    input:
        config=result_path("config.json"),
        models=provenance_model_dirs,
        datasets=provenance_dataset_paths,
        tables=provenance_experiment_outputs,
    output:
        result_path("{experiment}/provenance.json"),
    log:
        log_path("provenance/{experiment}.log"),
    benchmark:
        benchmark_path("provenance/{experiment}.tsv")
    conda:
        "../envs/cpu.yaml"
    params:
        code=code_digest("provenance"),  # re-run when the code it runs changes
        out=result_path("{experiment}"),
        lock=config["downloads_lock"],
        models=provenance_model_pairs,
        datasets=provenance_dataset_pairs,
    shell:
        "semspace provenance write --experiment {wildcards.experiment}"
        " --config-json {input.config} --lock {params.lock}"
        " --model {params.models:q} --dataset {params.datasets:q}"
        " --out {params.out} > {log} 2>&1"
