"""The Slurm profile for real: a tiny project runs end to end through sbatch on a single-node
Slurm cluster with accounting (scripts/local-slurm), every job of the run in sacct."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
LOCAL_SLURM = ROOT / "scripts" / "local-slurm"
ACCOUNT = "local"  # the account `local-slurm start` registers root under


def _local_slurm(*args: str, timeout: int = 600) -> str:
    """Run scripts/local-slurm; a failure fails the test with the script's output."""
    try:
        proc = subprocess.run([str(LOCAL_SLURM), *args], capture_output=True, text=True,
                              timeout=timeout)  # fmt: skip
    except subprocess.TimeoutExpired as err:
        pytest.fail(f"scripts/local-slurm {' '.join(args)} did not finish in {timeout} s:\n"
                    f"{_partial_output(err)}")  # fmt: skip
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        pytest.fail(f"scripts/local-slurm {' '.join(args)} failed ({proc.returncode}):\n{out}")
    return out


def _partial_output(err: subprocess.TimeoutExpired) -> str:
    """What a command printed before its timeout (bytes here, whatever `text` asked for)."""
    parts = (o for o in (err.stdout, err.stderr) if o)
    return "".join(o.decode(errors="replace") if isinstance(o, bytes) else o for o in parts)[-6000:]


@pytest.fixture(scope="module")
def local_slurm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A running single-node cluster (packages installed first when missing), stopped after."""
    folder = tmp_path_factory.mktemp("local-slurm")
    _local_slurm("install")
    try:
        _local_slurm("start", str(folder), timeout=180)
        yield folder
    finally:
        _local_slurm("stop", str(folder), timeout=120)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"  # `pose` in the jobs (--export=ALL)
    return env


# The node shape the tests declare: the local node's CPUs (a training of the tiny scale takes
# one), and a memory well under the node's, so the derived --mem is visibly the share.
NODE_CPUS = max(2, os.cpu_count() or 2)
NODE_MEM_MB = 1000 * NODE_CPUS
NODE_RUNTIME_MIN = 30  # below the 60 minutes a CPU job without an estimate asks for


def point_site_block_at_local_cluster(profile: Path, cpus: int = NODE_CPUS) -> None:
    """Edit only the site block of a copied profile: the local cluster's partitions (declared
    with `cpus` CPUs per node) and account."""
    settings = yaml.safe_load(profile.read_text())
    node = {"max_threads": cpus, "max_mem_mb": NODE_MEM_MB, "max_runtime": NODE_RUNTIME_MIN}
    settings["partitions"] = {"cpu": {**node, "max_gpu": 0}, "gpu": {**node, "max_gpu": 8}}
    settings["default-resources"] = {**settings["default-resources"], "slurm_account": ACCOUNT}
    profile.write_text(yaml.safe_dump(settings, sort_keys=False))


def _tiny_slurm_project(work: Path, tiny_dataset: Path, measured: Sequence[str] = ()) -> Path:
    """The tiny project (tests/conftest.py) with the Slurm profile, its dataset in place, and the
    complexity files the repository holds for its experiments (as a clone of it has them) but
    those of `measured`, which the run measures."""
    from conftest import write_tiny_params

    params = write_tiny_params(work)
    for name in ("Snakefile", "environment.yml"):
        shutil.copy(ROOT / name, work / name)
    for folder in ("workflow", "slurm"):
        shutil.copytree(ROOT / folder, work / folder)
    shutil.copytree(tiny_dataset, work / "data" / "synthetic")
    experiments = yaml.safe_load((params / "experiments.yaml").read_text())["experiments"]
    (work / "runs" / "complexity").mkdir(parents=True)
    for exp in experiments:
        committed = ROOT / "runs" / "complexity" / f"{exp}.json"
        if committed.is_file() and exp not in measured:
            shutil.copy(committed, work / "runs" / "complexity" / committed.name)
    point_site_block_at_local_cluster(work / "slurm" / "config.yaml")
    return work


def _sacct(run_id: str) -> list[dict[str, str]]:
    """The run's jobs as Slurm accounting lists them (the plugin names each job by the run ID)."""
    fields = ["JobIDRaw", "JobName%64", "Comment%256", "State", "Partition", "Account",
              "ReqCPUS", "ReqMem", "Timelimit"]
    proc = subprocess.run(["sacct", "-X", "--parsable2", "--noheader", "--starttime", "now-1days",
                           "--name", run_id, f"--format={','.join(fields)}"],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    names = [f.split("%")[0] for f in fields]
    return [dict(zip(names, line.split("|"), strict=True)) for line in proc.stdout.splitlines()]


def _rule_of(comment: str) -> str:
    """`rule_bench_train_wildcards_x` -> `bench_train` (the plugin's sbatch --comment)."""
    return comment.removeprefix("rule_").split("_wildcards_")[0]


@pytest.mark.slow
def test_profile_runs_the_tiny_pipeline_through_slurm(
    local_slurm: Path, tiny_dataset: Path, tmp_path: Path
) -> None:
    from conftest import TINY_TRAIN

    work = _tiny_slurm_project(tmp_path, tiny_dataset, measured=TINY_TRAIN)
    # The scale on the command line; the local cluster needs only faster polling than the
    # plugin's 40 s before the first status check.
    cmd = ["snakemake", "--profile", "slurm", "--config", "scale=tiny", "dataset=synthetic",
           "--slurm-init-seconds-before-status-checks", "1"]  # fmt: skip
    try:
        proc = subprocess.run(cmd, cwd=work, env=_env(), capture_output=True, text=True,
                              timeout=600)  # fmt: skip
    except subprocess.TimeoutExpired as err:
        pytest.fail(f"snakemake did not finish in {err.timeout} s:\n{_partial_output(err)}")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]

    index = (work / "reports" / "index.md").read_text()
    assert "Baselines" in index
    for suffix in ("md", "json"):
        assert (work / "reports" / "tables" / f"baselines.{suffix}").stat().st_size > 0
    for exp in TINY_TRAIN:
        assert (work / "runs" / "tiny" / exp / "eval.json").is_file()

    # Every job Snakemake ran went through sbatch: one Slurm job per job, of the same rules.
    run_id = re.search(r"SLURM run ID: (\S+)", out).group(1)
    local = set(re.findall(r"^localrule (\w+):", out, flags=re.M))
    ran = Counter(r for r in re.findall(r"Finished jobid: \d+ \(Rule: (\w+)\)", out)
                  if r not in local)  # fmt: skip
    jobs = _sacct(run_id)
    # Fetching, the tables and the report ran on the submitting host; the complexity jobs of the
    # two experiments in one Slurm job (their group); every other job through sbatch.
    assert {"table", "report"} <= local, out[-6000:]
    in_slurm = Counter(_rule_of(j["Comment"]) for j in jobs)
    assert not {"table", "report", "all"} & set(in_slurm) and not any(
        r.startswith("fetch") for r in in_slurm)
    groups = [r for r in in_slurm if r.startswith("complexity")]
    assert len(groups) == 1 and in_slurm.pop(groups[0]) == 1, in_slurm
    assert ran.pop("complexity") == len(TINY_TRAIN)
    assert in_slurm == ran and sum(ran.values()) > 0
    assert ran["train"] == len(TINY_TRAIN) and local >= {"report"}
    for exp in TINY_TRAIN:
        assert (work / "runs" / "complexity" / f"{exp}.json").is_file()
    # No GPU at tiny scale: every job on the CPU partition, under the site block's account.
    assert {(j["State"], j["Partition"], j["Account"]) for j in jobs} == {
        ("COMPLETED", "cpu", ACCOUNT)}

    # Each job's request derived from the declared node: its CPUs (a tiny training and an
    # evaluation take one) and their share of the node's memory; a time limit capped at the
    # partition's. Training jobs are requeueable.
    share = NODE_MEM_MB // NODE_CPUS
    for job in (j for j in jobs if _rule_of(j["Comment"]) in ("train", "evaluate")):
        assert (job["ReqCPUS"], job["ReqMem"]) == ("1", f"{share}M"), job
        assert job["Timelimit"] == _slurm_time(NODE_RUNTIME_MIN), job
    for job in (j for j in jobs if _rule_of(j["Comment"]) == "train"):
        shown = subprocess.run(["scontrol", "show", "job", job["JobIDRaw"]], capture_output=True,
                               text=True, timeout=30).stdout  # fmt: skip
        assert "Requeue=1" in shown, shown


@pytest.mark.slow
def test_a_job_larger_than_the_declared_node_stops_the_run_before_submission(
    local_slurm: Path, tiny_dataset: Path, tmp_path: Path
) -> None:
    """A training that takes 3 CPUs on nodes declared with 2 never reaches sbatch: the run
    stops naming the job, what it needs and the site's value."""
    from conftest import TINY_TRAIN

    work = _tiny_slurm_project(tmp_path, tiny_dataset)
    point_site_block_at_local_cluster(work / "slurm" / "config.yaml", cpus=2)
    scales_path = work / "params" / "scales.yaml"
    scales = yaml.safe_load(scales_path.read_text())
    scales["tiny"]["threads"] = 3
    scales_path.write_text(yaml.safe_dump(scales, sort_keys=False))
    proc = subprocess.run(
        ["snakemake", "--profile", "slurm", "--config", "scale=tiny", "dataset=synthetic",
         "--slurm-init-seconds-before-status-checks", "1"],
        cwd=work, env=_env(), capture_output=True, text=True, timeout=300)  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-4000:]
    assert "nothing was submitted" in out, out[-4000:]
    for exp in TINY_TRAIN:
        assert (f"train {exp}: needs 3 CPUs on one node, the nodes have 2 "
                "(slurm/config.yaml partitions.cpu.max_threads)") in out, out[-4000:]
    run_id = re.search(r"SLURM run ID: (\S+)", out)
    assert run_id is None or _sacct(run_id.group(1)) == []
    assert not (work / "runs" / "tiny").exists()


def _slurm_time(minutes: int) -> str:
    """Minutes as `scontrol show job` prints a time limit: [D-]HH:MM:SS."""
    days, minutes = divmod(minutes, 24 * 60)
    clock = f"{minutes // 60:02d}:{minutes % 60:02d}:00"
    return f"{days}-{clock}" if days else clock


def _running_train_job(run_id: str) -> str | None:
    """The Slurm job id of the run's training job while it is RUNNING."""
    listing = subprocess.run(["squeue", "-h", "-n", run_id, "-o", "%i %T %k"],
                             capture_output=True, text=True, timeout=30).stdout  # fmt: skip
    for line in listing.splitlines():
        job, state, comment = line.split()
        if state == "RUNNING" and _rule_of(comment) == "train":
            return job
    return None


@pytest.mark.slow
def test_usr1_stops_a_training_job_and_the_retry_resumes_from_its_step(
    local_slurm: Path, tiny_dataset: Path, tmp_path: Path
) -> None:
    """What Slurm's `--signal=USR1@600` does before a time limit, sent with scancel: through
    the job's snakemake (which ignores it) to the trainer, which checkpoints and exits; the
    profile's retry resumes from that step."""
    from pose.stages import use_scale_stage

    work = _tiny_slurm_project(tmp_path, tiny_dataset)
    scales_path = work / "params" / "scales.yaml"
    scales = yaml.safe_load(scales_path.read_text())
    # many short epochs without validation: long enough to be signalled while it runs
    scales["tiny"]["recipe"].update(epochs=150, batch_size=2)
    scales["tiny"]["val_every"] = 1000
    scales_path.write_text(yaml.safe_dump(scales, sort_keys=False))
    use_scale_stage(work / "params", "tiny")
    run_dir = work / "runs" / "tiny" / "hrnet_w32_256x192"
    output = (tmp_path / "snakemake.log").open("w")
    proc = subprocess.Popen(
        ["snakemake", "--profile", "slurm", "--config", "scale=tiny", "dataset=synthetic",
         "--slurm-init-seconds-before-status-checks", "1",
         str((run_dir / "model.pth").relative_to(work))],
        cwd=work, env=_env(), stdout=output, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        job = None
        while job is None or not (run_dir / "checkpoints" / "last.pth").exists():
            assert proc.poll() is None and time.monotonic() < deadline, (
                (tmp_path / "snakemake.log").read_text()[-4000:])
            time.sleep(0.5)
            match = re.search(r"SLURM run ID: (\S+)", (tmp_path / "snakemake.log").read_text())
            job = _running_train_job(match.group(1)) if match else None
        subprocess.run(["scancel", "--signal=USR1", job], check=True, timeout=30)
        assert proc.wait(timeout=600) == 0, (tmp_path / "snakemake.log").read_text()[-4000:]
    finally:
        if proc.poll() is None:
            proc.kill()
    out = (tmp_path / "snakemake.log").read_text()
    run_id = re.search(r"SLURM run ID: (\S+)", out).group(1)
    trains = [j for j in _sacct(run_id) if _rule_of(j["Comment"]) == "train"]
    assert [j["State"] for j in sorted(trains, key=lambda j: int(j["JobIDRaw"]))] == [
        "FAILED", "COMPLETED"]
    log = (work / "logs" / "tiny" / "train_hrnet_w32_256x192.log").read_text()
    resumed = re.search(r"resuming after epoch (\d+)( step \d+)? from", log)
    assert resumed, log[-2000:]
    assert 0 < int(resumed.group(1)) <= 150 and (run_dir / "model.pth").is_file()
