# Experiment E5 `semspace`: a semantic space of images from token sets (DESIGN.md E5,
# docs/semspace.md). captions -> token sets per branch (coco here; llm in association.smk)
# -> set distances -> classical MDS -> tables and figures, under results/imagespace/{branch}/.


wildcard_constraints:
    branch=r"coco|llm",


rule imagespace_demo_data:
    output:
        "resources/demo/coco/captions.json",
    log:
        log_path("imagespace/demo_data.log"),
    benchmark:
        benchmark_path("imagespace/demo_data.tsv")
    conda:
        "../envs/cpu.yaml"
    params:
        code=code_digest("imagespace"),  # re-run when the code it runs changes
        images=config["imagespace"]["demo_data"]["images"],
        fmt=config["imagespace"]["demo_data"]["format"],
        seed=config["demo"]["seed"],
    shell:
        "semspace imagespace demo-data --out {output} --images {params.images} --format {params.fmt}"
        " --seed {params.seed} > {log} 2>&1"


rule imagespace_captions:
    input:
        captions=imagespace_captions_file,
    output:
        result_path("imagespace/captions.parquet"),
    log:
        log_path("imagespace/captions.log"),
    benchmark:
        benchmark_path("imagespace/captions.tsv")
    conda:
        "../envs/cpu.yaml"
    params:
        code=code_digest("imagespace"),  # re-run when the code it runs changes
        options=imagespace_captions_options,
    shell:
        "semspace imagespace captions --captions {input.captions} --options {params.options:q}"
        " --out {output} > {log} 2>&1"


rule imagespace_tokensets:
    input:
        result_path("imagespace/captions.parquet"),
    output:
        sets=result_path("imagespace/coco/tokensets.parquet"),
        stats=result_path("imagespace/coco/token_statistics.parquet"),
    log:
        log_path("imagespace/tokensets_coco.log"),
    benchmark:
        benchmark_path("imagespace/tokensets_coco.tsv")
    conda:
        "../envs/cpu.yaml"
    params:
        code=code_digest("imagespace"),  # re-run when the code it runs changes
    shell:
        "semspace imagespace tokensets --captions {input} --out {output.sets} --stats {output.stats}"
        " > {log} 2>&1"


# Up to imagespace.mds.dense_max_images images (imagespace.images, when given, says how many): the
# set distances keep the n×n matrices and the MDS is dense and exact from |A Δ B|. Above it: no
# n×n array anywhere - streaming set distances (summary, pair histogram and neighbours only) and
# the matrix-free MDS from the token sets (count and Σλ₊ by SLQ with 95 % intervals).
if imagespace_streaming():

    rule imagespace_setdist:
        input:
            result_path("imagespace/{branch}/tokensets.parquet"),
        output:
            summary=result_path("imagespace/{branch}/setdist/summary.json"),
            pairs=result_path("imagespace/{branch}/setdist/pairs.parquet"),
            neighbours=result_path("imagespace/{branch}/setdist/neighbours.parquet"),
        log:
            log_path("imagespace/setdist_{branch}.log"),
        benchmark:
            benchmark_path("imagespace/setdist_{branch}.tsv")
        conda:
            "../envs/cpu.yaml"
        threads: 2
        resources:
            mem_mb=4000,
        params:
            code=code_digest("imagespace"),  # re-run when the code it runs changes
            out=result_path("imagespace/{branch}/setdist"),
            top_k=lookup(dpath="imagespace/setdist/top_k", within=config),
            memory_gb=lookup(dpath="imagespace/setdist/memory_gb", within=config),
        shell:
            "semspace imagespace setdist --sets {input} --out {params.out} --top-k {params.top_k}"
            " --memory-gb {params.memory_gb} --no-matrices > {log} 2>&1"

    rule imagespace_mds:
        input:
            result_path("imagespace/{branch}/tokensets.parquet"),
        output:
            eigen=result_path("imagespace/{branch}/mds/eigen.json"),
            coords=result_path("imagespace/{branch}/mds/coords.parquet"),
        log:
            log_path("imagespace/mds_{branch}.log"),
        benchmark:
            benchmark_path("imagespace/mds_{branch}.tsv")
        conda:
            "../envs/cpu.yaml"
        threads: 2
        resources:
            mem_mb=8000,
        params:
            code=code_digest("imagespace"),  # re-run when the code it runs changes
            out=result_path("imagespace/{branch}/mds"),
            k=lookup(dpath="imagespace/mds/k", within=config),
            sqrt=str(lookup(dpath="imagespace/mds/sqrt", within=config)).lower(),
            share=str(lookup(dpath="imagespace/mds/share", within=config)).lower(),
            memory_gb=lookup(dpath="imagespace/mds/memory_gb", within=config),
            probes=lookup(dpath="imagespace/mds/probes", within=config),
            steps=lookup(dpath="imagespace/mds/lanczos_steps", within=config),
            seed=lookup(dpath="runtime/seed", within=config),
        shell:
            "semspace imagespace mds --sets {input} --method matrix-free --out {params.out}"
            " --k {params.k} --sqrt {params.sqrt} --share {params.share}"
            " --memory-gb {params.memory_gb} --probes {params.probes}"
            " --lanczos-steps {params.steps} --seed {params.seed} > {log} 2>&1"

else:

    rule imagespace_setdist:
        input:
            result_path("imagespace/{branch}/tokensets.parquet"),
        output:
            summary=result_path("imagespace/{branch}/setdist/summary.json"),
            pairs=result_path("imagespace/{branch}/setdist/pairs.parquet"),
            neighbours=result_path("imagespace/{branch}/setdist/neighbours.parquet"),
            symdiff=result_path("imagespace/{branch}/setdist/symdiff.npy"),
            intersection=result_path("imagespace/{branch}/setdist/intersection.npy"),
            union=result_path("imagespace/{branch}/setdist/union.npy"),
        log:
            log_path("imagespace/setdist_{branch}.log"),
        benchmark:
            benchmark_path("imagespace/setdist_{branch}.tsv")
        conda:
            "../envs/cpu.yaml"
        threads: 2
        resources:
            mem_mb=4000,
        params:
            code=code_digest("imagespace"),  # re-run when the code it runs changes
            out=result_path("imagespace/{branch}/setdist"),
            top_k=lookup(dpath="imagespace/setdist/top_k", within=config),
            memory_gb=lookup(dpath="imagespace/setdist/memory_gb", within=config),
            max_images=lookup(dpath="imagespace/mds/dense_max_images", within=config),
        shell:
            "semspace imagespace setdist --sets {input} --out {params.out} --top-k {params.top_k}"
            " --memory-gb {params.memory_gb} --max-matrix-images {params.max_images} > {log} 2>&1"

    rule imagespace_mds:
        input:
            result_path("imagespace/{branch}/setdist/symdiff.npy"),
        output:
            eigen=result_path("imagespace/{branch}/mds/eigen.json"),
            coords=result_path("imagespace/{branch}/mds/coords.parquet"),
        log:
            log_path("imagespace/mds_{branch}.log"),
        benchmark:
            benchmark_path("imagespace/mds_{branch}.tsv")
        conda:
            "../envs/cpu.yaml"
        threads: 2
        resources:
            mem_mb=4000,
        params:
            code=code_digest("imagespace"),  # re-run when the code it runs changes
            out=result_path("imagespace/{branch}/mds"),
            k=lookup(dpath="imagespace/mds/k", within=config),
            sqrt=str(lookup(dpath="imagespace/mds/sqrt", within=config)).lower(),
            share=str(lookup(dpath="imagespace/mds/share", within=config)).lower(),
            seed=lookup(dpath="runtime/seed", within=config),
        shell:
            "semspace imagespace mds --distances {input} --out {params.out} --k {params.k}"
            " --sqrt {params.sqrt} --share {params.share} --seed {params.seed} > {log} 2>&1"


rule imagespace_report:
    input:
        stats=result_path("imagespace/{branch}/token_statistics.parquet"),
        sets=result_path("imagespace/{branch}/tokensets.parquet"),
        summary=result_path("imagespace/{branch}/setdist/summary.json"),
        pairs=result_path("imagespace/{branch}/setdist/pairs.parquet"),
        neighbours=result_path("imagespace/{branch}/setdist/neighbours.parquet"),
        eigen=result_path("imagespace/{branch}/mds/eigen.json"),
        coords=result_path("imagespace/{branch}/mds/coords.parquet"),
        captions=result_path("imagespace/captions.parquet"),
    output:
        tables_md=result_path("imagespace/{branch}/report/tables.md"),
        tables=report(
            result_path("imagespace/{branch}/report/tables.html"),
            caption="../report/imagespace_tables.rst",
            category="E5 Semantic space",
            subcategory="{branch}",
            labels={"result": "all tables"},
        ),
        stats_csv=result_path("imagespace/{branch}/report/stats.csv"),
        stats=report(
            result_path("imagespace/{branch}/report/stats.html"),
            caption="../report/imagespace_stats.rst",
            category="E5 Semantic space",
            subcategory="{branch}",
            labels={"result": "token sets"},
        ),
        distances_csv=result_path("imagespace/{branch}/report/distances.csv"),
        distances=report(
            result_path("imagespace/{branch}/report/distances.html"),
            caption="../report/imagespace_distances.rst",
            category="E5 Semantic space",
            subcategory="{branch}",
            labels={"result": "distances"},
        ),
        eigen_csv=result_path("imagespace/{branch}/report/eigen.csv"),
        eigen=report(
            result_path("imagespace/{branch}/report/eigen.html"),
            caption="../report/imagespace_eigen.rst",
            category="E5 Semantic space",
            subcategory="{branch}",
            labels={"result": "eigenvalues"},
        ),
        neighbours_csv=result_path("imagespace/{branch}/report/neighbours.csv"),
        neighbours=report(
            result_path("imagespace/{branch}/report/neighbours.html"),
            caption="../report/imagespace_neighbours.rst",
            category="E5 Semantic space",
            subcategory="{branch}",
            labels={"result": "neighbours"},
        ),
        mds_map=report(
            result_path("imagespace/{branch}/report/mds_map.png"),
            caption="../report/imagespace_mds_map.rst",
            category="E5 Semantic space",
            subcategory="{branch}",
            labels={"result": "MDS map"},
        ),
        token_counts=report(
            result_path("imagespace/{branch}/report/token_counts.png"),
            caption="../report/imagespace_token_counts.rst",
            category="E5 Semantic space",
            subcategory="{branch}",
            labels={"result": "token counts"},
        ),
        pairs=report(
            result_path("imagespace/{branch}/report/symdiff_intersection.png"),
            caption="../report/imagespace_symdiff_intersection.rst",
            category="E5 Semantic space",
            subcategory="{branch}",
            labels={"result": "symdiff and intersection"},
        ),
    log:
        log_path("imagespace/report_{branch}.log"),
    benchmark:
        benchmark_path("imagespace/report_{branch}.tsv")
    conda:
        "../envs/cpu.yaml"
    params:
        code=code_digest("imagespace"),  # re-run when the code it runs changes
        out=result_path("imagespace/{branch}/report"),
        coco_id=config["imagespace"]["neighbours"]["coco_id"],
        k=config["imagespace"]["neighbours"]["k"],
        demo=lookup(dpath="demo_models", within=config),
    shell:
        "semspace imagespace report --branch {wildcards.branch} --stats {input.stats}"
        " --demo {params.demo}"
        " --sets {input.sets} --summary {input.summary} --pairs {input.pairs}"
        " --neighbours {input.neighbours} --eigen {input.eigen} --coords {input.coords}"
        " --captions {input.captions} --coco-id {params.coco_id} --k {params.k}"
        " --out-dir {params.out} > {log} 2>&1"
