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

from pose.config import ResolvedExperiment
from pose.engine.distributed import launched_by_torchrun
from pose.errors import ConfigError

RENDEZVOUS_PORT = 29500


def slurm_hostnames(nodelist: str) -> list[str]:
    """Slurm's compressed node list (`gpu[01-04]`) expanded, in allocation order."""
    return subprocess.run(["scontrol", "show", "hostnames", nodelist], check=True,
                          capture_output=True, text=True).stdout.split()


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


def exec_distributed(command: list[str]) -> None:
    """Replace this process with the launcher: the scheduler's signals reach it directly."""
    print("starting " + " ".join(command), file=sys.stderr, flush=True)
    os.execvp(command[0], command)
