rule prepare_data:
    """Synthesise or fetch the dataset the scale trains on (params/datasets.yaml)."""
    output:
        directory("data/{dataset}"),
    params:
        spec=lambda w: str(REGISTRY.datasets[w.dataset]),
    log:
        "logs/prepare_{dataset}.log",
    conda:
        "../../environment.yml"
    resources:
        gpu=0,
    shell:
        "pose --no-progress prepare {wildcards.dataset} 2> {log}"
