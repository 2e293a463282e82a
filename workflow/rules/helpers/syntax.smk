# Input functions and targets of syntax.smk (kept apart from the rules, as snakemake --lint asks).


def syntax_folder():
    return result_path(
        f"syntax/{config['syntax']['dataset']}/{config['syntax']['model']}"
    )


def syntax_runs():
    """(linearisation, batch size) of every fine-tuning run, plus the text-only baseline (b0)."""
    runs = [("text", 0)]
    for lin in config["syntax"]["linearisations"]:
        for batch in config["syntax"]["batch_sizes"]:
            runs.append((lin, batch))
    return runs


def syntax_relevance_figures():
    rel = config["syntax"]["relevance"]
    n = len(rel["pairs"]) or rel["n_pairs"]
    return [f"{syntax_folder()}/relevance/pair_{i}.png" for i in range(n)]


def syntax_final_output():
    """E3's tables and figures for the configured dataset and CLIP model."""
    folder = syntax_folder()
    data = result_path(f"syntax/{config['syntax']['dataset']}")
    return [
        f"{folder}/table.md",
        f"{folder}/table.csv",
        f"{folder}/loss.png",
        f"{data}/decisions.parquet",
        f"{data}/trees.parquet",
        f"{data}/trees.json",
    ] + syntax_relevance_figures()


def syntax_images(wildcards):
    """The folder the items' frame paths (frames/<visualFilename><ext>) are under: rule
    syntax_frames' output when frames are extracted, else the dataset's own folder."""
    if config["syntax"]["frames"]["extract"]:
        return result_path(f"syntax/{wildcards.dataset}/images")
    return dataset_root(wildcards.dataset)


def syntax_videos(wildcards):
    return f"{dataset_root(wildcards.dataset)}/{config['syntax']['frames']['videos']}"


def syntax_eval_model(wildcards):
    """The model a row of the table is scored with: the base CLIP for b0, else a fine-tuned one."""
    if int(wildcards.batch) == 0:
        return model_dir(wildcards.model)
    return result_path(
        f"syntax/{wildcards.dataset}/{wildcards.model}/runs/{wildcards.lin}_b{wildcards.batch}/model"
    )


def syntax_summaries(wildcards):
    folder = result_path(f"syntax/{wildcards.dataset}/{wildcards.model}")
    return [f"{folder}/eval/{lin}_b{batch}.json" for lin, batch in syntax_runs()]


def syntax_loss_logs(wildcards):
    folder = result_path(f"syntax/{wildcards.dataset}/{wildcards.model}")
    return [
        f"{folder}/runs/{lin}_b{batch}/loss.parquet"
        for lin, batch in syntax_runs()
        if batch > 0
    ]


def syntax_relevance_model(wildcards):
    rel = config["syntax"]["relevance"]
    return (
        result_path(f"syntax/{wildcards.dataset}/{wildcards.model}/runs/")
        + f"{rel['input']}_b{rel['batch_size']}/model"
    )
