"""COCO test-dev: the server's zip from a registry model, and the stats the server sends back."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import zipfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
import yaml
from conftest import write_tiny_params

from pose.config import load_registry
from pose.engine.checkpoint import model_identity, save_checkpoint
from pose.errors import ConfigError, DataError
from pose.evaluate.coco_eval import STAT_NAMES, coco_keypoint_eval
from pose.evaluate.server_stats import import_server_stats, parse_server_stats
from pose.evaluate.testdev import predict_test_dev
from pose.models import build_model
from pose.report.tables import build_table

EXP = "hrnet_w32_256x192"
SCALE = "tiny"
STEM = "person_keypoints_test-dev2017_hrnet-w32-256x192_results"
# Test-dev image ids are not 1, 2, 3 in COCO either; 7 is a val image, not a test-dev one.
IMAGES = {101: (120, 90), 202: (80, 110), 303: (96, 96)}
DETECTIONS = [
    {"image_id": 101, "category_id": 1, "bbox": [10, 8, 40, 90], "score": 0.9},
    {"image_id": 101, "category_id": 1, "bbox": [55, 20, 30, 70], "score": 0.6},
    {"image_id": 202, "category_id": 1, "bbox": [5, 5, 60, 70], "score": 0.8},
    {"image_id": 202, "category_id": 18, "bbox": [0, 0, 20, 20], "score": 0.99},  # a dog
]


def _write_test_dev(root: Path) -> None:
    """An image-info file (images and categories, no annotations), its images, the detections."""
    rng = np.random.default_rng(0)
    (root / "test2017").mkdir(parents=True)
    images = []
    for image_id, (h, w) in IMAGES.items():
        name = f"{image_id:012d}.jpg"
        cv2.imwrite(str(root / "test2017" / name), rng.integers(0, 255, (h, w, 3), np.uint8))
        images.append({"id": image_id, "file_name": name, "width": w, "height": h})
    info = {"info": {"description": "test-dev"}, "images": images,
            "categories": [{"id": 1, "name": "person"}, {"id": 18, "name": "dog"}]}
    (root / "image_info.json").write_text(json.dumps(info), encoding="utf-8")
    (root / "dets.json").write_text(json.dumps(DETECTIONS), encoding="utf-8")


def _add_test_dev_table(params: Path) -> None:
    row = {"label": "HRNet-W32", "experiment": EXP, "paper": {"ap": 73.5}}
    table = {"title": "Test-dev", "ap_split": "test-dev", "rows": [row]}
    (params / "papers" / "td.yaml").write_text(yaml.safe_dump(table), encoding="utf-8")
    listed = yaml.safe_load((params / "tables.yaml").read_text(encoding="utf-8"))["tables"]
    (params / "tables.yaml").write_text(yaml.safe_dump({"tables": [*listed, "td"]}), "utf-8")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    """Tiny params whose synthetic dataset has a test_dev split, a tiny registry model saved as
    the experiment's trained model, and one predict_test_dev run (cwd: the project)."""
    root = tmp_path_factory.mktemp("testdev")
    params = write_tiny_params(root)
    datasets = yaml.safe_load((params / "datasets.yaml").read_text(encoding="utf-8"))
    datasets["synthetic"]["test_dev"] = {"annotations": "test-dev/image_info.json",
                                         "images": "test-dev/test2017",
                                         "detections": "test-dev/dets.json"}
    (params / "datasets.yaml").write_text(yaml.safe_dump(datasets), encoding="utf-8")
    _add_test_dev_table(params)
    _write_test_dev(root / "data" / "synthetic" / "test-dev")
    exp = load_registry(params).resolve(EXP, SCALE)
    torch.manual_seed(0)
    model = build_model(exp.model_spec)
    cwd = Path.cwd()
    os.chdir(root)
    try:
        save_checkpoint(exp.run_dir / "model.pth",
                        {**model_identity(exp.model_name, exp.model_spec), "epochs": 2,
                         "state_dict": model.state_dict()})
        zip_path = predict_test_dev(exp, progress=False)
        yield SimpleNamespace(root=root, params=params, exp=exp, zip=root / zip_path)
    finally:
        os.chdir(cwd)


@pytest.fixture()
def runs(project: SimpleNamespace, tmp_path: Path) -> Path:
    """A private copy of the project's runs/ (a test may write its test-dev eval.json)."""
    shutil.copytree(project.root / "runs", tmp_path / "runs")
    return tmp_path / "runs"


# --------------------------------------------------------------------------- the submission
def test_zip_holds_the_results_json_alone_at_its_root(project: SimpleNamespace) -> None:
    assert project.zip.name == f"{STEM}.zip"
    assert project.zip.parent == project.root / "runs" / SCALE / EXP / "test-dev"
    with zipfile.ZipFile(project.zip) as zf:
        assert zf.namelist() == [f"{STEM}.json"]
        results = json.loads(zf.read(f"{STEM}.json"))
    assert results == json.loads((project.zip.parent / f"{STEM}.json").read_text())
    # the two images with person detections; the dog and image 303 (no detection) give none
    assert {r["image_id"] for r in results} == {101, 202}
    assert 2 <= len(results) <= 3  # OKS-NMS may merge image 101's two people
    for r in results:
        assert set(r) == {"image_id", "category_id", "keypoints", "score"}
        assert r["category_id"] == 1 and isinstance(r["score"], float)
        assert len(r["keypoints"]) == 51 and all(isinstance(v, float) for v in r["keypoints"])
        w, h = IMAGES[r["image_id"]][1], IMAGES[r["image_id"]][0]
        xs, ys = np.array(r["keypoints"][0::3]), np.array(r["keypoints"][1::3])
        assert (xs > -w).all() and (xs < 2 * w).all() and (ys > -h).all() and (ys < 2 * h).all()


def test_submission_record_names_the_zip_and_its_protocol(project: SimpleNamespace) -> None:
    record = json.loads((project.zip.parent / "submission.json").read_text())
    assert record["zip"] == project.zip.name
    assert record["zip_sha256"] == hashlib.sha256(project.zip.read_bytes()).hexdigest()
    assert (record["experiment"], record["scale"], record["split"]) == (EXP, SCALE, "test-dev")
    assert (record["boxes"], record["input"], record["epochs"], record["images"]) == (
        "detections", "96x64", 2, 3)


def test_same_weights_give_the_same_zip(project: SimpleNamespace, monkeypatch) -> None:
    before = project.zip.read_bytes()
    monkeypatch.chdir(project.root)
    assert predict_test_dev(project.exp, progress=False) == project.zip.relative_to(project.root)
    assert project.zip.read_bytes() == before


def test_a_new_submission_drops_the_stats_of_the_old_one(project: SimpleNamespace,
                                                        tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(project.root / "data", tmp_path / "data")
    shutil.copytree(project.root / "runs", tmp_path / "runs")
    monkeypatch.chdir(tmp_path)
    stats = tmp_path / "server.json"
    stats.write_text(json.dumps(SERVER_JSON))
    imported = import_server_stats(stats, EXP, SCALE, Path("runs"))
    predict_test_dev(project.exp, progress=False)  # same weights, same zip: the stats stand
    assert imported.is_file()
    torch.manual_seed(1)
    other = build_model(project.exp.model_spec)
    save_checkpoint(project.exp.run_dir / "model.pth",
                    {**model_identity(project.exp.model_name, project.exp.model_spec),
                     "epochs": 2, "state_dict": other.state_dict()})
    predict_test_dev(project.exp, progress=False)
    assert not imported.exists()


def test_detections_of_other_images_are_rejected(project: SimpleNamespace, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(project.root / "data", tmp_path / "data")
    shutil.copytree(project.root / "runs" / SCALE / EXP, tmp_path / "runs" / SCALE / EXP,
                    ignore=shutil.ignore_patterns("test-dev"))
    dets = [*DETECTIONS, {"image_id": 7, "category_id": 1, "bbox": [1, 1, 9, 9], "score": 0.5}]
    (tmp_path / "data/synthetic/test-dev/dets.json").write_text(json.dumps(dets))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError, match=r"dets.json: detection for image_id 7.*image_info.json"):
        predict_test_dev(project.exp, progress=False)
    assert not (tmp_path / "runs" / SCALE / EXP / "test-dev").exists()


def test_a_dataset_without_test_dev_is_a_config_error(project: SimpleNamespace) -> None:
    exp = replace(project.exp, dataset=replace(project.exp.dataset, test_dev=None))
    with pytest.raises(ConfigError, match="dataset 'synthetic' has no test_dev split"):
        predict_test_dev(exp, progress=False)


def test_datasets_yaml_gives_coco_its_test_dev_split() -> None:
    params = Path(__file__).resolve().parents[2] / "params"
    coco = load_registry(params, check_pipeline=False).datasets["coco"]
    assert coco.test_dev is not None
    assert coco.test_dev.annotations == "annotations/image_info_test-dev2017.json"
    assert coco.test_dev.images == "test2017"
    assert coco.test_dev.detections.endswith("COCO_test-dev2017_detections_AP_H_609_person.json")


# --------------------------------------------------------------------------- the server's stats
SERVER_JSON = {"AP": 0.75, "Ap50": 0.906, "AP_75": 0.824, "APm": 0.711, "APl": 0.809,
               "ar": 0.801, "AR50": 0.943, "AR 75": 0.864, "ARm": 0.759, "AR_L": 0.859,
               "submission_id": 1234}
EXPECTED = dict(zip(STAT_NAMES, (0.75, 0.906, 0.824, 0.711, 0.809,
                                 0.801, 0.943, 0.864, 0.759, 0.859), strict=True))


def test_json_stats_are_recorded_with_their_source(project: SimpleNamespace, runs: Path,
                                                   tmp_path: Path) -> None:
    stats = tmp_path / "server.json"
    stats.write_text(json.dumps(SERVER_JSON))
    out = import_server_stats(stats, EXP, SCALE, runs)
    assert out == runs / SCALE / EXP / "test-dev" / "eval.json"
    record = json.loads(out.read_text())
    assert {k: record[k] for k in STAT_NAMES} == EXPECTED
    assert record["stats_file"] == "server.json"
    assert record["stats_sha256"] == hashlib.sha256(stats.read_bytes()).hexdigest()
    assert (record["split"], record["experiment"], record["scale"]) == ("test-dev", EXP, SCALE)
    assert record["submission"] == project.zip.name
    assert record["submission_sha256"] == hashlib.sha256(project.zip.read_bytes()).hexdigest()
    assert (record["dataset"], record["boxes"], record["input"]) == (
        "synthetic", "detections", "96x64")


def test_the_experiment_is_inferred_from_the_files_folder_or_name(project: SimpleNamespace,
                                                                   runs: Path,
                                                                   tmp_path: Path) -> None:
    """`pose import-server-stats FILE` without --experiment: a file saved in the run's test-dev
    folder, or named after the submission, identifies it; anything else is a clear error."""
    from pose.evaluate.server_stats import infer_experiment

    experiments = ["hrnet_w48_256x192", EXP, "simplebaseline_r50_256x192"]
    beside = runs / SCALE / EXP / "test-dev" / "stats.json"
    beside.write_text(json.dumps(SERVER_JSON))
    assert infer_experiment(beside, experiments, SCALE, runs) == EXP
    named = tmp_path / f"{STEM}_stats.json"
    named.write_text(json.dumps(SERVER_JSON))
    assert infer_experiment(named, experiments, SCALE, runs) == EXP
    anonymous = tmp_path / "stats.json"
    anonymous.write_text(json.dumps(SERVER_JSON))
    with pytest.raises(DataError, match="names no experiment.*--experiment"):
        infer_experiment(anonymous, experiments, SCALE, runs)


def _pycocotools_summary(fx: SimpleNamespace, caplog: pytest.LogCaptureFixture
                         ) -> tuple[str, dict[str, float]]:
    """The summary pycocotools prints for keypoints, and the stats it summarises (jittered
    ground truth on the hand-written fixture, so the ten figures differ)."""
    rng = np.random.default_rng(1)
    results = []
    for ann in fx.annotations:
        if ann["num_keypoints"] and not ann["iscrowd"]:
            k = np.array(ann["keypoints"], dtype=float).reshape(17, 3)
            k[:, :2] += rng.normal(0, 4, (17, 2))
            results.append({"image_id": ann["image_id"], "category_id": 1,
                            "keypoints": k.reshape(-1).tolist(), "score": 0.9})
    with caplog.at_level(logging.INFO, logger="pose.evaluate.coco_eval"):
        stats = coco_keypoint_eval(fx.ann_file, results)
    summary = next(r.getMessage() for r in caplog.records if "Average Precision" in r.getMessage())
    return summary, stats


def test_pycocotools_summary_text_is_parsed(tmp_path: Path, coco_fixture: SimpleNamespace,
                                            caplog: pytest.LogCaptureFixture) -> None:
    summary, stats = _pycocotools_summary(coco_fixture, caplog)
    assert len(set(stats.values())) > 2
    text = tmp_path / "server.txt"
    text.write_text("Evaluation results\n" + summary)
    parsed = parse_server_stats(text)
    assert list(parsed) == list(STAT_NAMES)
    for name in STAT_NAMES:
        assert parsed[name] == pytest.approx(stats[name], abs=5e-4)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"AR_L": None}, r"missing stat\(s\) ARL"),
        ({"AP": 75.0}, r"stat AP is 75.0; expected a number in 0..1 \(a percentage"),
        ({"APm": -0.1}, r"stat APM is -0.1"),
        ({"AR50": "n/a"}, r"stat AR50 is 'n/a'"),
        ({"AR (M)": 0.7}, r"stat ARM given twice"),
    ],
)
def test_bad_or_missing_json_stats_are_rejected(runs: Path, tmp_path: Path, change: dict,
                                                message: str) -> None:
    data = {k: v for k, v in {**SERVER_JSON, **change}.items() if v is not None}
    stats = tmp_path / "bad.json"
    stats.write_text(json.dumps(data))
    with pytest.raises(DataError, match=rf"bad.json: {message}"):
        import_server_stats(stats, EXP, SCALE, runs)
    assert not (runs / SCALE / EXP / "test-dev" / "eval.json").exists()


def test_bad_summary_text_is_rejected(tmp_path: Path, coco_fixture: SimpleNamespace,
                                      caplog: pytest.LogCaptureFixture) -> None:
    summary, _ = _pycocotools_summary(coco_fixture, caplog)
    text = tmp_path / "server.txt"
    text.write_text("\n".join(line for line in summary.splitlines() if "area=medium" not in line))
    with pytest.raises(DataError, match=r"server.txt: missing stat\(s\) APM, ARM"):
        parse_server_stats(text)
    # the bounding-box summary (maxDets 100) is not the keypoint one
    text.write_text(summary.replace("maxDets= 20", "maxDets=100"))
    with pytest.raises(DataError, match=r"server.txt: .*maxDets 100: not the keypoint summary"):
        parse_server_stats(text)
    text.write_text("no stats here")
    with pytest.raises(DataError, match="server.txt: neither a JSON object"):
        parse_server_stats(text)


def test_stats_without_a_submission_are_rejected(tmp_path: Path) -> None:
    stats = tmp_path / "server.json"
    stats.write_text(json.dumps(SERVER_JSON))
    with pytest.raises(DataError, match=r"submission.json: no test-dev submission record.*"
                                        r"pose predict-test-dev hrnet_w32_256x192 --scale tiny"):
        import_server_stats(stats, EXP, SCALE, tmp_path / "runs")


# --------------------------------------------------------------------------- the table
def test_table_shows_the_imported_server_stats(project: SimpleNamespace, runs: Path,
                                               tmp_path: Path) -> None:
    registry = load_registry(project.params)
    build_table(registry, "td", SCALE, runs, tmp_path / "before")
    before = (tmp_path / "before" / "td.md").read_text(encoding="utf-8")
    assert "no test-dev evaluation" in next(x for x in before.splitlines() if EXP in x)

    stats = tmp_path / "server.json"
    stats.write_text(json.dumps(SERVER_JSON))
    import_server_stats(stats, EXP, SCALE, runs)
    build_table(registry, "td", SCALE, runs, tmp_path / "tables")
    md = (tmp_path / "tables" / "td.md").read_text(encoding="utf-8")
    cells = [c.strip() for c in next(x for x in md.splitlines() if EXP in x).split("|")]
    assert "75.0 (test-dev server, tiny, synthetic, det boxes)" in cells
    assert "COCO evaluation server" in md
    row = json.loads((tmp_path / "tables" / "td.json").read_text(encoding="utf-8"))["rows"][0]
    assert (row["reproduced"]["ap"], row["reproduced"]["split"]) == (75.0, "test-dev")
    assert row["reproduced"]["ap50"] == pytest.approx(90.6)
    assert row["delta_ap"] is None  # tiny scale, synthetic data: not the paper's protocol
    assert row["files"]["eval"] == str(runs / SCALE / EXP / "test-dev" / "eval.json")
