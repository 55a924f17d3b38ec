"""`pose bench-data`: throughput of the training data path, and the side-by-side comparison."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import pose.measure.data_bench as data_bench
from pose.cli import main
from pose.errors import ConfigError


def test_an_experiment_is_timed_on_its_training_set(tiny_project: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    out = tiny_project / "bench.json"
    code = main(["--no-progress", "bench-data", "hrnet_w32_256x192", "--scale", "tiny",
                 "--samples", "6", "--batch", "3", "--repeat", "2", "--format", "json",
                 "--out", str(out)])
    assert code == 0
    record = json.loads(capsys.readouterr().out)
    assert record == json.loads(out.read_text())
    assert (record["experiment"], record["recipe"], record["dataset"]) == (
        "hrnet_w32_256x192", None, "synthetic")
    assert (record["input"], record["batch"], record["workers"]) == ("96x64", 3, 0)
    assert record["samples"] == 6 and len(record["runs_seconds"]) == 2
    assert record["samples_per_second"] == pytest.approx(6 / record["seconds"])
    assert record["per_core"] == record["samples_per_second"]  # workers 0: one core
    assert record["implementation"]["root"] == str(data_bench.REPO)
    assert "compare" not in record


def test_the_comparison_times_both_on_the_same_samples(
        tiny_project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the "earlier commit" is this checkout itself: its samples must come out identical
    monkeypatch.setattr(data_bench, "worktree", lambda rev: (data_bench.REPO, "0" * 40))
    record = data_bench.bench_data("hrnet_w32_256x192", "tiny", Path("params"), samples=4,
                                   batch=2, repeat=1, workers=1, compare_with="HEAD",
                                   decode_cache=tiny_project / "cache")
    compare = record["compare"]
    assert compare["rev"] == "HEAD" and compare["ratio"] == pytest.approx(
        record["per_core"] / compare["per_core"])
    assert record["per_core"] == pytest.approx(record["samples_per_second"])  # 1 worker
    diff = compare["differences"]
    assert diff["samples"] == 4
    assert diff["pixel_max_abs"] == 0.0 and diff["target_max_abs"] == 0.0
    assert diff["meta_fields_differing"] == []
    assert list((tiny_project / "cache").rglob("*.bgr"))  # filled before the timing


def test_a_recipe_on_a_coco_folder(tiny_project: Path) -> None:
    images = tiny_project / "data" / "synthetic" / "images" / "train"
    annotations = next((tiny_project / "data" / "synthetic" / "annotations").glob("*train*"))
    record = data_bench.bench_data("hrnet", "tiny", Path("params"), samples=3, batch=3,
                                   repeat=1, images=images, annotations=annotations,
                                   input_hw=(64, 48))
    assert record["recipe"] == "hrnet" and record["dataset"] == str(annotations.resolve())
    assert record["input"] == "64x48"


def test_bad_arguments_are_clear_errors(tiny_project: Path) -> None:
    with pytest.raises(ConfigError, match="--images and --annotations go together"):
        data_bench.bench_data("hrnet", "tiny", Path("params"), images=Path("x"))
    with pytest.raises(ConfigError, match="--samples, --repeat and --batch must be >= 1"):
        data_bench.bench_data("hrnet", "tiny", Path("params"), samples=0)
    with pytest.raises(ConfigError, match="'nope' is neither an experiment nor a recipe"):
        data_bench.bench_data("nope", "tiny", Path("params"), samples=2, repeat=1)
