"""`pose plan`: the cost of a reproduction before anything is submitted (pose.plan)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from pose.cli import main
from pose.config import load_registry
from pose.errors import ConfigError
from pose.plan import (
    evaluation_hours,
    list_schedule_hours,
    plan,
    plan_lines,
    training_estimate,
)
from pose.site import Partition, Site, load_site

ROOT = Path(__file__).resolve().parents[1]
BENCHED = "hrnet_w32_256x192"  # measured on the site's GPU
SHARED = "hrnet_w48_256x192"  # in the baselines and in the second paper, `alpha`
GMACS = {"hrnet_w32_256x192": 7.0, "hrnet_w48_256x192": 14.0,
         "simplebaseline_r50_256x192": 9.0, "hrnet_w16_256x192": 2.0}
TFLOPS = 50.0
TRAIN_SAMPLES, VAL_SAMPLES = 1000, 500  # declared in the test's datasets.yaml (no data/coco)
BENCH = {"images_per_second": 300.0, "train_samples": 1200}


def _site(runtime_min: int = 600, retries: int = 1, gpu_name: str | None = "A100",
          tflops: float = TFLOPS) -> Site:
    return Site(partitions={"cpu": Partition("cpu", 32, 128_000, 0, runtime_min),
                            "gpu": Partition("gpu", 64, 512_000, 8, runtime_min)},
                gpu_memory_gb=80.0, gpu_name=gpu_name, gpu_tflops=tflops, retries=retries)


def _write_bench(runs: Path, registry, device_name: str) -> None:
    exp = registry.resolve(BENCHED, "full")
    path = runs / "full" / BENCHED / "bench.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "experiment": BENCHED, "scale": "full", "model": exp.model_name, "input": "256x192",
        "batch": 32, "device": "cuda", "device_name": device_name, "precision": "fp32",
        "data_wait_fraction": 0.1, **BENCH}))


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Tiny params (the baselines table) plus a paper `alpha` sharing one experiment, declared
    COCO counts, complexity records, and a bench.json of one experiment on the site's GPU."""
    from conftest import write_tiny_params

    params = write_tiny_params(tmp_path)
    baselines = yaml.safe_load((params / "papers/baselines.yaml").read_text())
    alpha = {**baselines, "title": "Alpha Table 1",
             "rows": [r for r in baselines["rows"] if r["experiment"] == SHARED]}
    (params / "papers/alpha.yaml").write_text(yaml.safe_dump(alpha, sort_keys=False))
    (params / "tables.yaml").write_text(yaml.safe_dump({"tables": ["baselines", "alpha"]}))
    datasets = yaml.safe_load((params / "datasets.yaml").read_text())
    datasets["coco"].update(train_samples=TRAIN_SAMPLES, val_samples=VAL_SAMPLES)
    (params / "datasets.yaml").write_text(yaml.safe_dump(datasets, sort_keys=False))
    registry = load_registry(params, check_pipeline=False)
    for name, gmacs in GMACS.items():
        exp = registry.resolve(name, "full")
        path = tmp_path / "runs/complexity" / f"{name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"model": exp.model_name, "input": "256x192",
                                    "params": 1, "gflops_paper": gmacs, "gmacs": gmacs}))
    _write_bench(tmp_path / "runs", registry, "NVIDIA A100-SXM4-80GB")
    monkeypatch.chdir(tmp_path)  # no data/coco here: the declared counts are used
    return tmp_path


def _registry(project: Path):
    return load_registry(project / "params", check_pipeline=False)


def _flops_hours(registry, name: str, samples: int) -> float:
    """Device-hours from the FLOPs convention, written out: 3 passes × 2 FLOPs per MAC."""
    epochs = registry.resolve(name, "full").recipe.epochs
    images_per_second = TFLOPS * 1e12 / (3 * 2 * GMACS[name] * 1e9)
    return epochs * samples / images_per_second / 3600


def test_bench_on_the_sites_gpu_gives_the_measured_throughput(project: Path) -> None:
    registry = _registry(project)
    est = training_estimate(registry, BENCHED, "full", _site(), project / "runs")
    exp = registry.resolve(BENCHED, "full")
    hours = exp.recipe.epochs * BENCH["train_samples"] / BENCH["images_per_second"] / 3600
    assert (est.source, est.train_samples_source) == ("bench", "bench")
    assert est.gpus == exp.gpus > 1
    assert est.gpu_hours == pytest.approx(hours)
    assert est.wall_hours == pytest.approx(hours / exp.gpus)


def test_bench_on_another_gpu_falls_back_to_flops_with_its_sample_count(project: Path) -> None:
    registry = _registry(project)
    _write_bench(project / "runs", registry, "Tesla V100-SXM2-32GB")
    est = training_estimate(registry, BENCHED, "full", _site(), project / "runs")
    assert (est.source, est.train_samples_source) == ("flops", "bench")
    assert est.gpu_hours == pytest.approx(_flops_hours(registry, BENCHED, BENCH["train_samples"]))
    # a site that names no GPU takes any CUDA measurement
    est = training_estimate(registry, BENCHED, "full", _site(gpu_name=None), project / "runs")
    assert est.source == "bench"


def test_unmeasured_experiment_is_estimated_from_its_gmacs(project: Path) -> None:
    registry = _registry(project)
    est = training_estimate(registry, SHARED, "full", _site(), project / "runs")
    assert (est.source, est.train_samples_source) == ("flops", "params")
    assert est.train_samples == TRAIN_SAMPLES
    assert est.gpu_hours == pytest.approx(_flops_hours(registry, SHARED, TRAIN_SAMPLES))


def test_evaluation_hours_from_val_boxes_flip_and_gmacs(project: Path) -> None:
    registry = _registry(project)
    assert registry.resolve(SHARED, "full").recipe.test.flip_test
    expected = VAL_SAMPLES * 2 * GMACS[SHARED] * 1e9 * 2 / (TFLOPS * 1e12) / 3600 + 10 / 60
    assert evaluation_hours(registry, SHARED, "full", _site()) == pytest.approx(expected)


def test_papers_sum_their_experiments_and_the_total_counts_a_shared_one_once(
        project: Path) -> None:
    registry = _registry(project)
    result = plan(registry, "full", _site(), project / "runs")
    hours = {e: training_estimate(registry, e, "full", _site(), project / "runs").gpu_hours
             for e in GMACS}
    assert result["papers"]["alpha"]["experiments"] == [SHARED]
    assert result["papers"]["alpha"]["gpu_hours"] == pytest.approx(hours[SHARED])
    assert result["papers"]["baselines"]["gpu_hours"] == pytest.approx(sum(hours.values()))
    assert result["total_gpu_hours_shared_once"] == pytest.approx(sum(hours.values()))
    assert result["naive_sum_gpu_hours"] == pytest.approx(sum(hours.values()) + hours[SHARED])
    assert result["total_gpu_hours_shared_once"] < result["naive_sum_gpu_hours"]
    assert result["experiments"][SHARED]["papers"] == ["baselines", "alpha"]
    assert result["gpus"] == 8  # the GPU partition's per node


def test_list_schedule_places_the_longest_job_first() -> None:
    # 8 GPUs: 4 GPUs x 10 h and 4 x 6 h start at once; 4 x 5 h waits for the second (6..11);
    # 2 x 1 h takes the first GPUs freed (10..11).
    jobs = [(4, 5.0), (2, 1.0), (4, 10.0), (4, 6.0)]
    assert list_schedule_hours(jobs, 8) == pytest.approx(11.0)
    assert list_schedule_hours(jobs, 4) == pytest.approx(22.0)  # one after the other
    assert list_schedule_hours([(0, 99.0)], 4) == 0.0  # a CPU job holds no GPU
    with pytest.raises(ConfigError, match="requests 4 GPUs"):
        list_schedule_hours(jobs, 2)


def test_training_longer_than_limit_times_attempts_is_flagged(project: Path) -> None:
    registry = _registry(project)
    slow = 0.05  # TFLOPS: a day of training for the shared experiment
    est = training_estimate(registry, SHARED, "full", _site(tflops=slow), project / "runs")
    # two attempts (retries 1) of a limit just under half the wall time: too short
    minutes = int(est.wall_hours * 60 / 2) - 1
    assert minutes > 60
    short = training_estimate(registry, SHARED, "full", _site(minutes, 1, tflops=slow),
                              project / "runs")
    assert short.time_limit_hours == pytest.approx(minutes / 60 * 2)
    assert short.exceeds_time_limit
    # three attempts of the same limit are enough
    assert not training_estimate(registry, SHARED, "full", _site(minutes, 2, tflops=slow),
                                 project / "runs").exceeds_time_limit
    lines = plan_lines(plan(registry, "full", _site(minutes, 1, tflops=slow), project / "runs"))
    assert any(line.startswith(f"WARNING: {SHARED}:") for line in lines)
    result = plan(registry, "full", _site(minutes, 2, tflops=slow), project / "runs")
    assert not result["experiments"][SHARED]["exceeds_time_limit"]


def _profile(project: Path) -> Path:
    path = project / "site.yaml"
    path.write_text(yaml.safe_dump({
        "partitions": {
            "cpu": {"max_gpu": 0, "max_threads": 32, "max_mem_mb": 128000, "max_runtime": 600},
            "gpu": {"max_gpu": 8, "max_threads": 64, "max_mem_mb": 512000, "max_runtime": 600},
        },
        "site": {"gpu_memory_gb": 80, "gpu_name": "A100", "gpu_tflops": TFLOPS},
        "retries": 1,
    }))
    return path


def test_cli_json_plan(project: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["plan", "--scale", "full", "--format", "json", "--gpus", "4",
                 "--site", str(_profile(project)), "--paper", "alpha"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert list(result["papers"]) == ["alpha"] and list(result["experiments"]) == [SHARED]
    exp = result["experiments"][SHARED]
    assert {"gpus", "epochs", "train_samples", "images_per_second", "source", "gpu_hours",
            "wall_hours", "eval_hours", "papers", "exceeds_time_limit"} <= set(exp)
    assert result["gpus"] == 4
    assert result["wall_clock_hours"] == pytest.approx(exp["wall_hours"])
    assert result["total_gpu_hours_shared_once"] == result["naive_sum_gpu_hours"]


def test_cli_unknown_paper_lists_the_known_ones(project: Path,
                                                capsys: pytest.CaptureFixture) -> None:
    assert main(["plan", "--site", str(_profile(project)), "--paper", "nope"]) == 2
    err = capsys.readouterr().err
    assert "unknown paper 'nope'" in err and "baselines, alpha" in err


def test_cpu_scale_counts_the_present_data(tiny_project: Path) -> None:
    """On a scale whose data is on disk the training persons are counted (the tiny synthetic
    set's labelled persons), and a CPU training uses no GPU-hours."""
    registry = load_registry(tiny_project / "params", check_pipeline=False)
    exp = registry.resolve(SHARED, "tiny")
    gt = json.loads(exp.dataset.path(exp.dataset.train.annotations).read_text())
    persons = sum(1 for a in gt["annotations"] if not a.get("iscrowd") and a["num_keypoints"] > 0)
    cx = tiny_project / "runs/complexity" / f"{SHARED}.json"
    cx.parent.mkdir(parents=True)
    cx.write_text(json.dumps({"model": exp.model_name, "input": "256x192", "params": 1,
                              "gflops_paper": 1.0, "gmacs": 1.0}))
    est = training_estimate(registry, SHARED, "tiny", _site(), tiny_project / "runs")
    assert (est.train_samples, est.train_samples_source) == (persons, "data")
    assert est.gpus == 0 and est.gpu_hours == 0.0 and est.wall_hours == est.device_hours > 0


def test_declared_counts_are_checked_and_stay_out_of_the_run_identity(project: Path) -> None:
    registry = _registry(project)
    assert "train_samples" not in registry.resolve(SHARED, "full").to_dict()["dataset"]
    datasets_file = project / "params/datasets.yaml"
    datasets = yaml.safe_load(datasets_file.read_text())
    datasets["coco"]["train_samples"] = 0
    datasets_file.write_text(yaml.safe_dump(datasets, sort_keys=False))
    with pytest.raises(ConfigError, match=r"datasets.yaml: coco.*train_samples: expected a "
                                          r"positive count, got 0"):
        _registry(project)


def test_real_registry_plans_every_paper(monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture) -> None:
    """The repository's params, complexity records and Slurm profile (read only)."""
    try:
        load_site(ROOT / "slurm/config.yaml")
    except ConfigError as err:
        pytest.skip(f"slurm/config.yaml has no complete site block yet: {err}")
    monkeypatch.chdir(ROOT)
    assert main(["plan", "--scale", "full", "--format", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert len(result["papers"]) >= 6
    for name, paper in result["papers"].items():
        assert paper["gpu_hours"] > 0, name
    assert 0 < result["total_gpu_hours_shared_once"] < result["naive_sum_gpu_hours"]
