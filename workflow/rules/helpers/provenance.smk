# Input functions of provenance.smk: the models and datasets an experiment's section names.


def merged_config_json():
    """The merged, validated config as JSON."""
    return json.dumps(config, indent=2, sort_keys=True, default=str)


def merged_config_digest(wildcards):
    """SHA-256 of the merged config: a changed config rewrites config.json (params changed)."""
    import hashlib

    return hashlib.sha256(merged_config_json().encode()).hexdigest()


def experiment_sections():
    return ["vwsd", "imagespace", "retrieval", "syntax", "softtext"]


def config_names_used(section, kind):
    """Names of `kind` (datasets or models) that occur as values anywhere in a config section."""
    known = set(config[kind])
    found = set()

    def walk(value):
        if isinstance(value, str) and value in known:
            found.add(value)
        elif isinstance(value, dict):
            # A switched-off branch (imagespace.llm) uses nothing.
            if value.get("enabled") is False:
                return
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    section_config = dict(config[section])
    if section == "retrieval" and "vgg16" not in section_config.get("features", []):
        # VGG16 features off: its image model is not used.
        section_config.pop("vgg16", None)
    walk(section_config)
    for name in list(found):  # a dataset's images may live in another dataset's folder
        source = config[kind][name].get("images_from") if kind == "datasets" else None
        if source:
            found.add(source)
    return sorted(found)


def provenance_model_dirs(wildcards):
    return [model_dir(m) for m in config_names_used(wildcards.experiment, "models")]


def provenance_dataset_paths(wildcards):
    return [
        dataset_root(d) for d in config_names_used(wildcards.experiment, "datasets")
    ]


def provenance_model_pairs(wildcards):
    """`NAME=FOLDER` of each model the experiment uses (values of `--model`)."""
    names = config_names_used(wildcards.experiment, "models")
    return [f"{m}={model_dir(m)}" for m in names]


def provenance_dataset_pairs(wildcards):
    """`NAME=PATH` of each dataset the experiment uses (values of `--dataset`)."""
    names = config_names_used(wildcards.experiment, "datasets")
    return [f"{d}={dataset_root(d)}" for d in names]


def provenance_experiment_outputs(wildcards):
    """The experiment's tables and figures: provenance is written once they exist."""
    return experiment_outputs(wildcards.experiment)


def provenance_final_output():
    return [
        result_path(f"{e}/provenance.json")
        for e in experiment_sections()
        if config[e]["enabled"]
    ]
