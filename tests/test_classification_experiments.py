"""DANet Table X through the experiment code path: the classifiers resolve on ImageNet at full
scale and on the synthetic stand-in's classes at the smoke and preflight scales, train with the
pose trainer, are scored by single-crop top-1 / top-5 error and fill their table."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from pose.config import load_registry
from pose.data.classification import SynthClassesConfig, write_synthetic_classes
from pose.errors import ConfigError
from pose.report.tables import build_table
from pose.stages import evaluate_stage, train_stage

ROOT = Path(__file__).resolve().parents[1]
SMOKE = "oab_densenet169_224x224"
TABLE_X = ["densenet169_224x224", "densenet201_224x224", SMOKE]


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """params/ and the synthetic classification splits (a few images a class) in a scratch
    working directory."""
    shutil.copytree(ROOT / "params", tmp_path / "params")
    spec = yaml.safe_load((ROOT / "params/datasets.yaml").read_text())["synthetic"]
    cls = spec["classification"]
    root = tmp_path / spec["root"]
    write_synthetic_classes(root / cls["train"], root / cls["val"], cls["num_classes"],
                            SynthClassesConfig(per_class_train=2, per_class_val=1, size=32))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_table_x_rows_resolve_per_scale() -> None:
    registry = load_registry(ROOT / "params", check_pipeline=False)
    rows = yaml.safe_load((ROOT / "params/papers/danet_imagenet.yaml").read_text())["rows"]
    assert [r["experiment"] for r in rows] == TABLE_X
    for name in TABLE_X:
        full = registry.resolve(name, "full")
        assert (full.task, full.dataset_name, full.input_hw) == ("classification", "imagenet",
                                                                 (224, 224))
        assert full.model_spec["num_classes"] == 1000 and full.recipe.loss.type == "cross_entropy"
        check = registry.resolve(name, "preflight", "synthetic")  # paper size, stand-in classes
        assert check.model_spec["num_classes"] == 10
        assert check.model_spec["backbone"] == full.model_spec["backbone"]
    assert SMOKE in registry.trained_experiments("smoke")
    assert "imagenet" in registry.datasets_for_scale("full")
    # a keypoint run's identity does not see the synthetic set's classification splits
    pose = registry.resolve("hrnet_w32_256x192", "smoke").to_dict()
    assert "classification" not in pose["dataset"]


def test_a_classifier_needs_a_dataset_with_classes(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "params", tmp_path / "params")
    path = tmp_path / "params/experiments.yaml"
    experiments = yaml.safe_load(path.read_text())
    experiments["experiments"][SMOKE]["dataset"] = "mpii"
    path.write_text(yaml.safe_dump(experiments, sort_keys=False))
    with pytest.raises(ConfigError, match=rf"{SMOKE}.*'mpii' has no `classification`"):
        load_registry(tmp_path / "params", check_pipeline=False)


def test_smoke_classifier_trains_evaluates_and_fills_table_x(project: Path) -> None:
    registry = load_registry("params", check_pipeline=False)
    exp = registry.resolve(SMOKE, "smoke")
    exp = replace(exp, recipe=replace(exp.recipe, epochs=2, batch_size=8))
    train_stage(exp, progress=False)
    log = (exp.run_dir / "train_log.csv").read_text().splitlines()
    assert len(log) == 3 and log[2].split(",")[2]  # val top-1 accuracy logged at the end
    record = evaluate_stage(exp, None, None, progress=False)
    assert record["boxes"] == "single_crop" and record["images"] == 10
    assert 0 <= record["top1_error"] <= 100 and record["top5_error"] <= record["top1_error"]
    predictions = json.loads((exp.run_dir / "results.json").read_text())
    assert len(predictions) == 10 and len(predictions[0]["top5"]) == 5
    build_table(registry, "danet_imagenet", "smoke", Path("runs"), Path("reports/tables"))
    table = json.loads(Path("reports/tables/danet_imagenet.json").read_text())
    row = {r["experiment"]: r for r in table["rows"]}[SMOKE]
    assert row["reproduced"]["top1_error"] == pytest.approx(record["top1_error"], abs=1e-4)
    assert row["delta_top1"] is None  # smoke classes are not ImageNet: no difference
    assert row["paper"]["params_m"] == pytest.approx(18.0 * 2**20 / 1e6)
    markdown = Path("reports/tables/danet_imagenet.md").read_text()
    assert "smoke, synthetic, 128x96, 2 epochs" in markdown and "18.0 Mi = 18.8744" in markdown


def test_preflight_trains_a_classifier_at_paper_size_on_the_stand_in(project: Path) -> None:
    from pose.preflight import run_preflight

    registry = load_registry("params", check_pipeline=False)
    exp = registry.resolve(SMOKE, "preflight", "synthetic")
    assert exp.input_hw == (224, 224) and exp.processes == 1
    record = run_preflight(registry, exp, dataset="synthetic")
    assert record["status"] == "ran", record["error"]
    assert 0 <= record["top1_error"] <= 100
    eval_json = json.loads((exp.run_dir / "eval.json").read_text())
    assert eval_json["images"] == exp.subset.val_images and eval_json["input"] == "224x224"


def test_bench_train_of_a_classifier_model_takes_its_dataset_classes() -> None:
    from pose.measure.train_bench import bench_experiment

    registry = load_registry(ROOT / "params", check_pipeline=False)
    exp, named_experiment = bench_experiment(registry, "densenet201", "smoke")
    assert not named_experiment and exp.input_hw == (224, 224)
    assert exp.model_spec["num_classes"] == 10 and "num_joints" not in exp.model_spec


def test_hand_placed_folder_source_is_named_until_it_checks(tmp_path: Path) -> None:
    from pose.errors import DataError
    from pose.fetch.fetch import fetch_source
    from pose.fetch.spec import load_sources

    (tmp_path / "params").mkdir()
    want = {"train": {"classes": 2, "images": 2}, "val": {"classes": 2, "images": 2}}
    source = {"out": str(tmp_path / "imagenet"), "manual": "from image-net.org, sorted by class",
              "check": {"image_folders": want}}
    (tmp_path / "params/sources.yaml").write_text(yaml.safe_dump({"sources": {"net": source}}))
    sources = load_sources(tmp_path / "params")
    with pytest.raises(DataError, match="place it there by hand: from image-net.org"):
        fetch_source(sources, "net")
    write_synthetic_classes(tmp_path / "imagenet/train", tmp_path / "imagenet/val", 2,
                            SynthClassesConfig(per_class_train=1, per_class_val=1, size=8))
    result = fetch_source(sources, "net")
    assert result.status == "adopted" and result.layout["image_folders"] == want
    source["files"] = [{"url": None, "name": "x.tar", "manual": "elsewhere"}]
    (tmp_path / "params/sources.yaml").write_text(yaml.safe_dump({"sources": {"net": source}}))
    with pytest.raises(ConfigError, match="placed by hand has no `files`"):
        load_sources(tmp_path / "params")


def test_recipe_pieces_of_the_imagenet_recipe() -> None:
    import torch

    from pose.engine.losses import build_loss
    from pose.engine.optim import build_optimizer

    recipe = load_registry(ROOT / "params", check_pipeline=False).recipes["densenet_imagenet"]
    optimizer = build_optimizer(torch.nn.Linear(2, 3), recipe.optimizer)
    assert optimizer.defaults["nesterov"] and optimizer.defaults["momentum"] == 0.9
    logits, labels = torch.tensor([[2.0, 0.0, 0.0]]), torch.tensor([0])
    loss = build_loss(recipe.loss)(logits, labels, torch.ones(1))
    assert loss.item() == pytest.approx(torch.nn.functional.cross_entropy(logits, labels).item())
