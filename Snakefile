"""Reproduce the papers' tables: fetch data → train → evaluate → complexity → tables → report.

Every rule calls the `pose` CLI; the experiment list, scales and tables come from params/ (the same
registry dvc.yaml iterates over). `snakemake --cores 2` runs the embedded smoke scale;
`snakemake --profile slurm` runs the full scale on a cluster. A scale trains and evaluates the
experiments its `train` selects; complexity is measured for every experiment.
"""

import os
import signal
import sys

from pose.config import check_pipeline, load_registry

# Inside a Slurm job, USR1 (the profile's warning before the time limit, sent to every process
# of the job) is for the trainer, which writes a checkpoint on it and exits. The job's own
# snakemake and shell ignore it; the ignored disposition passes to the processes they start
# until the trainer installs its handler (pose.engine.preemption).
if "SLURM_JOB_ID" in os.environ:
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)


# Every job runs `pose` from the interpreter running Snakemake (the project's venv, on the
# filesystem Slurm nodes share), whether or not the venv is on PATH.
shell.prefix(f'set -euo pipefail; export PATH="{os.path.dirname(sys.executable)}:$PATH"; ')


configfile: "params/pipeline.yaml"


# The scale and dataset come from params/pipeline.yaml, or from `--config scale=... dataset=...`
# (the Slurm profile). Either way the experiments to train come from the registry (scales.yaml
# `train`); pipeline.yaml's derived `train` list (what DVC iterates over) is checked only when
# this run uses the file's own scale and dataset, so a stale file fails here as it does in DVC.
REGISTRY = load_registry("params", check_pipeline=False)
SCALE = config["scale"]
DATASET = config["dataset"]
check_pipeline(REGISTRY, SCALE, DATASET)
EXPERIMENTS = list(REGISTRY.experiments)
# A run covers one dataset: at full scale COCO (`dataset=coco`), then MPII (`dataset=mpii`).
TRAINED = REGISTRY.trained_experiments(SCALE, DATASET)
# ... each once per seed the scale asks for (scales.yaml `seeds`: <experiment>-seed<k> runs)
TRAINED_RUNS = REGISTRY.trained_runs(SCALE, DATASET)
DATA = REGISTRY.data_sources(SCALE, DATASET)  # {source: folder} the fetch rules make
TEST_DEV_DATA = REGISTRY.test_dev_sources(DATASET)  # fetched for test-dev submissions only
TEST_DEV = [e for e in REGISTRY.test_dev_experiments(SCALE) if e in TRAINED]
TABLES = list(REGISTRY.tables)
RUNS = f"runs/{SCALE}"
# A check scale (preflight): one `pose preflight` job per experiment, its failures recorded
PREFLIGHT = REGISTRY.scale(SCALE).preflight


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/bench.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/testdev.smk"
include: "workflow/rules/complexity.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/preflight.smk"
include: "workflow/rules/official.smk"
include: "workflow/rules/targets.smk"


check_code_changes()


onstart:
    # before the first job is submitted: a job no node of the site can take stops the run
    check_site(workflow.executor_plugin.name)


rule all:
    input:
        "reports/index.md",
        # The scale's own results: reports/ is shared by the scales (the committed one is the
        # smoke scale's), so a run at another scale is driven by its runs/<scale>/ outputs, and
        # the report is rebuilt because they are newer.
        expand(run_record("eval"), experiment=TRAINED_RUNS),
        # ... and the weights: a clone has the committed results but not the weights (DVC
        # outputs), so it trains them, as `dvc repro` does, rather than keep results it cannot
        # reproduce from anything it has
        [] if PREFLIGHT else expand(f"{RUNS}/{{experiment}}/model.pth", experiment=TRAINED_RUNS),
        # a check scale ends with the verdict: it fails when an experiment failed
        [f"{RUNS}/preflight_passed.json"] if PREFLIGHT else [],
