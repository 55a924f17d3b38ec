# Lookups shared by the rules: resolved experiments and what they need. No stage logic here.


def resolved(experiment):
    return REGISTRY.resolve(experiment, SCALE)


def synthetic_spec(dataset):
    spec = REGISTRY.datasets[dataset]
    return str(spec) if spec.source == "synthetic" else ""


def dataset_root(wildcards):
    return REGISTRY.datasets[DATASET].root


def train_hash(wildcards):
    """Re-train when what the weights depend on changes (Snakemake's params trigger)."""
    return resolved(wildcards.experiment).train_hash


def config_hash(wildcards):
    """Re-evaluate when anything of the resolved experiment changes, test protocol included."""
    return resolved(wildcards.experiment).config_hash


def train_gpus(wildcards):
    exp = resolved(wildcards.experiment)
    return exp.gpus if exp.device == "cuda" else 0


def eval_gpus(wildcards):
    return 1 if resolved(wildcards.experiment).device == "cuda" else 0


def train_threads(wildcards):
    return resolved(wildcards.experiment).threads or 8


def table_inputs(wildcards):
    rows = REGISTRY.table(wildcards.table).typed_rows(wildcards.table)
    experiments = sorted({row.experiment for row in rows})
    return [f"{RUNS}/{e}/eval.json" for e in experiments] + [
        f"runs/complexity/{e}.json" for e in experiments
    ]
