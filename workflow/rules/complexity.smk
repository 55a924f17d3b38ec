rule complexity:
    """Params and GFLOPs of the experiment's paper-size model at the paper's input."""
    output:
        "runs/complexity/{experiment}.json",
    params:
        model=lambda w: REGISTRY.experiments[w.experiment].model,
        input=lambda w: REGISTRY.experiments[w.experiment].input,
        spec=lambda w: str(REGISTRY.model(REGISTRY.experiments[w.experiment].model)),
    log:
        "logs/complexity_{experiment}.log",
    resources:
        gpu=0,
    conda:
        "../../environment.yml"
    shell:
        "pose complexity {params.model} --input {params.input} --format json "
        "--out {output} > {log} 2>&1"
