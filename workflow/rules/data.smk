rule prepare_data:
    """Synthesise or fetch the dataset the scale trains on (params/datasets.yaml)."""
    output:
        directory("data/{dataset}"),
    params:
        # Regenerate a synthetic dataset when its settings change; a fetched one is never
        # re-made (and so never deleted) because of a params change.
        spec=lambda w: synthetic_spec(w.dataset),
    log:
        "logs/prepare_{dataset}.log",
    conda:
        "../../environment.yml"
    resources:
        gpu=0,
    shell:
        "pose --no-progress prepare {wildcards.dataset} 2> {log}"
