# Lookups shared by the rules: resolved experiments and what they need. No stage logic here.

import os
import re
import sys
from pathlib import Path


def trained_pattern():
    """Wildcard constraint: jobs per experiment (throughput, predictions) exist only for the
    experiments the scale trains."""
    return "|".join(re.escape(e) for e in TRAINED)


def run_pattern():
    """Wildcard constraint: train/evaluate jobs exist for each training the scale runs (every
    trained experiment once per seed: Registry.trained_runs)."""
    return "|".join(re.escape(r) for r in TRAINED_RUNS)


def resolved(experiment):
    return REGISTRY.resolve(experiment, SCALE, DATASET)


def run_record(name):
    """What a trained experiment's job leaves: eval.json, or at a check scale the preflight's
    resources.json (written whether the experiment ran or failed)."""
    return f"{RUNS}/{{experiment}}/{'resources' if PREFLIGHT else name}.json"


def synthetic_spec(source):
    """A generated source's settings (a params trigger); "" for a fetched one."""
    spec = REGISTRY.sources.get(source)
    return str(REGISTRY.datasets[spec.generate]) if spec.generate else ""


def dataset_folders(wildcards):
    """The folders of the scale's dataset (its sources' outputs)."""
    return [DATA[s] for s in REGISTRY.dataset(DATASET).sources]


def init_folder(wildcards):
    """The folder of the experiment's ImageNet checkpoint, fetched before it trains."""
    source = REGISTRY.init_source(wildcards.experiment, SCALE)
    return [DATA[source]] if source else []


def train_hash(wildcards):
    """Re-train when what the weights depend on changes (Snakemake's params trigger)."""
    return resolved(wildcards.experiment).train_hash


PARAMS_STAMPS = f".snakemake/poserepro-params/{SCALE}"


from pose.config import recorded_hash, split_run_id


def _params_stamp(exp, key, record):
    """An input newer than the run's outputs exactly when they were made with other params than
    params/ gives now, so Snakemake re-runs them even without its own metadata (a fresh clone,
    a deleted .snakemake/). The output `record` holds the hash `key` it was made with; the
    stamp holds the current one, and is dated back to 1970 whenever the two agree (or the
    record has none: it predates the record)."""
    current = getattr(exp, key)
    stamp = Path(PARAMS_STAMPS) / f"{exp.name}.{key}"
    if stamp.is_file() and stamp.read_text() == current:
        return str(stamp)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(current)
    if recorded_hash(exp.run_dir / record, key) in (None, current):
        os.utime(stamp, (0, 0))
    return str(stamp)


def train_params_stamp(wildcards):
    """The train rule's: config.yaml records the train_hash of its model.pth."""
    return _params_stamp(resolved(wildcards.experiment), "train_hash", "config.yaml")


def eval_params_stamp(wildcards):
    """The evaluate rule's: eval.json records the config_hash it was evaluated with."""
    return _params_stamp(resolved(wildcards.experiment), "config_hash", "eval.json")


# Outputs made with other code than pose/ holds now (their record's code hash differs; see
# pose.code_version): `--config code_changes=warn` (the default) keeps them and says which,
# `rerun` re-makes them, `stop` refuses to run. A code edit need not change results, and at full
# scale re-making costs GPU-days, so re-making is asked for, never assumed.
CODE_CHANGES = config.get("code_changes", "warn")


def check_code_changes():
    """Say (or stop on) which of the scale's run outputs were made with other code."""
    from pose.code_version import (
        CODE_CHANGE_MODES,
        code_change_message,
        code_statuses,
    )
    from pose.errors import PoseError

    if CODE_CHANGES not in CODE_CHANGE_MODES:
        raise PoseError(f"--config code_changes={CODE_CHANGES!r}: expected one of "
                        f"{', '.join(CODE_CHANGE_MODES)}")
    runs = {e: REGISTRY.resolve(e, SCALE, DATASET).run_dir for e in TRAINED}
    changed = [s for s in code_statuses(runs) if s.changed]
    if not changed:
        return
    message = code_change_message(changed, CODE_CHANGES)
    if CODE_CHANGES == "stop":
        raise PoseError(message)
    print(message, file=sys.stderr)


def _code_stamp(exp, key):
    """An input newer than the run's output exactly when `code_changes=rerun` and the output's
    record holds another code hash than today's code; otherwise dated back to 1970. Its date is
    set once per change, so a job's own re-parse of the Snakefile does not move it."""
    from pose.code_version import CODE_RECORDS, current_code

    record = exp.run_dir / CODE_RECORDS[key][0]
    stamp = Path(PARAMS_STAMPS) / f"{exp.name}.{key}"
    current = current_code()[key]
    recorded = recorded_hash(record, key)
    rerun = CODE_CHANGES == "rerun" and recorded not in (None, current)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    if not stamp.is_file():
        stamp.write_text(current)
        os.utime(stamp, (0, 0))
    if rerun and stamp.stat().st_mtime == 0:
        stamp.write_text(current)  # now: newer than the output
    elif not rerun:
        os.utime(stamp, (0, 0))
    return str(stamp)


def train_code_stamp(wildcards):
    return _code_stamp(resolved(wildcards.experiment), "train_code")


def eval_code_stamp(wildcards):
    return _code_stamp(resolved(wildcards.experiment), "eval_code")


def config_hash(wildcards):
    """Re-evaluate when anything of the resolved experiment changes, test protocol included."""
    return resolved(wildcards.experiment).config_hash


def bench_setup(wildcards):
    """Re-measure throughput when what a training step depends on changes, or where it runs."""
    exp = resolved(wildcards.experiment)
    return (f"{exp.train_hash} {exp.device} gpus={exp.gpus} workers={exp.num_workers} "
            f"threads={exp.threads}")


def train_gpus(wildcards):
    exp = resolved(wildcards.experiment)
    return exp.gpus if exp.device == "cuda" else 0


def train_nodes(wildcards):
    return resolved(wildcards.experiment).nodes


def one_training_gpu(wildcards):
    """One device of the kind training runs on (the throughput benchmark)."""
    return 1 if resolved(wildcards.experiment).device == "cuda" else 0


def eval_gpus(wildcards):
    return 1 if resolved(wildcards.experiment).eval_device == "cuda" else 0


def loader_cpus(wildcards):
    """CPUs of a job that runs the test protocol (evaluation, test predictions): one per data
    loader worker plus the main process. The Slurm plugin requests them (--cpus-per-task)."""
    return resolved(wildcards.experiment).num_workers + 1


def train_threads(wildcards):
    return train_threads_of(wildcards.experiment)


def train_threads_of(experiment):
    """The scale's threads; else, on GPUs, one per loader worker and main process per GPU."""
    exp = resolved(experiment)
    if exp.threads:
        return exp.threads * exp.processes  # a check scale's CPU processes
    return exp.gpus * (exp.num_workers + 1) if exp.device == "cuda" else 8


def table_experiments(table):
    rows = REGISTRY.table(table).typed_rows(table)
    return sorted({row.experiment for row in rows})


def table_inputs(wildcards):
    """eval.json of the rows the scale trains; complexity of every row; the test-dev server
    stats imported so far (a later import re-builds the table)."""
    experiments = table_experiments(wildcards.table)
    imported = [f"{RUNS}/{e}/test-dev/eval.json" for e in experiments
                if os.path.exists(f"{RUNS}/{e}/test-dev/eval.json")]
    record = run_record("eval")
    return [record.format(experiment=r) for r in table_runs(wildcards.table)] + [
        f"runs/complexity/{e}.json" for e in experiments
    ] + imported


def test_dev_folders(wildcards):
    return list(TEST_DEV_DATA.values()) + list(dataset_folders(wildcards))


def table_runs(table):
    """The trainings of the table's rows at this scale (each row once per seed)."""
    return [r for e in table_experiments(table) if e in TRAINED
            for r in REGISTRY.seed_runs(e, SCALE)]


def table_trained(wildcards):
    """Re-build the table when the scale's selection of its rows or their seeds changes."""
    return ",".join(table_runs(wildcards.table))


def mpii_experiments():
    """Trained experiments on MPII (they get a test-set prediction file)."""
    return [e for e in TRAINED
            if resolved(e).task == "keypoints" and resolved(e).keypoints.name == "mpii"]


# ------------------------------------------------------------------------------------------------
# What each job asks a Slurm cluster for, derived from the profile's site block (pose.site: the
# node shape of each partition and the GPU) by pose.cluster_requests. Without a profile (a test
# project) the jobs ask for their threads and loader CPUs only.

from pose.cluster_requests import (
    cpu_request,
    exceeds_time_limit,
    gpu_request,
    misfits,
    training_request,
)
from pose.site import DEFAULT_PROFILE, load_site

SITE = load_site(DEFAULT_PROFILE) if DEFAULT_PROFILE.is_file() else None
BENCH_HOURS = 0.25  # the throughput benchmark (a few hundred steps), a preflight job


def _training_hours(experiment):
    """The training's wall-clock estimate (pose.plan), None where there is none (on the CPU)."""
    exp = resolved(experiment)
    if SITE is None or exp.device != "cuda":
        return None
    from pose.errors import DataError
    from pose.plan import training_estimate

    try:
        # a seed run costs what its experiment does
        return training_estimate(REGISTRY, split_run_id(experiment)[0], SCALE, SITE,
                                 Path("runs")).wall_hours
    except DataError as err:  # no complexity record yet: the partition's time limit
        print(f"Warning: {experiment}: no training-time estimate ({err})", file=sys.stderr)
        return None


def _evaluation_hours(experiment):
    exp = resolved(experiment)
    if SITE is None or exp.eval_device != "cuda":
        return None
    from pose.errors import DataError
    from pose.plan import evaluation_hours

    try:
        return evaluation_hours(REGISTRY, split_run_id(experiment)[0], SCALE, SITE)
    except DataError:  # said once, for its training
        return None


_REQUESTS = {}


def job_request(kind, experiment=None):
    """The JobRequest of a job: `train`, `evaluate` (also the test-set predictions), `bench`
    or `cpu` (one CPU), or None without a site block."""
    key = (kind, experiment)
    if SITE is None:
        return None
    if key not in _REQUESTS:
        if kind == "train":
            request = training_request(resolved(experiment), SITE,
                                       train_threads_of(experiment),
                                       _training_hours(experiment))
        elif kind == "evaluate" and resolved(experiment).eval_device == "cuda":
            request = gpu_request(SITE, 1, 1, _evaluation_hours(experiment))
        elif kind == "evaluate":
            request = cpu_request(SITE, resolved(experiment).num_workers + 1)
        elif kind == "bench" and resolved(experiment).device == "cuda":
            request = gpu_request(SITE, 1, 1, BENCH_HOURS)
        elif kind == "bench":
            request = cpu_request(SITE, train_threads_of(experiment), BENCH_HOURS)
        else:
            request = cpu_request(SITE, 1)
        _REQUESTS[key] = request
    return _REQUESTS[key]


def request_of(kind, field, fallback=None):
    """A resource function for a rule: `field` of the job's request (the Slurm plugin turns
    cpus into --cpus-per-task, mem_mb into --mem, runtime into --time)."""

    def value(wildcards):
        request = job_request(kind, getattr(wildcards, "experiment", None))
        if request is None:
            return fallback(wildcards) if callable(fallback) else fallback
        return {"cpus": request.cpus, "mem_mb": request.mem_mb,
                "runtime": request.runtime_min}[field]

    return value


def site_problems():
    """Every job of the run the site's nodes cannot take, and every training that cannot finish
    within its time limit times its retries (each resumes from the checkpoint)."""
    from pose.preflight import RESOURCES, read_resources

    problems, late = [], []
    for experiment in TRAINED:
        request = job_request("train", experiment)
        record = read_resources(Path("runs") / "preflight" / experiment / RESOURCES) or {}
        memory = (record.get("gpu_memory") or {}).get("total_gb")
        problems += misfits(f"train {experiment}", request, SITE,
                            memory if resolved(experiment).device == "cuda" else None)
        problems += misfits(f"evaluate {experiment}", job_request("evaluate", experiment), SITE)
        hours = _training_hours(experiment)
        partition = SITE.partitions[request.partition]
        if hours is not None and exceeds_time_limit(hours, partition, SITE.retries):
            late.append(f"train {experiment}: an estimated {hours:.0f} h, more than the time "
                        f"limit {partition.runtime_min} min x {SITE.retries + 1} attempts "
                        f"({SITE.path} partitions.{partition.name}.max_runtime, retries)")
    return problems, late


def check_site(executor):
    """Before anything is submitted to Slurm: stop when a job cannot fit the site's nodes."""
    if SITE is None or executor != "slurm":
        return
    from pose.errors import PoseError

    problems, late = site_problems()
    for line in late:
        print(f"Warning: {line}", file=sys.stderr)
    if problems:
        raise PoseError("The site's nodes cannot run these jobs, so nothing was submitted "
                        "(edit the site block of slurm/config.yaml, or the experiments):\n  "
                        + "\n  ".join(problems))


def _figure(stem, caption, category, subcategory="Figures"):
    """A plot's PNG, marked for the HTML report, and its SVG."""
    return [report(f"reports/plots/{stem}.png", caption=f"../report/{caption}.rst",
                   category=category, subcategory=subcategory),
            f"reports/plots/{stem}.svg"]
