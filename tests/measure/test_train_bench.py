"""`pose bench-train`: throughput of the real training step and loader."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pose.cli import main
from pose.config import load_registry
from pose.errors import ConfigError
from pose.measure.train_bench import bench_train


def test_an_experiment_is_timed_as_it_trains_at_the_scale(tiny_project: Path) -> None:
    reg = load_registry("params")
    record = bench_train(reg, "hrnet_w32_256x192", "tiny", steps=3, warmup=1)
    exp = reg.resolve("hrnet_w32_256x192", "tiny")
    assert record["experiment"] == "hrnet_w32_256x192" and record["model"] == "hrnet_w32"
    # one CPU process trains on the whole batch (the GPUs split it at a CUDA scale)
    assert exp.gpus > 1 and record["batch"] == exp.recipe.batch_size
    assert record["input"] == "96x64"
    assert (record["device"], record["precision"], record["workers"]) == ("cpu", "fp32", 0)
    assert record["train_samples"] == 18  # the tiny dataset's training persons
    # images/s is the timed images over the timed seconds (data wait + step)
    seconds = record["steps"] * (record["step_seconds"] + record["data_seconds"])
    assert record["images_per_second"] == pytest.approx(3 * record["batch"] / seconds)
    assert 0.0 < record["data_wait_fraction"] < 1.0
    assert record["data_wait_fraction"] == pytest.approx(record["data_seconds"] / (
        record["data_seconds"] + record["step_seconds"]))


def test_a_model_is_timed_at_paper_size_with_the_options_given(
        tiny_project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tiny_project / "bench.json"
    code = main(["--no-progress", "bench-train", "hrnet_w32", "--scale", "tiny", "--input",
                 "64x48", "--batch", "2", "--workers", "1", "--precision", "bf16",
                 "--channels-last", "--steps", "2", "--warmup", "1", "--format", "json",
                 "--out", str(out)])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(out.read_text())
    assert printed["experiment"] is None and printed["model"] == "hrnet_w32"
    assert (printed["input"], printed["batch"], printed["workers"]) == ("64x48", 2, 1)
    assert printed["precision"] == "bf16" and printed["channels_last"] is True


def test_unknown_names_and_bad_counts_are_clear_errors(tiny_project: Path) -> None:
    reg = load_registry("params")
    with pytest.raises(ConfigError, match="'nope' is neither an experiment nor a model"):
        bench_train(reg, "nope", "tiny")
    with pytest.raises(ConfigError, match="--steps must be >= 1"):
        bench_train(reg, "hrnet_w32", "tiny", steps=0)
