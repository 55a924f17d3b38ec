"""What each Slurm job asks for, derived from the site's node shapes (pose.site): a job asks for
its share of a node, so that as many jobs as the node has GPUs fit side by side, and a job that
cannot fit any node is named before anything is submitted (a request no node can satisfy pends
for ever, and Slurm does not say why).

- A training on N GPUs of one node: N / GPUs-per-node of the node's CPUs and memory.
- A training on several nodes (experiments.yaml `nodes`): whole nodes.
- A one-GPU job (evaluation, test predictions, the throughput benchmark): one GPU's share.
- A CPU job: its CPUs, and the CPU partition's memory per CPU times them.
Runtimes come from estimates (pose.plan) with a margin, capped at the partition's time limit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pose.config import ResolvedExperiment
from pose.engine.memory import fits
from pose.site import Partition, Site

RUNTIME_MARGIN = 1.5  # estimates are from FLOPs or a benchmark: leave room for both being off
RUNTIME_OVERHEAD_MIN = 15  # start-up, loading the data, writing checkpoints and records
CPU_JOB_RUNTIME_MIN = 60  # a CPU job of a scale without estimates (smoke, tiny)


@dataclass(frozen=True)
class JobRequest:
    """One sbatch request: per node for CPUs and memory (as --cpus-per-task and --mem are)."""

    partition: str
    gpus: int
    nodes: int
    cpus: int
    mem_mb: int
    runtime_min: int


def runtime_minutes(estimate_hours: float | None, partition: Partition,
                    default: int = CPU_JOB_RUNTIME_MIN) -> int:
    """The estimate with its margin and overhead, within the partition's time limit."""
    if estimate_hours is None:
        return min(default, partition.runtime_min)
    minutes = math.ceil(estimate_hours * 60 * RUNTIME_MARGIN + RUNTIME_OVERHEAD_MIN)
    return min(minutes, partition.runtime_min)


def gpu_share(partition: Partition, gpus: int) -> tuple[int, int]:
    """CPUs and memory (MB) that go with `gpus` of a node's GPUs."""
    return (max(1, partition.cpus * gpus // partition.gpus),
            partition.mem_mb * gpus // partition.gpus)


def cpu_request(site: Site, cpus: int, estimate_hours: float | None = None) -> JobRequest:
    """A job on the CPU partition with `cpus` CPUs and their share of a node's memory."""
    part = site.cpu_partition()
    return JobRequest(partition=part.name, gpus=0, nodes=1, cpus=cpus,
                      mem_mb=part.mem_mb * cpus // part.cpus,
                      runtime_min=runtime_minutes(estimate_hours, part))


def gpu_request(site: Site, gpus: int, nodes: int, estimate_hours: float | None) -> JobRequest:
    """A job on the GPU partition: its share of one node, or whole nodes when it spans several.
    A request larger than a node is kept as it is: `misfits` names it."""
    part = site.gpu_partition()
    if nodes > 1:
        cpus, mem = part.cpus, part.mem_mb
    elif gpus > part.gpus:
        cpus, mem = part.cpus * gpus // part.gpus, part.mem_mb * gpus // part.gpus
    else:
        cpus, mem = gpu_share(part, gpus)
    # without an estimate a GPU job (a training resumes on retry) asks for the whole limit
    return JobRequest(partition=part.name, gpus=gpus, nodes=nodes, cpus=cpus, mem_mb=mem,
                      runtime_min=runtime_minutes(estimate_hours, part, part.runtime_min))


def training_request(exp: ResolvedExperiment, site: Site, cpu_threads: int,
                     estimate_hours: float | None) -> JobRequest:
    """A training job: `exp.gpus` GPUs over `exp.nodes` nodes on CUDA, else `cpu_threads` CPUs.
    `estimate_hours` is its wall-clock estimate (pose.plan)."""
    if exp.device != "cuda":
        return cpu_request(site, cpu_threads, estimate_hours)
    return gpu_request(site, exp.gpus, exp.nodes, estimate_hours)


def misfits(job: str, request: JobRequest, site: Site,
            gpu_memory_gb: float | None = None) -> list[str]:
    """Why `request` cannot run on the site's nodes (empty when it fits): each reason names the
    job, what it needs and the site's value."""
    part = site.partitions[request.partition]
    where = f"{site.path} partitions.{part.name}"
    gpus_per_node = request.gpus // request.nodes if request.nodes else request.gpus
    problems = []
    if gpus_per_node > part.gpus:
        hint = (" (give the experiment `nodes:` in params/experiments.yaml to spread it)"
                if request.nodes == 1 else "")
        problems.append(f"{job}: needs {gpus_per_node} GPUs on one node, the nodes have "
                        f"{part.gpus} ({where}.max_gpu){hint}")
    if request.cpus > part.cpus:
        problems.append(f"{job}: needs {request.cpus} CPUs on one node, the nodes have "
                        f"{part.cpus} ({where}.max_threads)")
    if request.mem_mb > part.mem_mb:
        problems.append(f"{job}: needs {request.mem_mb} MB of memory on one node, the nodes "
                        f"have {part.mem_mb} ({where}.max_mem_mb)")
    if gpu_memory_gb is not None and not fits(gpu_memory_gb, site.gpu_memory_gb):
        problems.append(f"{job}: its training step needs an estimated {gpu_memory_gb:.1f} GB "
                        f"per GPU (preflight, before the estimator's margin), the GPUs have "
                        f"{site.gpu_memory_gb:g} GB ({site.path} site.gpu_memory_gb)")
    return problems


def exceeds_time_limit(estimate_hours: float, partition: Partition, retries: int) -> bool:
    """A training resumes from its checkpoint on each of the profile's retries: it is abandoned
    when it needs more than the time limit times (retries + 1)."""
    return estimate_hours * 60 > partition.runtime_min * (retries + 1)
