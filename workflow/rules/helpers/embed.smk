# Input functions and targets of embed.smk (kept apart from the rules, as snakemake --lint asks).


def embedding_final_output():
    return [
        result_path(f"embeddings/{target['dataset']}/{target['model']}.summary.json")
        for target in config["embed"]["targets"]
    ]
