# semspace: five experiments on the shared meaning space of images and language.
# The Snakefile only orchestrates: every rule calls one `semspace` command (src/semspace).

from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


wildcard_constraints:
    dataset=r"[A-Za-z0-9_]+",
    model=r"[A-Za-z0-9_]+",
    shard=r"\d{5}",
    experiment=r"vwsd|imagespace|retrieval|syntax|softtext",


include: "workflow/rules/common.smk"
include: "workflow/rules/helpers/embed.smk"
include: "workflow/rules/helpers/vwsd.smk"
include: "workflow/rules/helpers/imagespace.smk"
include: "workflow/rules/helpers/associate.smk"
include: "workflow/rules/helpers/retrieval.smk"
include: "workflow/rules/helpers/syntax.smk"
include: "workflow/rules/helpers/softtext.smk"
include: "workflow/rules/helpers/provenance.smk"
include: "workflow/rules/demo.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/images.smk"
include: "workflow/rules/embed.smk"
include: "workflow/rules/vwsd.smk"
include: "workflow/rules/imagespace.smk"
include: "workflow/rules/associate.smk"
include: "workflow/rules/retrieval.smk"
include: "workflow/rules/syntax.smk"
include: "workflow/rules/softtext.smk"
include: "workflow/rules/provenance.smk"


rule all:
    default_target: True
    input:
        get_final_output(),


# One target per experiment: `snakemake --cores 8 --configfile=config/demo.yaml -- vwsd_all`.


rule vwsd_all:
    input:
        experiment_target("vwsd"),


rule imagespace_all:
    input:
        experiment_target("imagespace"),


rule retrieval_all:
    input:
        experiment_target("retrieval"),


rule syntax_all:
    input:
        experiment_target("syntax"),


rule softtext_all:
    input:
        experiment_target("softtext"),
