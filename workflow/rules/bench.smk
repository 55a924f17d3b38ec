# Training throughput of every trained experiment (per device, at the per-device batch): the
# report turns it into estimated device-hours per paper. The same command as dvc.yaml's `bench`.


rule bench_train:
    """Images per second of one training step loop, and the size of the training set."""
    wildcard_constraints:
        experiment=trained_pattern(),
    input:
        dataset_folders,  # no ImageNet checkpoint: timing needs no pretrained weights
    output:
        f"{RUNS}/{{experiment}}/bench.json",
    params:
        setup=bench_setup,
        scale=SCALE,
    log:
        f"logs/{SCALE}/bench_train_{{experiment}}.log",
    threads: train_threads
    resources:
        gpu=one_training_gpu,
        cpus_per_task=request_of("bench", "cpus", train_threads),
        mem_mb=request_of("bench", "mem_mb", 0),
        runtime=request_of("bench", "runtime", 0),
    shell:
        "pose --no-progress --claim-gpus {resources.gpu} bench-train {wildcards.experiment} --scale {params.scale} "
        "--out {output} 2> {log}"
