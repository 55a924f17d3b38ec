"""How `pose train` starts one process per GPU."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import pytest

from pose.config import load_registry
from pose.engine.launch import distributed_command
from pose.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
ARGV = ["train", "dnanet_w32_256x192", "--scale", "full"]


@pytest.fixture()
def full_exp(monkeypatch: pytest.MonkeyPatch):
    for var in ("LOCAL_RANK", "WORLD_SIZE"):
        monkeypatch.delenv(var, raising=False)
    return load_registry(ROOT / "params").resolve("dnanet_w32_256x192", "full")


def test_one_node_runs_torchrun_with_a_process_per_gpu(full_exp) -> None:
    assert full_exp.gpus == 8  # DNANet: "8 TITAN V GPUs"
    command = distributed_command(full_exp, ARGV, env={})
    assert command == [sys.executable, "-m", "torch.distributed.run", "--standalone",
                       "--nproc-per-node=8", "-m", "pose.cli", *ARGV]


def test_several_nodes_run_torchrun_per_node_under_srun(full_exp) -> None:
    exp = replace(full_exp, nodes=2)
    env = {"SLURM_JOB_NODELIST": "gpu[07-08]", "SLURM_JOB_ID": "4242"}
    command = distributed_command(exp, ARGV, env=env,
                                  hostnames=lambda nodes: ["gpu07", "gpu08"])
    assert command[:6] == ["srun", "--nodes=2", "--ntasks=2", "--ntasks-per-node=1",
                           "--gpus-per-task=4", "--kill-on-bad-exit=1"]
    assert "--nnodes=2" in command and "--nproc-per-node=4" in command
    assert "--rdzv-endpoint=gpu07:29500" in command and "--rdzv-id=4242" in command
    assert command[-len(ARGV) - 2:] == ["-m", "pose.cli", *ARGV]
    with pytest.raises(ConfigError, match="SLURM_JOB_NODELIST"):
        distributed_command(exp, ARGV, env={})


def test_one_gpu_the_cpu_or_a_torchrun_child_train_in_process(
        full_exp, monkeypatch: pytest.MonkeyPatch) -> None:
    assert distributed_command(replace(full_exp, gpus=1, processes=1), ARGV, env={}) is None
    assert distributed_command(replace(full_exp, device="cpu", processes=1), ARGV,
                               env={}) is None
    monkeypatch.setenv("LOCAL_RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "8")
    assert distributed_command(full_exp, ARGV, env={}) is None


def test_the_preflight_scale_trains_one_experiment_per_family_in_two_cpu_processes() -> None:
    registry = load_registry(ROOT / "params")
    exp = registry.resolve("danet_72_256x192", "preflight", "synthetic")
    argv = ["train", "danet_72_256x192", "--scale", "preflight"]
    assert (exp.device, exp.processes) == ("cpu", 2)
    assert distributed_command(exp, argv, env={}) == [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
        "-m", "pose.cli", *argv]
    # an experiment the scale does not list trains in this process
    other = registry.resolve("dnanet_w32_256x192", "preflight", "synthetic")
    assert other.processes == 1 and distributed_command(other, argv, env={}) is None
