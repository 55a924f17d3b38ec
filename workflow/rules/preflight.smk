# A check scale (scales.yaml `preflight: true`, e.g. `--config scale=preflight dataset=coco`):
# one job per experiment trains it at paper size for a few steps, evaluates it and records
# resources.json, ran or failed; a failure never stops the other jobs, and the tables and the
# report are built all the same. `preflight_check`, last, fails when an experiment failed.


rule preflight:
    """Train a few steps, evaluate, record step time, memory and the GPU-memory estimate."""
    wildcard_constraints:
        experiment=trained_pattern(),
    input:
        dataset_folders,
    output:
        f"{RUNS}/{{experiment}}/resources.json",
    params:
        config_hash=config_hash,
        scale=SCALE,
        dataset=DATASET,
    log:
        f"logs/{SCALE}/preflight_{{experiment}}.log",
    threads: train_threads
    resources:
        gpu=0,
        # a short CPU job with the training's threads, as the throughput benchmark's
        cpus_per_task=request_of("bench", "cpus", train_threads),
        mem_mb=request_of("bench", "mem_mb", 0),
        runtime=request_of("bench", "runtime", 0),
    shell:
        "pose --no-progress preflight {wildcards.experiment} --scale {params.scale} "
        "--dataset {params.dataset} > {log} 2>&1"


rule preflight_check:
    """Fails, naming them, when experiments failed preflight (after the report lists them)."""
    localrule: True
    input:
        "reports/index.md",
        expand(f"{RUNS}/{{experiment}}/resources.json", experiment=TRAINED),
    output:
        f"{RUNS}/preflight_passed.json",
    params:
        scale=SCALE,
        dataset=DATASET,
    log:
        f"logs/{SCALE}/preflight_check.log",
    resources:
        gpu=0,
    shell:
        "pose preflight-check --scale {params.scale} --dataset {params.dataset} "
        "--out {output} > {log} 2>&1 || (cat {log} >&2; exit 1)"
