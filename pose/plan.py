"""What a reproduction costs before anything is submitted: GPU-hours per paper, the wall clock on
the site's GPUs, and which trainings would not finish within the partition's time limit.

Per trained experiment, device-hours = epochs × training samples ÷ images per second per device
÷ 3600 (pose.report.gpu_hours.estimate_hours); wall-hours = device-hours ÷ the job's GPUs (linear
scaling, as the training-cost report assumes). The throughput comes from one of two places, named
by the estimate's `source`:

- `bench`: runs/<scale>/<exp>/bench.json (`pose bench-train`), measured on the site's GPU: its
  device_name contains the site's `gpu_name` (case-insensitive); a site without a gpu_name takes
  any CUDA measurement. An experiment the scale trains on the CPU takes a CPU measurement.
- `flops`: the paper-size model's complexity record runs/complexity/<exp>.json, field `gmacs`
  (true multiply-adds per image at the paper's input, forward pass), and the site's declared
  sustained `gpu_tflops`: training images/s per GPU = gpu_tflops·1e12 ÷ (3 · 2 · gmacs·1e9) —
  a training step (forward + backward) costs about 3 forward passes, a multiply-add 2 FLOPs.
  At a scale that shrinks the model or input this overestimates (the record is paper size).

Training samples come from the bench.json when one was measured (its `train_samples`), else from
the dataset when its training split is present (the persons the training set uses, counted as
training counts them: pose.experiment_data.build_dataset), else from the count params/datasets.yaml
declares for the dataset (`train_samples`).

The Snakemake workflow derives job runtimes from `training_estimate` and `evaluation_hours`.
"""

from __future__ import annotations

import heapq
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from pose.cluster_requests import exceeds_time_limit
from pose.config import Registry, ResolvedExperiment
from pose.errors import ConfigError, DataError
from pose.report.bench_records import BenchRecord, bench_path, load_bench
from pose.report.gpu_hours import SECONDS_PER_HOUR, estimate_hours
from pose.report.papers import PaperGroup, paper_groups
from pose.report.tables import complexity_path, load_complexity
from pose.site import Partition, Site

RUNS_DIR = Path("runs")
# A training step (forward + backward) costs about three forward passes; a multiply-add is two
# floating-point operations.
TRAIN_PASSES = 3.0
FLOPS_PER_MAC = 2.0
# What an evaluation job spends besides the model's forward passes: loading the model, the
# annotations and detections, decoding, and COCOeval / PCKh scoring (minutes on COCO val).
EVAL_OVERHEAD_HOURS = 10 / 60

Source = Literal["bench", "flops"]
SamplesSource = Literal["bench", "data", "params"]


@dataclass(frozen=True)
class TrainingEstimate:
    """One experiment's training at a scale on the site: its throughput, where that came from,
    and how long the job runs."""

    experiment: str
    gpus: int  # GPUs the training job requests (0: it trains on the CPU)
    epochs: int
    train_samples: int
    train_samples_source: SamplesSource
    images_per_second: float  # per device
    source: Source
    device_hours: float  # epochs × samples ÷ images/s per device (GPU-hours on GPUs)
    wall_hours: float  # device-hours ÷ the job's GPUs (linear scaling)
    time_limit_hours: float  # the partition's limit × (retries + 1): resumed attempts in all
    # The workflow resubmits a timed-out training `retries` times, each attempt resuming from
    # the checkpoint: a training longer than all attempts together never finishes.
    exceeds_time_limit: bool

    @property
    def gpu_hours(self) -> float:
        """GPU-hours of the job (a CPU training uses none)."""
        return self.device_hours if self.gpus > 0 else 0.0

    def to_dict(self) -> dict:
        return {**asdict(self), "gpu_hours": self.gpu_hours}


# --------------------------------------------------------------------------- throughput
def flops_images_per_second(gmacs: float, gpu_tflops: float) -> float:
    """Training images/s of one GPU from the forward multiply-adds per image (module docstring)."""
    return gpu_tflops * 1e12 / (TRAIN_PASSES * FLOPS_PER_MAC * gmacs * 1e9)


def complexity_gmacs(exp: ResolvedExperiment, runs_dir: Path = RUNS_DIR) -> float:
    """The paper-size model's forward multiply-adds per image (GMACs) at the paper's input."""
    path = complexity_path(runs_dir, exp.name)
    record = load_complexity(path, exp.model_name, exp.paper_input)
    if record is None:
        raise DataError(f"{path}: no complexity record for experiment {exp.name!r}, which the "
                        f"estimate needs without a bench.json on the site's GPU; run `pose "
                        f"complexity {exp.model_name}` (the workflow's complexity rule)")
    if record["gmacs"] <= 0:
        raise DataError(f"{path}: 'gmacs' should be positive, got {record['gmacs']!r}")
    return float(record["gmacs"])


def measured_on_site(bench: BenchRecord, exp: ResolvedExperiment, site: Site) -> bool:
    """A bench.json counts when it was measured on the device the scale trains on: for CUDA the
    site's GPU (device_name contains gpu_name; any GPU when the site names none)."""
    if bench.device != exp.device:
        return False
    if exp.device != "cuda" or site.gpu_name is None:
        return True
    return site.gpu_name.strip().lower() in bench.device_name.lower()


# --------------------------------------------------------------------------- sample counts
_COUNTS: dict[tuple, int] = {}


def _split_present(exp: ResolvedExperiment, split: str, boxes: str) -> bool:
    """Whether the files a count of `split` reads are on disk."""
    ds = exp.dataset
    if exp.task == "classification":
        cls = ds.classification
        return cls is not None and ds.path(cls.train if split == "train" else cls.val).is_dir()
    spec = ds.train if split == "train" else ds.val
    if spec is None or not ds.path(spec.annotations).is_file():
        return False
    return split == "train" or boxes == "gt" or (
        spec.detections is not None and ds.path(spec.detections).is_file())


def _counted(exp: ResolvedExperiment, split: str, boxes: str) -> int:
    """The samples of a present split, as training and evaluation build them (read once per
    dataset, split and protocol: the COCO training annotations take seconds to parse)."""
    key = (exp.dataset_name, exp.dataset.root, exp.task, split, boxes,
           exp.recipe.test.det_score_thresh, exp.subset)
    if key not in _COUNTS:
        from pose.experiment_data import build_dataset

        _COUNTS[key] = len(build_dataset(exp, split, boxes))  # type: ignore[arg-type]
    return _COUNTS[key]


def _declared(exp: ResolvedExperiment, key: str, registry: Registry) -> int:
    value = getattr(exp.dataset, key)
    if value is None:
        raise ConfigError(f"{registry.params_dir}/datasets.yaml: {exp.dataset_name}: no `{key}` "
                          f"declared and the data is not under {exp.dataset.root}; declare the "
                          "count (or fetch the data) for the cost estimate")
    return value


def train_samples(registry: Registry, exp: ResolvedExperiment, bench: BenchRecord | None
                  ) -> tuple[int, SamplesSource]:
    """Samples one training epoch passes over, and where the count came from."""
    if bench is not None:
        return bench.train_samples, "bench"
    # the declared count before the data: counting COCO parses its 0.5 GB of annotations, which
    # every Snakemake process would do to derive a job's runtime
    if exp.dataset.train_samples is None and _split_present(exp, "train", "gt"):
        return _counted(exp, "train", "gt"), "data"
    count = _declared(exp, "train_samples", registry)
    return (min(count, exp.subset.train) if exp.subset else count), "params"


def val_samples(registry: Registry, exp: ResolvedExperiment) -> int:
    """Boxes (or images) one evaluation runs the model on: the val split under the recipe's
    protocol when present, else the declared `val_samples`."""
    from pose.experiment_data import protocol_boxes

    boxes = protocol_boxes(exp, None)
    if exp.dataset.val_samples is None and _split_present(exp, "val", boxes):
        return _counted(exp, "val", boxes)
    return _declared(exp, "val_samples", registry)


# --------------------------------------------------------------------------- estimates
def job_partition(site: Site, gpus: int) -> Partition:
    """The partition a job runs on: the GPU partition for a GPU job, else the CPU partition."""
    return site.gpu_partition() if gpus > 0 else site.cpu_partition()


def time_limit_hours(site: Site, gpus: int) -> float:
    """All attempts of a training together: the partition's limit × (retries + 1)."""
    return job_partition(site, gpus).runtime_min / 60 * (site.retries + 1)


def training_estimate(registry: Registry, experiment: str, scale: str, site: Site,
                      runs_dir: Path = RUNS_DIR) -> TrainingEstimate:
    """The training cost of `experiment` at `scale` on the site (module docstring)."""
    exp = registry.resolve(experiment, scale)
    gpus = exp.gpus if exp.device == "cuda" else 0
    bench = load_bench(bench_path(runs_dir, scale, experiment), exp)
    samples, samples_source = train_samples(registry, exp, bench)
    if bench is not None and measured_on_site(bench, exp, site):
        speed, source = bench.images_per_second, "bench"
    else:
        speed, source = flops_images_per_second(complexity_gmacs(exp, runs_dir),
                                                site.gpu_tflops), "flops"
    hours = estimate_hours(exp.recipe.epochs, samples, speed)
    wall = hours / max(gpus, 1)
    return TrainingEstimate(
        experiment=experiment, gpus=gpus, epochs=exp.recipe.epochs, train_samples=samples,
        train_samples_source=samples_source, images_per_second=speed, source=source,
        device_hours=hours, wall_hours=wall, time_limit_hours=time_limit_hours(site, gpus),
        exceeds_time_limit=exceeds_time_limit(wall, job_partition(site, gpus), site.retries),
    )


def evaluation_hours(registry: Registry, experiment: str, scale: str, site: Site,
                     runs_dir: Path = RUNS_DIR) -> float:
    """One evaluation of `experiment` on one GPU: val boxes × (2 with flip test) forward passes
    of gmacs multiply-adds (2 FLOPs each) at the site's gpu_tflops, plus EVAL_OVERHEAD_HOURS
    (loading, decoding, COCOeval). A classifier is tested on single central crops (no flip).
    The figure is for the site's GPU: an evaluation on the CPU (a scale's eval_device) runs
    slower than this by the GPU's advantage."""
    exp = registry.resolve(experiment, scale)
    passes = 2 if exp.task == "keypoints" and exp.recipe.test.flip_test else 1
    flops = val_samples(registry, exp) * passes * complexity_gmacs(exp, runs_dir) * 1e9 \
        * FLOPS_PER_MAC
    return flops / (site.gpu_tflops * 1e12) / SECONDS_PER_HOUR + EVAL_OVERHEAD_HOURS


# --------------------------------------------------------------------------- scheduling
def list_schedule_hours(jobs: list[tuple[int, float]], gpus: int) -> float:
    """Wall clock of `jobs` ((GPUs, wall-hours) each) on a pool of `gpus` GPUs by longest-first
    list scheduling: each job, longest first, starts as soon as its GPUs are free together and
    holds them for its wall-hours. Nodes are not modelled (a job's GPUs may come from anywhere
    in the pool) and CPU jobs (0 GPUs) take none: an estimate, not a Slurm simulation."""
    if gpus < 1:
        raise ConfigError(f"--gpus: expected a positive number of GPUs, got {gpus}")
    too_big = [n for n, _ in jobs if n > gpus]
    if too_big:
        raise ConfigError(f"--gpus {gpus}: a job requests {max(too_big)} GPUs; plan with at "
                          "least that many")
    free = [0.0] * gpus  # when each GPU is next free (a heap)
    end = 0.0
    for n, hours in sorted((j for j in jobs if j[0] > 0), key=lambda j: -j[1]):
        taken = [heapq.heappop(free) for _ in range(n)]
        finish = taken[-1] + hours  # starts when the n-th GPU to free up is free
        for _ in taken:
            heapq.heappush(free, finish)
        end = max(end, finish)
    return end


# --------------------------------------------------------------------------- the plan
def select_papers(registry: Registry, paper: str | None) -> list[PaperGroup]:
    """Every paper's table group, or the one named `paper` (its key, e.g. `dnanet`)."""
    groups = paper_groups(registry)
    if paper is None:
        return groups
    chosen = [g for g in groups if paper in (g.key, g.name)]
    if not chosen:
        raise ConfigError(f"--paper: unknown paper {paper!r}; known: "
                          f"{', '.join(g.key for g in groups)}")
    return chosen


def plan(registry: Registry, scale: str, site: Site, runs_dir: Path = RUNS_DIR,
         paper: str | None = None, gpus: int | None = None) -> dict:
    """The cost of training the papers' tables at `scale` (what `pose plan` prints): per paper
    and per experiment, the total counting a shared experiment once beside the naive sum of the
    papers' totals, and the wall clock on `gpus` GPUs (default: the GPU partition's per node)."""
    trained = set(registry.trained_experiments(scale))
    groups = select_papers(registry, paper)
    all_groups = paper_groups(registry)
    needed = {g.key: [e for e in g.experiments if e in trained] for g in groups}
    names = list(dict.fromkeys(e for exps in needed.values() for e in exps))
    estimates = {e: training_estimate(registry, e, scale, site, runs_dir) for e in names}
    # every seed of an experiment (scales.yaml `seeds`) is one more training of the same cost
    seeds = {e: registry.seed_count(e, scale) for e in names}
    experiments = {
        e: {**est.to_dict(),
            "seeds": seeds[e],
            "gpu_hours_all_seeds": est.gpu_hours * seeds[e],
            "eval_hours": evaluation_hours(registry, e, scale, site, runs_dir),
            "papers": [g.key for g in all_groups if e in g.experiments]}
        for e, est in estimates.items()
    }
    papers = {g.key: {"title": g.name, "tables": g.tables, "experiments": needed[g.key],
                      "gpu_hours": sum(estimates[e].gpu_hours * seeds[e]
                                       for e in needed[g.key])}
              for g in groups}
    pool = gpus if gpus is not None else site.gpu_partition().gpus
    jobs = [(est.gpus, est.wall_hours) for e, est in estimates.items() for _ in range(seeds[e])]
    return {
        "scale": scale,
        "site": _site_dict(site),
        "papers": papers,
        "experiments": experiments,
        "total_gpu_hours_shared_once": sum(est.gpu_hours * seeds[e]
                                           for e, est in estimates.items()),
        "naive_sum_gpu_hours": sum(p["gpu_hours"] for p in papers.values()),
        "wall_clock_hours": list_schedule_hours(jobs, pool),
        "gpus": pool,
    }


def _site_dict(site: Site) -> dict:
    gpu = site.gpu_partition()
    return {"gpu_name": site.gpu_name, "gpu_tflops": site.gpu_tflops,
            "gpu_memory_gb": site.gpu_memory_gb, "retries": site.retries,
            "gpu_partition": gpu.name, "gpus_per_node": gpu.gpus,
            "time_limit_hours": gpu.runtime_min / 60}


# --------------------------------------------------------------------------- plain text
def _hours(value: float) -> str:
    return f"{value:,.1f}" if value >= 0.1 or value == 0 else f"{value:.2g}"


def plan_lines(result: dict) -> list[str]:
    """The plan as Markdown: one table per paper, the totals, and a warning per training that
    would not finish within its time limit and retries."""
    site = result["site"]
    gpu = site["gpu_name"] or "any GPU"
    lines = [
        f"# Plan: scale {result['scale']} on {result['gpus']} GPUs ({gpu}, "
        f"{site['gpu_tflops']:g} TFLOPS declared; partition {site['gpu_partition']}: "
        f"{site['gpus_per_node']} GPUs per node, {site['time_limit_hours']:g} h limit, "
        f"{site['retries']} retries)",
        "",
    ]
    columns = ("experiment", "GPUs", "epochs", "train samples", "img/s/GPU", "source",
               "GPU-h", "seeds", "wall-h", "eval-h")
    for paper in result["papers"].values():
        lines += [f"## {paper['title']}: {len(paper['experiments'])} experiments, "
                  f"{_hours(paper['gpu_hours'])} GPU-hours", "",
                  "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        for name in paper["experiments"]:
            e = result["experiments"][name]
            cells = (name, e["gpus"], e["epochs"], f"{e['train_samples']:,}",
                     f"{e['images_per_second']:,.0f}", e["source"], _hours(e["gpu_hours"]),
                     e["seeds"], _hours(e["wall_hours"]), _hours(e["eval_hours"]))
            lines.append("| " + " | ".join(str(c) for c in cells) + " |")
        lines.append("")
    lines += [
        f"GPU-hours, each experiment once: {_hours(result['total_gpu_hours_shared_once'])} "
        f"(sum of the papers' totals: {_hours(result['naive_sum_gpu_hours'])})",
        f"Wall clock on {result['gpus']} GPUs (longest-first list scheduling): "
        f"{_hours(result['wall_clock_hours'])} h",
    ]
    for name, e in result["experiments"].items():
        if e["exceeds_time_limit"]:
            lines.append(
                f"WARNING: {name}: estimated {_hours(e['wall_hours'])} h of training exceeds "
                f"the time limit × (retries + 1) = {_hours(e['time_limit_hours'])} h")
    return lines
