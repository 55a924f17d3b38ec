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
    # One Slurm job for all of them (the profile's group-components): each takes seconds.
    group:
        "complexity"
    resources:
        gpu=0,
        cpus_per_task=1,
        mem_mb=request_of("cpu", "mem_mb", 0),
        runtime=2,
    shell:
        "pose complexity {params.model} --input {params.input} --format json "
        "--out {output} > {log} 2>&1"
