"""The Slurm profile (slurm/config.yaml) at full scale: its dry run lists every training job once
with its GPU request, and the executor plugin's own routing sends each job to the partition of
the site block by its GPU request."""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PROFILE = ROOT / "slurm" / "config.yaml"


class JobResources(dict):
    """A dry-run job's resources, read as the plugin reads a job's (`.get` and attributes)."""

    def __getattr__(self, name: str) -> object:
        try:
            return self[name]
        except KeyError as err:
            raise AttributeError(name) from err


@dataclass
class DryRunJob:
    """One job of `snakemake -n`, with what the Slurm plugin looks at when it submits it."""

    rule: str
    wildcards: str
    resources: JobResources
    threads: int = 1  # not in the dry run's listing; no partition of the site block limits it

    @property
    def name(self) -> str:
        return self.rule

    def is_group(self) -> bool:
        return False


def _value(text: str) -> int | str:
    return int(text) if re.fullmatch(r"-?\d+", text) else text


def parse_dry_run(output: str) -> list[DryRunJob]:
    """The jobs `snakemake -n` lists, with their wildcards and resources."""
    jobs = []
    # a group's jobs are listed indented under "Group job NAME"
    for rule, block in re.findall(r"^ *rule (\w+):\n(.*?)(?=\n\s*\[|\n\S|\Z)", output,
                                  flags=re.S | re.M):  # fmt: skip
        wildcards = re.search(r"^\s+wildcards: (.*)$", block, flags=re.M)
        resources = re.search(r"^\s+resources: (.*)$", block, flags=re.M)
        pairs = (item.split("=", 1) for item in resources.group(1).split(", ")) if resources else ()
        jobs.append(DryRunJob(
            rule=rule,
            wildcards=wildcards.group(1) if wildcards else "",
            resources=JobResources({k: _value(v) for k, v in pairs}),
        ))  # fmt: skip
    return jobs


def profile_workflow_copy(dst: Path) -> Path:
    """The files a dry run with the Slurm profile reads, in a scratch directory. reports/ comes
    along as the repository holds it (written at smoke scale): the full scale must still be
    planned in full. Of runs/ only the complexity records come, as a clone has them (the
    training-time estimates read them), but one, so that every kind of job is listed."""
    for name in ("Snakefile", "environment.yml"):
        shutil.copy(ROOT / name, dst / name)
    for folder in ("workflow", "params", "slurm", "reports", "runs/complexity"):
        shutil.copytree(ROOT / folder, dst / folder)
    next((dst / "runs" / "complexity").glob("*.json")).unlink()
    return dst


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.fixture(scope="module")
def full_dry_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[DryRunJob]]:
    """`snakemake --profile slurm -n` as a user types it, in a copy of the repository."""
    work = profile_workflow_copy(tmp_path_factory.mktemp("slurm-profile"))
    proc = subprocess.run(["snakemake", "--profile", "slurm", "-n"], cwd=work, env=_env(),
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    return work, parse_dry_run(out)


def _profile() -> dict:
    return yaml.safe_load(PROFILE.read_text())


def _partitions() -> list:
    from snakemake_executor_plugin_slurm.partitions import read_partition_file

    return read_partition_file(PROFILE)


def _route(job: DryRunJob) -> str | None:
    from snakemake_executor_plugin_slurm.partitions import get_best_partition

    return get_best_partition(_partitions(), job, logging.getLogger("slurm-routing"))


def _site_partitions() -> tuple[str, str]:
    """(CPU partition, GPU partition) named in the site block."""
    limits = _profile()["partitions"]
    cpu = [name for name, spec in limits.items() if not spec.get("max_gpu")]
    gpu = [name for name, spec in limits.items() if spec.get("max_gpu")]
    assert len(cpu) == 1 and len(gpu) == 1, limits
    return cpu[0], gpu[0]


def test_full_scale_dry_run_trains_each_experiment_once_with_its_gpus(
    full_dry_run: tuple[Path, list[DryRunJob]],
) -> None:
    from pose.config import load_registry

    work, jobs = full_dry_run
    registry = load_registry(work / "params", check_pipeline=False)
    expected = registry.trained_experiments("full", "coco")
    train = [j for j in jobs if j.rule == "train"]
    trained = [j.wildcards.removeprefix("experiment=") for j in train]
    assert sorted(trained) == sorted(expected)  # each once: shared experiments trained once
    assert len(set(trained)) == len(trained)
    for job, exp in zip(train, trained, strict=True):
        assert job.resources["gpu"] == registry.experiments[exp].gpus > 0, exp


def test_jobs_go_to_the_site_partition_their_gpu_request_fits(
    full_dry_run: tuple[Path, list[DryRunJob]],
) -> None:
    """The plugin's partition choice for every job of the dry run: GPU jobs (whatever the rule)
    to the GPU partition, the others to the CPU partition."""
    _, jobs = full_dry_run
    # The plugin reads the partitions from this file (the profile parser makes the path relative
    # to the profile's folder).
    assert _profile()["slurm-partition-config"] == PROFILE.name
    cpu, gpu = _site_partitions()
    rules = {j.rule for j in jobs}
    assert {"train", "evaluate", "complexity", "table", "report"} <= rules
    for job in jobs:
        if "gpu" not in job.resources:
            continue  # a rule that runs nothing (`all`) is not submitted
        expected = gpu if job.resources["gpu"] > 0 else cpu
        assert _route(job) == expected, (job.rule, job.wildcards, dict(job.resources))
    routed = {j.rule: _route(j) for j in jobs if j.rule in ("train", "evaluate", "complexity")}
    assert routed == {"train": gpu, "evaluate": gpu, "complexity": cpu}


def test_every_job_asks_for_its_share_of_a_declared_node(
    full_dry_run: tuple[Path, list[DryRunJob]],
) -> None:
    """Each training asks for its GPUs' share of a GPU node's CPUs and memory and a time limit
    within the partition's; an evaluation for one GPU's share."""
    from pose.site import load_site

    _, jobs = full_dry_run
    node = load_site(PROFILE).gpu_partition()
    train = [j for j in jobs if j.rule == "train"]
    assert {j.resources["gpu"] for j in train} > {1}  # several GPU counts are checked
    for job in train + [j for j in jobs if j.rule == "evaluate"]:
        gpus = job.resources["gpu"]
        assert job.resources["cpus_per_task"] == node.cpus * gpus // node.gpus, job
        assert job.resources["mem_mb"] == node.mem_mb * gpus // node.gpus, job
        assert 0 < job.resources["runtime"] <= node.runtime_min, job
    runtimes = {j.resources["runtime"] for j in train}
    assert len(runtimes) > 1  # estimated per experiment, not one default


def test_training_jobs_are_submitted_preemptible(
    full_dry_run: tuple[Path, list[DryRunJob]],
) -> None:
    """The sbatch line the plugin builds for a training job: USR1 before the time limit to the
    job's processes (not only the batch shell), requeued after preemption or a node failure,
    its GPUs of the site's type."""
    from snakemake_executor_plugin_slurm.submit_string import get_submit_command
    from snakemake_executor_plugin_slurm.utils import set_gres_string

    _, jobs = full_dry_run
    profile = _profile()
    settings = SimpleNamespace(requeue=profile["slurm-requeue"], no_requeue=False, qos=None,
                               reservation=None)  # fmt: skip
    params = {"run_uuid": "run", "slurm_logfile": "log", "comment_str": "c", "account": "",
              "partition": "", "workdir": "."}  # fmt: skip
    train = next(j for j in jobs if j.rule == "train")
    sbatch = get_submit_command(train, params, settings=settings)
    signal = re.search(r"--signal=(\S+)", sbatch)
    assert signal and re.fullmatch(r"USR1@\d+", signal.group(1)), sbatch
    assert "--requeue" in sbatch and f"-t {train.resources['runtime']}" in sbatch
    assert f"--gpus={train.resources['gpu']}" in set_gres_string(train)
    typed = DryRunJob(train.rule, train.wildcards, JobResources(train.resources, gpu_model="a100"))
    assert set_gres_string(typed).strip() == f"--gpus=a100:{train.resources['gpu']}"
    # Other jobs get no signal: only the trainer checkpoints on it.
    report = next(j for j in jobs if j.rule == "report")
    assert "--signal" not in get_submit_command(report, params, settings=settings)


def test_evaluation_jobs_run_on_one_gpu_with_its_cpus(
    full_dry_run: tuple[Path, list[DryRunJob]],
) -> None:
    from snakemake_executor_plugin_slurm.submit_string import get_submit_command

    from pose.site import load_site

    _, jobs = full_dry_run
    node = load_site(PROFILE).gpu_partition()
    params = {"run_uuid": "run", "slurm_logfile": "log", "comment_str": "c", "account": "",
              "partition": "", "workdir": "."}  # fmt: skip
    evaluate = [j for j in jobs if j.rule == "evaluate"]
    assert evaluate
    for job in evaluate:
        cpus = node.cpus // node.gpus
        assert job.resources["gpu"] == 1 and job.resources["cpus_per_task"] == cpus > 1
        assert f"--cpus-per-task={cpus}" in get_submit_command(job, params)


def test_site_block_comes_first_and_default_resources_hold_no_tasks() -> None:
    """Everything a site edits is above the end-of-site marker; a `tasks` default would make
    older plugin versions start one copy of a job per GPU."""
    text = PROFILE.read_text()
    site, _, rest = text.partition("END OF SITE SETTINGS")
    assert rest, "slurm/config.yaml has no end-of-site-settings marker"
    site_keys = {"partitions", "slurm-partition-config", "site", "slurm-status-command",
                 "default-resources", "set-resources"}  # fmt: skip
    assert site_keys <= set(re.findall(r"^([\w-]+):", site, flags=re.M))
    assert not site_keys & set(re.findall(r"^([\w-]+):", rest, flags=re.M))
    profile = _profile()
    assert "tasks" not in profile["default-resources"]
    assert profile["executor"] == "slurm" and profile["config"]["scale"] == "full"
