# Input functions and targets of retrieval.smk (kept apart from the rules, as snakemake --lint asks).


# ---------------------------------------------------------------- helpers and input functions


def retrieval_model():
    return config["retrieval"]["model"]


def retrieval_runs():
    """(features, loss, train set, eval set) of every table row; zero-shot rows use loss `none`."""
    section = config["retrieval"]
    runs = []
    for eval_set in section["eval_sets"]:
        if section["zero_shot"]:
            runs.append(("clip", "none", "zeroshot", eval_set))
        for features in section["features"]:
            for loss in section["losses"]:
                for train_set in section["train_sets"]:
                    runs.append((features, loss, train_set, eval_set))
    return runs


def retrieval_metrics_files():
    return [
        result_path(f"retrieval/eval/{f}/{l}/{t}/{e}.metrics.parquet")
        for f, l, t, e in retrieval_runs()
    ]


def retrieval_map_files():
    return [
        result_path(f"retrieval/maps/{f}/{l}/{t}/{e}.png")
        for f, l, t, e in retrieval_runs()
    ]


def retrieval_final_output():
    return [
        result_path("retrieval/table.md"),
        result_path("retrieval/table.csv"),
    ] + retrieval_map_files()


def retrieval_datasets():
    """Every dataset E2 reads, in config order, each once."""
    section = config["retrieval"]
    names = [d for ds in section["train_sets"].values() for d in ds]
    names += list(section["eval_sets"].values())
    return list(dict.fromkeys(names))


def retrieval_all_pairs():
    return [result_path(f"retrieval/pairs/{d}.parquet") for d in retrieval_datasets()]


def retrieval_all_texts():
    """Text embeddings of every E2 dataset, made by one job per model (one model load)."""
    return [
        result_path(f"retrieval/texts/{d}/{{model}}.parquet")
        for d in retrieval_datasets()
    ]


def retrieval_image_embeddings(wildcards):
    """Image vectors of a dataset: CLIP shards of the shared stage, or VGG16 fc7 shards."""
    if wildcards.features == "clip":
        return embedding_shards(wildcards.dataset, retrieval_model())
    return [
        result_path(f"retrieval/vgg16/{wildcards.dataset}/{s}.parquet")
        for s in shard_ids(wildcards.dataset)
    ]


def retrieval_vgg_source_shard(wildcards):
    source = config["retrieval"]["vgg16"]["shards_from"]
    return result_path(f"shards/{wildcards.dataset}/{source}/{wildcards.shard}.parquet")


def retrieval_train_datasets(wildcards):
    try:
        return config["retrieval"]["train_sets"][wildcards.train]
    except KeyError:
        raise ValueError(
            f"config key retrieval.train_sets.{wildcards.train} is missing"
        ) from None


def retrieval_train_items(wildcards):
    return [
        result_path(f"retrieval/features/{wildcards.features}/{d}.items.parquet")
        for d in retrieval_train_datasets(wildcards)
    ]


def retrieval_train_captions(wildcards):
    return [
        result_path(f"retrieval/features/{wildcards.features}/{d}.captions.parquet")
        for d in retrieval_train_datasets(wildcards)
    ]


def retrieval_image_source(dataset):
    """The dataset whose image files `dataset` uses: its `images_from`, else itself."""
    return dataset_config(dataset).get("images_from") or dataset


def retrieval_train_image_sources(wildcards):
    return [retrieval_image_source(d) for d in retrieval_train_datasets(wildcards)]


def retrieval_eval_image_sources():
    return [retrieval_image_source(d) for d in retrieval_eval_datasets()]


def retrieval_eval_datasets():
    return list(config["retrieval"]["eval_sets"].values())


def retrieval_eval_items(wildcards):
    return [
        result_path(f"retrieval/features/{wildcards.features}/{d}.items.parquet")
        for d in retrieval_eval_datasets()
    ]


def retrieval_eval_captions(wildcards):
    return [
        result_path(f"retrieval/features/{wildcards.features}/{d}.captions.parquet")
        for d in retrieval_eval_datasets()
    ]


def retrieval_eval_outputs(folder, suffix):
    """One path per eval set for a trained space (wildcards kept for the rule to fill)."""
    return [
        result_path(f"retrieval/{folder}/{{features}}/{{loss}}/{{train}}/{e}.{suffix}")
        for e in config["retrieval"]["eval_sets"]
    ]


def retrieval_zeroshot_items():
    return [
        result_path(f"retrieval/features/clip/{d}.items.parquet")
        for d in retrieval_eval_datasets()
    ]


def retrieval_zeroshot_captions():
    return [
        result_path(f"retrieval/features/clip/{d}.captions.parquet")
        for d in retrieval_eval_datasets()
    ]


def retrieval_zeroshot_outputs(folder, suffix):
    return [
        result_path(f"retrieval/{folder}/clip/none/zeroshot/{e}.{suffix}")
        for e in config["retrieval"]["eval_sets"]
    ]
