"""pycocotools evaluation: ground truth fed back as results scores AP 1 (the mmpose evaluator
test); empty and malformed results."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from pose.errors import DataError
from pose.evaluate.coco_eval import STAT_NAMES, coco_keypoint_eval
from pose.evaluate.pipeline import write_keypoint_results


def gt_as_results(fx: SimpleNamespace) -> list[dict]:
    return [{"image_id": a["image_id"], "category_id": 1, "keypoints": a["keypoints"],
             "score": 1.0}
            for a in fx.annotations if not a["iscrowd"] and max(a["keypoints"]) > 0]


def test_ground_truth_as_results_gives_ap_one(coco_fixture: SimpleNamespace) -> None:
    stats = coco_keypoint_eval(coco_fixture.ann_file, gt_as_results(coco_fixture))
    assert list(stats) == list(STAT_NAMES)
    assert all(isinstance(v, float) for v in stats.values())
    for name in ("AP", "AP50", "AP75", "APM", "APL", "AR", "AR50", "AR75", "ARM", "ARL"):
        assert stats[name] == pytest.approx(1.0), name


def test_results_file_and_a_missed_person(coco_fixture: SimpleNamespace, tmp_path) -> None:
    results = gt_as_results(coco_fixture)[1:]  # drop the only person of image 1
    path = tmp_path / "results.json"
    write_keypoint_results(path, results)
    stats = coco_keypoint_eval(coco_fixture.ann_file, path)
    assert stats["AP"] < 1.0 and stats["AR"] == pytest.approx(3 / 4)
    # restricted to the images that have results, nothing is missed
    only = coco_keypoint_eval(coco_fixture.ann_file, path, image_ids=[2, 3])
    assert only["AP"] == pytest.approx(1.0)


def test_no_results_gives_zeros_and_a_warning(coco_fixture: SimpleNamespace) -> None:
    with pytest.warns(RuntimeWarning, match="no keypoint results"):
        stats = coco_keypoint_eval(coco_fixture.ann_file, [])
    assert stats == dict.fromkeys(STAT_NAMES, 0.0)


def test_bad_results_are_data_errors(coco_fixture: SimpleNamespace, tmp_path) -> None:
    bad = gt_as_results(coco_fixture)[:1]
    bad[0] = {**bad[0], "image_id": 99}
    with pytest.raises(DataError, match="image_id 99"):
        coco_keypoint_eval(coco_fixture.ann_file, bad)
    short = [{**gt_as_results(coco_fixture)[0], "keypoints": [1.0] * 50}]
    with pytest.raises(DataError, match="50 keypoint values"):
        coco_keypoint_eval(coco_fixture.ann_file, short)
    garbled = tmp_path / "res.json"
    garbled.write_text("[{")
    with pytest.raises(DataError, match="res.json"):
        coco_keypoint_eval(coco_fixture.ann_file, garbled)
    with pytest.raises(DataError, match="missing.json"):
        coco_keypoint_eval(tmp_path / "missing.json", [])


def test_annotation_file_without_categories_is_a_data_error(coco_fixture, tmp_path) -> None:
    data = json.loads(coco_fixture.ann_file.read_text())
    del data["categories"]
    ann = tmp_path / "nocat.json"
    ann.write_text(json.dumps(data))
    with pytest.raises(DataError, match="nocat.json.*categories"):
        coco_keypoint_eval(ann, gt_as_results(coco_fixture))


def test_hand_made_annotations_without_optional_fields(coco_fixture, tmp_path) -> None:
    data = json.loads(coco_fixture.ann_file.read_text())
    data["annotations"] = [a for a in data["annotations"] if not a["iscrowd"]]
    for a in data["annotations"]:
        del a["iscrowd"], a["num_keypoints"]
    ann = tmp_path / "plain.json"
    ann.write_text(json.dumps(data))
    assert coco_keypoint_eval(ann, gt_as_results(coco_fixture))["AP"] == pytest.approx(1.0)
