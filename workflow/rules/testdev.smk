rule predict_test_dev:
    """COCO test-dev results of a trained experiment, zipped for the evaluation server."""
    wildcard_constraints:
        experiment=trained_pattern(),
    input:
        test_dev_folders,
        model=f"{RUNS}/{{experiment}}/model.pth",
    output:
        record=f"{RUNS}/{{experiment}}/test-dev/submission.json",
    params:
        scale=SCALE,
    log:
        f"logs/{SCALE}/predict_test_dev_{{experiment}}.log",
    resources:
        gpu=eval_gpus,
        cpus_per_task=request_of("evaluate", "cpus", loader_cpus),
        mem_mb=request_of("evaluate", "mem_mb", 0),
        runtime=request_of("evaluate", "runtime", 0),
    shell:
        "pose --no-progress --claim-gpus {resources.gpu} predict-test-dev {wildcards.experiment} --scale {params.scale} "
        "> {log} 2>&1"


rule test_dev_submissions:
    """Target (not part of `all`): a submission zip for every trained experiment of a test-dev
    table. Upload each, then `pose import-server-stats FILE --experiment EXP`."""
    input:
        expand(f"{RUNS}/{{experiment}}/test-dev/submission.json", experiment=TEST_DEV),


rule predict_mpii_test:
    """MPII test-set predictions of a trained MPII experiment, in the benchmark's format."""
    wildcard_constraints:
        experiment=trained_pattern(),
    input:
        dataset_folders,
        model=f"{RUNS}/{{experiment}}/model.pth",
    output:
        record=f"{RUNS}/{{experiment}}/mpii-test/submission.json",
    params:
        scale=SCALE,
    log:
        f"logs/{SCALE}/predict_mpii_test_{{experiment}}.log",
    resources:
        gpu=eval_gpus,
        cpus_per_task=request_of("evaluate", "cpus", loader_cpus),
        mem_mb=request_of("evaluate", "mem_mb", 0),
        runtime=request_of("evaluate", "runtime", 0),
    shell:
        "pose --no-progress --claim-gpus {resources.gpu} predict-mpii-test {wildcards.experiment} --scale {params.scale} "
        "> {log} 2>&1"


rule mpii_test_submissions:
    """Target (run with `--config dataset=mpii`): the MPII test-set prediction file of every
    trained MPII experiment, for the benchmark's authors to score."""
    input:
        expand(f"{RUNS}/{{experiment}}/mpii-test/submission.json", experiment=mpii_experiments()),
