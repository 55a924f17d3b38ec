"""The site block (pose.site) and the Slurm requests derived from it (pose.cluster_requests)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from pose.cluster_requests import (
    RUNTIME_MARGIN,
    RUNTIME_OVERHEAD_MIN,
    cpu_request,
    exceeds_time_limit,
    gpu_request,
    misfits,
    training_request,
)
from pose.config import load_registry
from pose.engine.launch import job_loader_workers
from pose.errors import ConfigError
from pose.site import load_site, site_from_profile

ROOT = Path(__file__).resolve().parents[1]
NODE = {"max_threads": 48, "max_mem_mb": 384000, "max_runtime": 1440}
PROFILE = {
    "partitions": {"cpu": {**NODE, "max_gpu": 0}, "gpu": {**NODE, "max_gpu": 4}},
    "site": {"gpu_memory_gb": 40, "gpu_name": "A100", "gpu_tflops": 50},
    "retries": 2,
}


@pytest.fixture
def site():
    return site_from_profile(PROFILE, Path("slurm/config.yaml"))


@pytest.fixture(scope="module")
def registry():
    return load_registry(ROOT / "params", check_pipeline=False)


def test_the_repository_profile_declares_a_site():
    site = load_site(ROOT / "slurm" / "config.yaml")
    assert site.gpu_partition().gpus > 0 and site.cpu_partition().gpus == 0
    assert site.retries == yaml.safe_load((ROOT / "slurm/config.yaml").read_text())["retries"]


@pytest.mark.parametrize("edit, message", [
    (lambda p: p["partitions"]["gpu"].pop("max_mem_mb"), "partitions.gpu: missing max_mem_mb"),
    (lambda p: p["partitions"]["cpu"].update(max_threads=0), "partitions.cpu.max_threads"),
    (lambda p: p["site"].update(gpu_tflops="fast"), "site.gpu_tflops"),
    (lambda p: p["site"].update(gpus=8), "site: unknown keys ['gpus']"),
    (lambda p: p.pop("site"), "site: expected a mapping"),
])
def test_a_bad_site_block_is_named(edit, message):
    profile = yaml.safe_load(yaml.safe_dump(PROFILE))
    edit(profile)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        site_from_profile(profile, Path("slurm/config.yaml"))


def test_a_training_asks_for_its_gpus_share_of_a_node(site, registry):
    exp = registry.resolve("hrnet_w32_256x192", "full")
    for gpus in (1, 2, 4):
        request = training_request(replace(exp, gpus=gpus), site, cpu_threads=1,
                                   estimate_hours=10.0)
        assert (request.partition, request.gpus, request.nodes) == ("gpu", gpus, 1)
        assert request.cpus == 48 * gpus // 4 and request.mem_mb == 384000 * gpus // 4
        assert request.runtime_min == min(1440, 10 * 60 * RUNTIME_MARGIN + RUNTIME_OVERHEAD_MIN)
        assert misfits("train x", request, site) == []


def test_a_multi_node_training_asks_for_whole_nodes(site, registry):
    exp = replace(registry.resolve("hrnet_w32_256x192", "full"), gpus=8, nodes=2)
    request = training_request(exp, site, cpu_threads=1, estimate_hours=None)
    assert (request.nodes, request.cpus, request.mem_mb) == (2, 48, 384000)
    assert misfits("train x", request, site) == []


def test_what_no_node_can_take_is_named(site, registry):
    exp = replace(registry.resolve("hrnet_w32_256x192", "full"), gpus=8)
    request = training_request(exp, site, cpu_threads=1, estimate_hours=1.0)
    problems = misfits("train hrnet", request, site, gpu_memory_gb=39.0)
    assert problems[0].startswith("train hrnet: needs 8 GPUs on one node, the nodes have 4 "
                                  "(slurm/config.yaml partitions.gpu.max_gpu)")
    assert "`nodes:`" in problems[0]
    assert any("needs 96 CPUs" in p for p in problems)
    assert any("estimated 39.0 GB per GPU" in p and "40 GB" in p for p in problems)
    assert misfits("train hrnet", gpu_request(site, 1, 1, None), site, gpu_memory_gb=10) == []


def test_a_cpu_job_gets_the_memory_of_its_cpus(site):
    request = cpu_request(site, 3)
    assert (request.partition, request.cpus, request.mem_mb) == ("cpu", 3, 384000 * 3 // 48)
    assert misfits("evaluate x", cpu_request(site, 64), site)[0].startswith(
        "evaluate x: needs 64 CPUs on one node, the nodes have 48")


def test_a_training_longer_than_its_attempts_is_flagged(site):
    gpu = site.gpu_partition()
    assert not exceeds_time_limit(24.0 * 3, gpu, site.retries)  # 3 attempts of 24 h
    assert exceeds_time_limit(24.0 * 3 + 0.1, gpu, site.retries)


def test_loader_workers_follow_the_cpus_a_slurm_job_got(registry):
    exp = registry.resolve("hrnet_w32_256x192", "full")  # 4 GPUs, cuda
    assert exp.device == "cuda" and exp.gpus == 4
    assert job_loader_workers(exp, training=True, env={}).num_workers == exp.num_workers
    env = {"SLURM_CPUS_PER_TASK": "48"}
    assert job_loader_workers(exp, training=True, env=env).num_workers == 48 // 4 - 1
    assert job_loader_workers(exp, training=False, env=env).num_workers == 47  # one GPU
    smoke = registry.resolve("hrnet_w32_256x192", "smoke")  # CPU training keeps its figure
    assert job_loader_workers(smoke, training=True, env=env).num_workers == smoke.num_workers


def test_bench_train_loader_follows_the_job_cpus(registry, monkeypatch):
    """bench-train times one training process: in a Slurm job its loader takes the job's CPUs
    but one (the step it runs is recorded in bench.json's `workers`)."""
    from pose.measure import train_bench

    seen = {}

    def stop(dataset, sampler, batch, workers, device):
        seen["workers"] = workers
        raise RuntimeError("stop")

    monkeypatch.setattr(train_bench, "train_loader", stop)
    monkeypatch.setattr(train_bench, "build_dataset", lambda exp, split: range(1000))
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "12")
    with pytest.raises(RuntimeError, match="stop"):
        train_bench.bench_train(registry, "hrnet_w32_256x192", "full", device="cpu")
    assert seen["workers"] == 11
