# Tiny models for offline runs, built from transformers config classes with tokenizers
# trained on the fly, saved with save_pretrained and loaded back like the real ones.


rule demo_tiny_clip:
    output:
        directory("resources/demo/models/tiny-clip"),
    log:
        log_path("demo/tiny_clip.log"),
    benchmark:
        benchmark_path("demo/tiny_clip.tsv")
    conda:
        "../envs/cpu.yaml"
    params:
        code=code_digest("demo"),  # re-run when the code it runs changes
        seed=config["demo"]["seed"],
        image_size=config["demo"]["clip"]["image_size"],
        patch_size=config["demo"]["clip"]["patch_size"],
        hidden_size=config["demo"]["clip"]["hidden_size"],
        layers=config["demo"]["clip"]["layers"],
        heads=config["demo"]["clip"]["heads"],
        projection_dim=config["demo"]["clip"]["projection_dim"],
        vocab_size=config["demo"]["clip"]["vocab_size"],
    shell:
        "semspace demo tiny-clip --seed {params.seed} --image-size {params.image_size}"
        " --patch-size {params.patch_size} --hidden-size {params.hidden_size}"
        " --layers {params.layers} --heads {params.heads}"
        " --projection-dim {params.projection_dim} --vocab-size {params.vocab_size}"
        " --out {output} > {log} 2>&1"


rule demo_tiny_causal_lm:
    output:
        directory("resources/demo/models/tiny-falcon"),
    log:
        log_path("demo/tiny_falcon.log"),
    benchmark:
        benchmark_path("demo/tiny_falcon.tsv")
    conda:
        "../envs/cpu.yaml"
    params:
        code=code_digest("demo"),  # re-run when the code it runs changes
        seed=config["demo"]["seed"],
        hidden_size=config["demo"]["causal_lm"]["hidden_size"],
        layers=config["demo"]["causal_lm"]["layers"],
        heads=config["demo"]["causal_lm"]["heads"],
        vocab_size=config["demo"]["causal_lm"]["vocab_size"],
    shell:
        "semspace demo tiny-causal-lm --seed {params.seed} --hidden-size {params.hidden_size}"
        " --layers {params.layers} --heads {params.heads} --vocab-size {params.vocab_size}"
        " --out {output} > {log} 2>&1"
