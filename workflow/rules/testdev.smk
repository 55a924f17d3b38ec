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
    conda:
        "../../environment.yml"
    shell:
        "pose --no-progress predict-test-dev {wildcards.experiment} --scale {params.scale} "
        "> {log} 2>&1"


rule test_dev_submissions:
    """Target (not part of `all`): a submission zip for every trained experiment of a test-dev
    table. Upload each, then `pose import-server-stats FILE --experiment EXP`."""
    input:
        expand(f"{RUNS}/{{experiment}}/test-dev/submission.json", experiment=TEST_DEV),
