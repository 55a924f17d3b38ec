"""Starting one training process per GPU: torchrun on one node, srun + torchrun across nodes.

`pose train EXP` at a CUDA scale with `gpus` > 1 replaces itself with this command, so the
Snakemake rule, the DVC stage and a user typing the command all start training the same way.
Each process then finds RANK/WORLD_SIZE/LOCAL_RANK (pose.engine.distributed).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from pose.config import ResolvedExperiment
from pose.engine.distributed import launched_by_torchrun
from pose.errors import ConfigError, DeviceError

RENDEZVOUS_PORT = 29500


def slurm_hostnames(nodelist: str) -> list[str]:
    """Slurm's compressed node list (`gpu[01-04]`) expanded, in allocation order."""
    return subprocess.run(["scontrol", "show", "hostnames", nodelist], check=True,
                          capture_output=True, text=True).stdout.split()


def job_loader_workers(exp: ResolvedExperiment, training: bool,
                       env: Mapping[str, str] | None = None) -> ResolvedExperiment:
    """Inside a Slurm job, data loader workers follow the CPUs the job got
    (SLURM_CPUS_PER_TASK, derived from the site's node shape) rather than the scale's
    `num_workers`: each of the job's GPU processes keeps one CPU and gives the rest of its share
    to its loader. On the CPU, and outside Slurm, the scale's figure stands (CPU training
    computes on those cores)."""
    env = os.environ if env is None else env
    device = exp.device if training else exp.eval_device
    cpus = env.get("SLURM_CPUS_PER_TASK", "")
    if device != "cuda" or not cpus.isdigit():
        return exp
    processes = exp.gpus // exp.nodes if training else 1
    return replace(exp, num_workers=max(0, int(cpus) // max(processes, 1) - 1))


def distributed_command(exp: ResolvedExperiment, argv: Sequence[str],
                        env: Mapping[str, str] | None = None,
                        hostnames: Callable[[str], list[str]] = slurm_hostnames
                        ) -> list[str] | None:
    """The command that runs `pose <argv>` as `exp.processes` processes (one per GPU, or a
    check scale's CPU processes under gloo), or None when this process trains by itself (one
    GPU, the CPU, or already started by torchrun). Across nodes the rendezvous listens on the
    allocation's first host."""
    env = os.environ if env is None else env
    if launched_by_torchrun() or exp.processes == 1:
        return None
    torchrun = [sys.executable, "-m", "torch.distributed.run"]
    pose = ["-m", "pose.cli", *argv]
    if exp.device != "cuda":  # the CPU's DistributedDataParallel path, one machine
        return [*torchrun, "--standalone", f"--nproc-per-node={exp.processes}", *pose]
    per_node = exp.gpus // exp.nodes
    if exp.nodes == 1:
        return [*torchrun, "--standalone", f"--nproc-per-node={per_node}", *pose]
    nodelist = env.get("SLURM_JOB_NODELIST") or env.get("SLURM_NODELIST")
    if not nodelist:
        raise ConfigError(f"experiment {exp.name!r} trains on {exp.nodes} nodes, which needs a "
                          "Slurm allocation (SLURM_JOB_NODELIST is not set): submit it with "
                          "`snakemake --profile slurm`")
    job = env.get("SLURM_JOB_ID", "pose")
    return [
        "srun", f"--nodes={exp.nodes}", f"--ntasks={exp.nodes}", "--ntasks-per-node=1",
        f"--gpus-per-task={per_node}", "--kill-on-bad-exit=1",
        *torchrun, f"--nnodes={exp.nodes}", f"--nproc-per-node={per_node}",
        "--rdzv-backend=c10d", f"--rdzv-id={job}",
        f"--rdzv-endpoint={hostnames(nodelist)[0]}:{RENDEZVOUS_PORT}",
        *pose,
    ]


def check_devices(exp: ResolvedExperiment, cuda_available: Callable[[], bool] | None = None,
                  device_count: Callable[[], int] | None = None) -> None:
    """DeviceError unless this machine has the GPUs a CUDA scale starts here: checked before
    torchrun starts a process per GPU (each would die on its own in CUDA set-up). Across nodes
    srun places the processes, and each one checks its own GPU when it starts."""
    if exp.device != "cuda" or launched_by_torchrun() or exp.nodes > 1:
        return
    import torch

    cuda_available = cuda_available or torch.cuda.is_available
    device_count = device_count or torch.cuda.device_count
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    where = f" (CUDA_VISIBLE_DEVICES={visible!r})" if visible is not None else ""
    if not cuda_available():
        raise DeviceError(
            f"experiment {exp.name!r} trains on {exp.gpus} GPU{'s' if exp.gpus > 1 else ''} at "
            f"scale {exp.scale!r}, but this machine has no usable CUDA device{where}; run it on "
            "a GPU node (snakemake --profile slurm) or use the smoke scale"
        )
    count = device_count()
    if count < exp.gpus:
        raise DeviceError(
            f"experiment {exp.name!r} trains on {exp.gpus} GPUs at scale {exp.scale!r} (one "
            f"process each), but this machine shows {count}{where}; run it on a node with "
            f"{exp.gpus} GPUs (snakemake --profile slurm requests them)"
        )


def exec_distributed(command: list[str]) -> None:
    """Replace this process with the launcher: the scheduler's signals reach it directly."""
    print("starting " + " ".join(command), file=sys.stderr, flush=True)
    os.execvp(command[0], command)
