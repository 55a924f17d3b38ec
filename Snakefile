"""Reproduce the papers' tables: prepare data → train → evaluate → complexity → tables → report.

Every rule calls the `pose` CLI; the experiment list, scales and tables come from params/ (the same
registry dvc.yaml iterates over). `snakemake --cores 2` runs the embedded smoke scale;
`snakemake --profile slurm` runs the full scale on a cluster.
"""

from pose.config import check_pipeline_dataset, load_registry


configfile: "params/pipeline.yaml"


REGISTRY = load_registry("params")
SCALE = config["scale"]
DATASET = config["dataset"]
check_pipeline_dataset(REGISTRY, SCALE, DATASET)
EXPERIMENTS = list(REGISTRY.experiments)
TABLES = list(REGISTRY.tables)
RUNS = f"runs/{SCALE}"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/complexity.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        "reports/index.md",
