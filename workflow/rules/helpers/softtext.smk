# Input functions and targets of softtext.smk (kept apart from the rules, as snakemake --lint asks).


def softtext_relations_json():
    """The soft prompts as a JSON object, prompt name -> relation phrase."""
    relations = config["softtext"]["prompts"]["relations"]
    return json.dumps({entry["name"]: entry["phrase"] for entry in relations})


def softtext_hard_template(wildcards):
    """The hard-text template (a function: its {class} is no wildcard)."""
    return config["softtext"]["prompts"]["hard"]


def softtext_soft_template(wildcards):
    """The soft-text template (a function: its {class}, {rel}, {other} are no wildcards)."""
    return config["softtext"]["prompts"]["soft"]


def softtext_embeddings(wildcards):
    """Image-embedding shards of the test split (through the `manifest` checkpoint)."""
    return embedding_shards(wildcards.dataset, wildcards.model)


def softtext_final_output():
    """E4's table and figures for the configured dataset and CLIP model."""
    dataset, model = config["softtext"]["dataset"], config["softtext"]["model"]
    folder = result_path(f"softtext/{dataset}/{model}")
    return [
        f"{folder}/table.md",
        f"{folder}/table.csv",
        f"{folder}/confusion.png",
        f"{folder}/umap_hard.png",
        f"{folder}/umap_soft.png",
    ]
