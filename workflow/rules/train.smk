rule train:
    """Train one experiment; resumes from runs/<scale>/<experiment>/checkpoints/last.pth."""
    wildcard_constraints:
        experiment=run_pattern(),
    input:
        dataset_folders,
        init_folder,
        # newer than the outputs when they were made with other params (even with no metadata)
        train_params_stamp,
        # ... and, with `--config code_changes=rerun`, with other code
        train_code_stamp,
    output:
        model=f"{RUNS}/{{experiment}}/model.pth",
        log_csv=f"{RUNS}/{{experiment}}/train_log.csv",
    params:
        train_hash=train_hash,
        scale=SCALE,
    log:
        f"logs/{SCALE}/train_{{experiment}}.log",
    threads: train_threads
    resources:
        gpu=train_gpus,
        nodes=train_nodes,
        # the share of a node that goes with the GPUs, and the estimated time (site block)
        cpus_per_task=request_of("train", "cpus", train_threads),
        mem_mb=request_of("train", "mem_mb", 0),
        runtime=request_of("train", "runtime", 0),
    shell:
        "pose --no-progress --claim-gpus {resources.gpu} train {wildcards.experiment} --scale {params.scale} 2> {log}"
