"""The cluster as the Slurm profile's site block describes it: the node shape of each partition
and the GPU, from which every job's request is derived (pose.cluster_requests) and the cost of a
reproduction is planned (pose.plan).

The partitions are the Slurm executor plugin's own `partitions` mapping (slurm/config.yaml, which
`slurm-partition-config` points the plugin at), with the plugin's key names: `max_threads` CPUs
per node, `max_mem_mb` memory per node, `max_gpu` GPUs per node, `max_runtime` the time limit in
minutes. The GPU facts the plugin has no key for are in the profile's `site` mapping.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from pose.errors import ConfigError

DEFAULT_PROFILE = Path("slurm/config.yaml")
NODE_KEYS = {"max_threads": "CPUs per node", "max_mem_mb": "memory per node in MB",
             "max_runtime": "time limit in minutes", "max_gpu": "GPUs per node"}
SITE_KEYS = {"gpu_memory_gb", "gpu_name", "gpu_tflops"}


@dataclass(frozen=True)
class Partition:
    """One partition's nodes (all alike: declare the smallest node a job may land on)."""

    name: str
    cpus: int
    mem_mb: int
    gpus: int
    runtime_min: int

    @property
    def mem_mb_per_gpu(self) -> int:
        return self.mem_mb // self.gpus if self.gpus else self.mem_mb


@dataclass(frozen=True)
class Site:
    partitions: dict[str, Partition]
    gpu_memory_gb: float
    gpu_name: str | None  # matched against bench.json's device name (pose.plan)
    gpu_tflops: float  # sustained training throughput of one GPU, declared by the site
    retries: int  # the profile's `retries`: a timed-out training resumes that many times
    path: Path = DEFAULT_PROFILE

    def gpu_partition(self) -> Partition:
        """The GPU partition (with the most GPUs per node, when several have GPUs)."""
        gpu = [p for p in self.partitions.values() if p.gpus > 0]
        if not gpu:
            raise ConfigError(f"{self.path}: partitions: no partition has max_gpu > 0 (the "
                              "GPU partition training runs on)")
        return max(gpu, key=lambda p: p.gpus)

    def cpu_partition(self) -> Partition:
        """The partition without GPUs (CPU jobs go there, as the plugin routes them)."""
        cpu = [p for p in self.partitions.values() if p.gpus == 0]
        return cpu[0] if cpu else self.gpu_partition()


def _positive_int(path: Path, where: str, value: object, meaning: str, zero: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < (0 if zero else 1):
        expected = "a non-negative" if zero else "a positive"
        raise ConfigError(f"{path}: {where}: expected {expected} integer ({meaning}), got "
                          f"{value!r}")
    return value


def _partition(path: Path, name: str, spec: object) -> Partition:
    if not isinstance(spec, dict):
        raise ConfigError(f"{path}: partitions.{name}: expected a mapping, got {spec!r}")
    missing = [k for k in NODE_KEYS if k not in spec]
    if missing:
        wanted = ", ".join(f"{k} ({NODE_KEYS[k]})" for k in missing)
        raise ConfigError(f"{path}: partitions.{name}: missing {wanted}: the site block "
                          "describes each partition's nodes, and every job's request is "
                          "derived from them")
    values = {k: _positive_int(path, f"partitions.{name}.{k}", spec[k], NODE_KEYS[k],
                               zero=k == "max_gpu") for k in NODE_KEYS}
    return Partition(name=name, cpus=values["max_threads"], mem_mb=values["max_mem_mb"],
                     gpus=values["max_gpu"], runtime_min=values["max_runtime"])


def site_from_profile(settings: dict, path: Path = DEFAULT_PROFILE) -> Site:
    """The Site of a parsed profile (the mapping `snakemake --profile` reads)."""
    partitions = settings.get("partitions")
    if not isinstance(partitions, dict) or not partitions:
        raise ConfigError(f"{path}: partitions: expected a mapping of partition names to node "
                          f"shapes ({', '.join(NODE_KEYS)})")
    block = settings.get("site")
    if not isinstance(block, dict):
        raise ConfigError(f"{path}: site: expected a mapping with {', '.join(sorted(SITE_KEYS))}")
    unknown = set(block) - SITE_KEYS
    if unknown:
        raise ConfigError(f"{path}: site: unknown keys {sorted(unknown)}; expected "
                          f"{sorted(SITE_KEYS)}")
    numbers = {}
    for key in ("gpu_memory_gb", "gpu_tflops"):
        value = block.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise ConfigError(f"{path}: site.{key}: expected a positive number, got {value!r}")
        numbers[key] = float(value)
    name = block.get("gpu_name")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise ConfigError(f"{path}: site.gpu_name: expected a GPU name (e.g. A100) or null, "
                          f"got {name!r}")
    retries = _positive_int(path, "retries", settings.get("retries", 0),
                            "times a failed job is resubmitted", zero=True)
    return Site(partitions={n: _partition(path, n, s) for n, s in partitions.items()},
                gpu_name=name, retries=retries, path=path, **numbers)


def load_site(path: Path = DEFAULT_PROFILE) -> Site:
    """The site block of the Slurm profile at `path`."""
    path = Path(path)
    try:
        settings = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no Slurm profile there (the site block lives in "
                          "slurm/config.yaml)") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(settings, dict):
        raise ConfigError(f"{path}: expected a mapping of profile settings")
    return site_from_profile(settings, path)
