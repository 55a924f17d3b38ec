rule evaluate:
    """COCO keypoint AP of a trained experiment with the recipe's test protocol."""
    wildcard_constraints:
        experiment=run_pattern(),
    input:
        dataset_folders,
        model=f"{RUNS}/{{experiment}}/model.pth",
        # newer than the outputs when they were made with other params (even with no metadata)
        stamp=eval_params_stamp,
        code_stamp=eval_code_stamp,
    output:
        metrics=f"{RUNS}/{{experiment}}/eval.json",
        results=f"{RUNS}/{{experiment}}/results.json",
    params:
        config_hash=config_hash,
        scale=SCALE,
    log:
        f"logs/{SCALE}/evaluate_{{experiment}}.log",
    resources:
        gpu=eval_gpus,
        cpus_per_task=request_of("evaluate", "cpus", loader_cpus),
        mem_mb=request_of("evaluate", "mem_mb", 0),
        runtime=request_of("evaluate", "runtime", 0),
    shell:
        "pose --no-progress --claim-gpus {resources.gpu} evaluate {wildcards.experiment} --scale {params.scale} "
        "> {log} 2>&1"
