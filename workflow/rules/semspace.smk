# Experiment E5 `semspace`: a semantic space of images from token sets (DESIGN.md E5,
# docs/semspace.md). captions -> token sets per branch (coco here; llm in association.smk)
# -> set distances -> classical MDS -> tables and figures, under results/semspace/{branch}/.


wildcard_constraints:
    branch=r"coco|llm",


rule semspace_demo_data:
    output:
        "resources/demo/coco/captions.json",
    log:
        "logs/semspace/demo_data.log",
    benchmark:
        "benchmarks/semspace/demo_data.tsv"
    conda:
        "../../envs/cpu.yaml"
    params:
        images=config["semspace"]["demo_data"]["images"],
        fmt=config["semspace"]["demo_data"]["format"],
        seed=config["demo"]["seed"],
    shell:
        "semspace coco-demo-data --out {output} --images {params.images} --format {params.fmt}"
        " --seed {params.seed} > {log} 2>&1"


rule semspace_captions:
    input:
        captions=semspace_captions_file,
    output:
        "results/semspace/captions.parquet",
    log:
        "logs/semspace/captions.log",
    benchmark:
        "benchmarks/semspace/captions.tsv"
    conda:
        "../../envs/cpu.yaml"
    params:
        options=semspace_captions_options,
    shell:
        "semspace captions --captions {input.captions} --options {params.options:q}"
        " --out {output} > {log} 2>&1"


rule semspace_tokensets_coco:
    input:
        "results/semspace/captions.parquet",
    output:
        sets="results/semspace/coco/tokensets.parquet",
        stats="results/semspace/coco/token_statistics.parquet",
    log:
        "logs/semspace/tokensets_coco.log",
    benchmark:
        "benchmarks/semspace/tokensets_coco.tsv"
    conda:
        "../../envs/cpu.yaml"
    shell:
        "semspace tokensets coco --captions {input} --out {output.sets} --stats {output.stats}"
        " > {log} 2>&1"


rule semspace_setdist:
    input:
        "results/semspace/{branch}/tokensets.parquet",
    output:
        summary="results/semspace/{branch}/setdist/summary.json",
        pairs="results/semspace/{branch}/setdist/pairs.parquet",
        neighbours="results/semspace/{branch}/setdist/neighbours.parquet",
        symdiff="results/semspace/{branch}/setdist/symdiff.npy",
        intersection="results/semspace/{branch}/setdist/intersection.npy",
        union="results/semspace/{branch}/setdist/union.npy",
    log:
        "logs/semspace/setdist_{branch}.log",
    benchmark:
        "benchmarks/semspace/setdist_{branch}.tsv"
    conda:
        "../../envs/cpu.yaml"
    threads: 2
    resources:
        mem_mb=4000,
    params:
        out="results/semspace/{branch}/setdist",
        flags=semspace_setdist_flags,
    shell:
        "semspace setdist --sets {input} --out {params.out} {params.flags} > {log} 2>&1"


rule semspace_mds:
    input:
        "results/semspace/{branch}/setdist/symdiff.npy",
    output:
        eigen="results/semspace/{branch}/mds/eigen.json",
        coords="results/semspace/{branch}/mds/coords.parquet",
    log:
        "logs/semspace/mds_{branch}.log",
    benchmark:
        "benchmarks/semspace/mds_{branch}.tsv"
    conda:
        "../../envs/cpu.yaml"
    threads: 2
    resources:
        mem_mb=4000,
    params:
        out="results/semspace/{branch}/mds",
        flags=semspace_mds_flags,
    shell:
        "semspace mds --distances {input} --out {params.out} {params.flags} > {log} 2>&1"


rule semspace_report:
    input:
        stats="results/semspace/{branch}/token_statistics.parquet",
        sets="results/semspace/{branch}/tokensets.parquet",
        summary="results/semspace/{branch}/setdist/summary.json",
        pairs="results/semspace/{branch}/setdist/pairs.parquet",
        neighbours="results/semspace/{branch}/setdist/neighbours.parquet",
        eigen="results/semspace/{branch}/mds/eigen.json",
        coords="results/semspace/{branch}/mds/coords.parquet",
        captions="results/semspace/captions.parquet",
    output:
        tables=report(
            "results/semspace/{branch}/report/tables.md",
            caption="../report/semspace_tables.rst",
            category="E5 Semantic space",
            subcategory="{branch}",
        ),
        stats=report(
            "results/semspace/{branch}/report/stats.csv",
            caption="../report/semspace_stats.rst",
            category="E5 Semantic space",
            subcategory="{branch}",
        ),
        distances=report(
            "results/semspace/{branch}/report/distances.csv",
            caption="../report/semspace_distances.rst",
            category="E5 Semantic space",
            subcategory="{branch}",
        ),
        eigen=report(
            "results/semspace/{branch}/report/eigen.csv",
            caption="../report/semspace_eigen.rst",
            category="E5 Semantic space",
            subcategory="{branch}",
        ),
        neighbours=report(
            "results/semspace/{branch}/report/neighbours.csv",
            caption="../report/semspace_neighbours.rst",
            category="E5 Semantic space",
            subcategory="{branch}",
        ),
        mds_map=report(
            "results/semspace/{branch}/report/mds_map.png",
            caption="../report/semspace_mds_map.rst",
            category="E5 Semantic space",
            subcategory="{branch}",
        ),
        token_counts=report(
            "results/semspace/{branch}/report/token_counts.png",
            caption="../report/semspace_token_counts.rst",
            category="E5 Semantic space",
            subcategory="{branch}",
        ),
        pairs=report(
            "results/semspace/{branch}/report/symdiff_intersection.png",
            caption="../report/semspace_symdiff_intersection.rst",
            category="E5 Semantic space",
            subcategory="{branch}",
        ),
    log:
        "logs/semspace/report_{branch}.log",
    benchmark:
        "benchmarks/semspace/report_{branch}.tsv"
    conda:
        "../../envs/cpu.yaml"
    params:
        out="results/semspace/{branch}/report",
        image=config["semspace"]["neighbours"]["image"],
        k=config["semspace"]["neighbours"]["k"],
    shell:
        "semspace semspace-report --branch {wildcards.branch} --stats {input.stats}"
        " --sets {input.sets} --summary {input.summary} --pairs {input.pairs}"
        " --neighbours {input.neighbours} --eigen {input.eigen} --coords {input.coords}"
        " --captions {input.captions} --image {params.image} --k {params.k}"
        " --out-dir {params.out} > {log} 2>&1"
