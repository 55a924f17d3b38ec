"""MPII through the experiment code path on a tiny MPII-layout folder: the dataset's keypoint set
(16 joints, MPII's flip pairs), a narrow DANet trained one step, PCKh on the validation split and
DANet's Table VIII with the PCKh columns beside the paper's."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from mpii_layout import write_mpii_folder

from pose.config import load_registry
from pose.data import mpii
from pose.data.dataset import AugmentConfig
from pose.data.keypoint_sets import COCO, MPII, keypoint_set
from pose.errors import ConfigError
from pose.experiment_data import build_dataset
from pose.report.tables import build_table
from pose.stages import evaluate_stage, train_stage

ROOT = Path(__file__).resolve().parents[1]
MPII_EXPERIMENTS = [f"danet_{d}_mpii_256x256" for d in (72, 88, 98, 102)]
SCALE = "tiny_mpii"
TINY_MPII_SCALE = {
    "train": ["danet_72_mpii_256x256"],
    "dataset": None,  # the experiment's own dataset: mpii
    "input": "64x64",
    "recipe": {"epochs": 1, "batch_size": 2},
    "models": {
        "danet": {"pyramid_width": 8, "sfu_hidden": 4},
        "danet_72": {"backbone": {"blocks": [1, 1, 1, 1], "transitions": [8, 8, 8, 8],
                                  "stem_width": 8, "growth": 4, "bottleneck": 4,
                                  "cau_squeeze": 2}},
    },
    "device": "cpu",
    "num_workers": 0,
    "threads": 1,
    "val_every": 1,
}
def person(image: str, x0: float, y0: float) -> dict:
    """An MPII annot entry (1-based pixels) whose 16 joints are distinct and all visible."""
    joints = [[x0 + 2.0 * j, y0 + 3.0 * j] for j in range(mpii.NUM_JOINTS)]
    return {"image": image, "center": [x0 + 15.0, y0 + 15.0], "scale": 0.4,
            "joints": joints, "joints_vis": [1] * mpii.NUM_JOINTS}


TRAIN = [person("000000001.jpg", 20, 10), person("000000001.jpg", 50, 20),
         person("000000002.jpg", 30, 15), person("000000002.jpg", 10, 5)]
VALID = [person("000000003.jpg", 25, 12), person("000000003.jpg", 45, 18),
         person("000000002.jpg", 35, 10)]
# test.json: no joints (the benchmark keeps the labels)
TEST = [{k: v for k, v in person(name, x, y).items() if k not in ("joints", "joints_vis")}
        for name, x, y in (("000000001.jpg", 22, 12), ("000000003.jpg", 40, 20))]


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """params/ with a tiny MPII scale, and the tiny folder at data/mpii (the dataset's root)."""
    params = tmp_path / "params"
    shutil.copytree(ROOT / "params", params)
    scales = yaml.safe_load((params / "scales.yaml").read_text())
    scales[SCALE] = TINY_MPII_SCALE
    (params / "scales.yaml").write_text(yaml.safe_dump(scales, sort_keys=False))
    write_mpii_folder(tmp_path / "data" / "mpii", TRAIN, VALID, TEST, image_hw=(96, 96))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_dataset_source_picks_the_keypoint_set() -> None:
    assert keypoint_set("coco") is COCO and keypoint_set("synthetic") is COCO
    assert (COCO.num_joints, MPII.num_joints) == (17, 16)
    assert MPII.flip_pairs == mpii.FLIP_PAIRS and MPII.upper_body_ids == mpii.UPPER_BODY_IDS
    with pytest.raises(ConfigError, match="'lsp'"):
        keypoint_set("lsp")


def test_resolved_num_joints_follows_the_dataset() -> None:
    reg = load_registry(ROOT / "params", check_pipeline=False)
    for name in MPII_EXPERIMENTS:
        exp = reg.resolve(name, "full")
        assert (exp.dataset_name, exp.model_spec["num_joints"]) == ("mpii", 16)
        # complexity is measured on the models.yaml entry, which the MPII run does not copy
        assert exp.paper_model_spec is reg.model(exp.model_name)
        assert exp.paper_input == (256, 256)
        # smoke replaces every dataset with the synthetic COCO-format one
        assert reg.resolve(name, "smoke").model_spec["num_joints"] == 17
    coco = reg.resolve("danet_72_256x192", "full")
    assert coco.model_spec == reg.model("danet_72") and coco.model_spec["num_joints"] == 17


COCO_TRAIN_PERSONS = 149_813  # COCO train2017's person instances with keypoints
MPII_TRAIN_PERSONS = 22_246   # annot/train.json of the official HRNet layout


def test_mpii_recipe_is_danets_with_the_same_sample_budget() -> None:
    """DANet's '2.8x10^7 iterations' is a number of training samples: the MPII recipe keeps it
    (to within one epoch of each dataset), and every other choice of DANet's COCO recipe but
    the test blur (9x9 on MPII, the MSPN / RSN code's MPII kernel)."""
    reg = load_registry(ROOT / "params", check_pipeline=False)
    coco = reg.resolve("danet_72_256x192", "full").recipe
    for name in MPII_EXPERIMENTS:
        recipe = reg.resolve(name, "full").recipe
        assert abs(recipe.epochs * MPII_TRAIN_PERSONS - 2.8e7) <= MPII_TRAIN_PERSONS / 2
        assert abs(coco.epochs * COCO_TRAIN_PERSONS - 2.8e7) <= COCO_TRAIN_PERSONS / 2
        same = ("optimizer", "schedule", "batch_size", "augment", "loss", "sigma")
        assert all(getattr(recipe, key) == getattr(coco, key) for key in same)
        assert recipe.test == dataclasses.replace(coco.test, blur_kernel=9)


def test_mpii_training_samples_have_16_joints_and_mpii_flips(project: Path) -> None:
    reg = load_registry("params", check_pipeline=False)
    exp = reg.resolve("danet_72_mpii_256x256", SCALE)
    dataset = build_dataset(exp, "train")
    assert dataset.keypoints is MPII and len(dataset) == len(TRAIN)
    sample = dataset[0]
    assert tuple(sample["target"].shape) == (16, 16, 16)
    assert tuple(sample["target_weight"].shape) == (16, 1)
    # flips only: find a sample the augmentation mirrors and check which joints it swaps
    dataset.augment = AugmentConfig(scale_factor=0.0, rotation_factor=0.0, half_body_prob=0.0)
    instance = dataset.instances[0]
    width = 96
    for epoch in range(20):
        dataset.set_epoch(epoch)
        params = dataset.crop_params(0, width)
        if params.flip:
            break
    assert params.flip
    joints = instance.joints[:, :2]
    for a, b in mpii.FLIP_PAIRS:  # r_ankle <-> l_ankle, ..., r_shoulder <-> l_shoulder
        np.testing.assert_allclose(params.joints[a], [width - 1 - joints[b, 0], joints[b, 1]])
        np.testing.assert_allclose(params.joints[b], [width - 1 - joints[a, 0], joints[a, 1]])
    np.testing.assert_allclose(params.joints[9], [width - 1 - joints[9, 0], joints[9, 1]])


def test_the_flip_test_swaps_the_datasets_pairs(project: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """predict's flip test takes the pairs of the dataset it predicts on, not COCO's."""
    import pose.evaluate.pipeline as pipeline

    reg = load_registry("params", check_pipeline=False)
    exp = reg.resolve("danet_72_mpii_256x256", SCALE)
    dataset = build_dataset(exp, "val", "gt")
    seen = []
    real = pipeline.model_heatmaps

    def spy(model, images, flip_test, flip_pairs, shift):  # noqa: ANN001, ANN202
        seen.append(tuple(flip_pairs))
        return real(model, images, flip_test, flip_pairs, shift=shift)

    monkeypatch.setattr(pipeline, "model_heatmaps", spy)
    model = torch.nn.Conv2d(3, 16, kernel_size=4, stride=4)
    preds = pipeline.predict(model, dataset, batch_size=2, progress=False)
    assert seen == [mpii.FLIP_PAIRS] * 2
    assert [p["keypoints"].shape for p in preds] == [(16, 3)] * len(VALID)


def test_tiny_danet_trains_evaluates_pckh_and_fills_table_viii(project: Path) -> None:
    reg = load_registry("params", check_pipeline=False)
    exp = reg.resolve("danet_72_mpii_256x256", SCALE)
    assert exp.model_spec["num_joints"] == 16
    train_stage(exp, progress=False)
    record = evaluate_stage(exp, None, None, progress=False)
    assert (record["dataset"], record["boxes"], record["flip_test"]) == ("mpii", "gt", True)
    groups = [*mpii.TABLE_GROUPS, "Mean", "Mean@0.1"]
    assert all(0.0 <= record[k] <= 100.0 for k in groups)
    assert "AP" not in record
    assert json.loads((exp.run_dir / "eval.json").read_text()) == record
    results = json.loads((exp.run_dir / "results.json").read_text())
    assert [r["index"] for r in results] == [0, 1, 2]
    assert all(np.asarray(r["keypoints"]).shape == (16, 3) for r in results)

    build_table(reg, "danet_mpii", SCALE, Path("runs"), Path("reports/tables"))
    table = json.loads(Path("reports/tables/danet_mpii.json").read_text())
    rows = {r["experiment"]: r for r in table["rows"]}
    got = rows["danet_72_mpii_256x256"]["reproduced"]
    assert got["split"] == "val" and got["dataset"] == "mpii"
    assert got["pckh"]["Mean"] == pytest.approx(record["Mean"], abs=1e-4)
    assert rows["danet_72_mpii_256x256"]["paper"]["pckh"]["Head"] == 97.9
    assert rows["danet_102_mpii_256x256"]["reproduced"] is None
    md = Path("reports/tables/danet_mpii.md").read_text()
    header = next(line for line in md.splitlines() if line.startswith("| Model"))
    for column in ("Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle", "Mean"):
        assert f"{column} (paper / val)" in header
    line = next(line for line in md.splitlines() if line.startswith("| DANet-72 "))
    assert f"90.6 / {record['Mean']:.1f}" in line
    assert "not trained at tiny_mpii scale" in md
    assert "test set" in md and "validation" in md


def test_a_pckh_table_rejects_an_unknown_column(project: Path) -> None:
    path = Path("params/papers/danet_mpii.yaml")
    path.write_text(path.read_text().replace("Head: 97.9", "Neck: 97.9"))
    with pytest.raises(ConfigError, match=r"danet_mpii.yaml.*'Neck'"):
        load_registry("params", check_pipeline=False)


def test_mpii_has_no_detection_boxes(project: Path) -> None:
    from pose.experiment_data import protocol_boxes

    reg = load_registry("params", check_pipeline=False)
    exp = reg.resolve("danet_72_mpii_256x256", SCALE)
    assert exp.recipe.test.boxes == "detections"  # DANet's COCO recipe
    assert protocol_boxes(exp, None) == protocol_boxes(exp, "gt") == "gt"
    with pytest.raises(ConfigError, match="'mpii' .*no person detections"):
        build_dataset(exp, "val", "detections")


def test_a_scale_that_swaps_mpii_for_coco_format_data_shows_no_pckh(project: Path) -> None:
    scales = yaml.safe_load(Path("params/scales.yaml").read_text())
    scales[SCALE]["dataset"] = "synthetic"
    Path("params/scales.yaml").write_text(yaml.safe_dump(scales, sort_keys=False))
    reg = load_registry("params", check_pipeline=False)
    assert reg.resolve("danet_72_mpii_256x256", SCALE).model_spec["num_joints"] == 17
    build_table(reg, "danet_mpii", SCALE, Path("runs"), Path("reports/tables"))
    md = Path("reports/tables/danet_mpii.md").read_text()
    line = next(line for line in md.splitlines() if line.startswith("| DANet-72 "))
    assert "trained on synthetic at tiny_mpii scale: no PCKh" in line
    assert "90.6 / —" in line


def test_test_set_predictions_in_the_benchmark_format(project: Path) -> None:
    """After training, `predict_mpii_test` writes one prediction per test.json person, in its
    order, readable as the toolkit's `pred`; a COCO experiment has none."""
    from pose.errors import ConfigError
    from pose.evaluate.mpii_predictions import read_mpii_predictions
    from pose.evaluate.mpii_test import predict_mpii_test

    reg = load_registry("params", check_pipeline=False)
    exp = reg.resolve("danet_72_mpii_256x256", SCALE)
    train_stage(exp, progress=False)
    path = predict_mpii_test(exp, progress=False)
    names, coords = read_mpii_predictions(path)
    assert names == [p["image"] for p in TEST]
    assert coords.shape == (len(TEST), 16, 2) and np.isfinite(coords).all()
    record = json.loads((path.parent / "submission.json").read_text())
    assert (record["split"], record["persons"]) == ("test", len(TEST))
    with pytest.raises(ConfigError, match="not MPII"):
        predict_mpii_test(reg.resolve("hrnet_w32_256x192", SCALE), progress=False)
