"""MPII annotations, the data/mpii layout check and the prediction files, on a tiny folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from mpii_layout import GT_NAMES, write_gt, write_mpii_folder

from pose.data.mpii import (
    NUM_JOINTS,
    MpiiPerson,
    check_mpii_layout,
    load_mpii_split,
    person_center_scale,
    read_mpii_annotations,
    read_mpii_gt,
)
from pose.errors import DataError
from pose.evaluate.mpii_predictions import (
    read_mpii_predictions,
    read_pred_mat,
    write_mpii_predictions,
    write_pred_mat,
)
from pose.evaluate.pckh import evaluate_mpii


def joints(x0: float, y0: float) -> list[list[float]]:
    """16 distinct 1-based joint positions."""
    return [[x0 + 2 * j, y0 + 3 * j] for j in range(NUM_JOINTS)]


def labelled(image: str, center: list[float], scale: float, x0: float, y0: float,
             vis: list[int] | None = None) -> dict:
    return {"image": image, "center": center, "scale": scale, "joints": joints(x0, y0),
            "joints_vis": vis if vis is not None else [1] * NUM_JOINTS}


TRAIN = [labelled("000000001.jpg", [100.0, 150.0], 2.0, 50, 60),
         labelled("000000002.jpg", [40.0, 30.0], 0.5, 20, 10, vis=[1] * 8 + [0] * 8)]
VALID = [labelled("000000002.jpg", [60.0, 50.0], 1.0, 30, 20),
         labelled("000000003.jpg", [70.0, 80.0], 1.5, 40, 30, vis=[0] + [1] * 15)]
TEST = [{"image": "000000001.jpg", "center": [80.0, 90.0], "scale": 1.2},
        {"image": "000000001.jpg", "center": [20.0, 25.0], "scale": 0.8},
        {"image": "000000003.jpg", "center": [50.0, 60.0], "scale": 1.0}]


@pytest.fixture()
def mpii(tmp_path: Path) -> Path:
    return write_mpii_folder(tmp_path / "mpii", TRAIN, VALID, TEST, image_hw=(24, 32))


def test_reader_keeps_the_file_as_stored(mpii: Path):
    persons = read_mpii_annotations(mpii / "annot" / "train.json")
    assert [p.image for p in persons] == ["000000001.jpg", "000000002.jpg"]
    np.testing.assert_array_equal(persons[0].joints, joints(50, 60))
    np.testing.assert_array_equal(persons[1].joints_vis, [1] * 8 + [0] * 8)
    test = read_mpii_annotations(mpii / "annot" / "test.json", need_joints=False)
    assert test[2].joints is None and test[2].scale == 1.0


def test_crop_follows_hrnet():
    # centre (100, 150), scale 2: y + 15 * 2 = 180, scale * 1.25 = 2.5, then 1-based -> 0-based.
    person = MpiiPerson("a.jpg", np.array([100.0, 150.0]), 2.0, None, None)
    center, scale = person_center_scale(person)
    np.testing.assert_allclose(center, [99.0, 179.0])
    np.testing.assert_allclose(scale, [2.5, 2.5])
    # The -1 placeholder centre gets neither the shift nor the padding.
    placeholder = MpiiPerson("a.jpg", np.array([-1.0, -1.0]), 2.0, None, None)
    center, scale = person_center_scale(placeholder)
    np.testing.assert_allclose(center, [-2.0, -2.0])
    np.testing.assert_allclose(scale, [2.0, 2.0])


def test_split_instances(mpii: Path):
    train = load_mpii_split(mpii, "train")
    assert [i.image_id for i in train] == [0, 1]
    assert train[0].image_path == mpii / "images" / "000000001.jpg"
    np.testing.assert_allclose(train[0].joints[:, :2], np.array(joints(50, 60)) - 1.0)
    np.testing.assert_array_equal(train[1].joints[:, 2], [1] * 8 + [0] * 8)
    np.testing.assert_allclose(train[1].center, [39.0, 30.0 + 15 * 0.5 - 1.0])
    assert train[0].area == pytest.approx(2.5 * 2.5 * 200 ** 2)
    test = load_mpii_split(mpii, "test")
    assert len(test) == 3 and not test[0].joints.any()
    trainval = load_mpii_split(mpii, "trainval")
    assert [i.image_id for i in trainval] == [0, 1, 2, 3]
    assert trainval[3].image_path.name == "000000003.jpg"
    with pytest.raises(DataError, match="unknown MPII split 'val'"):
        load_mpii_split(mpii, "val")


@pytest.mark.parametrize(("content", "message"), [
    ({"images": [], "annotations": [], "categories": []},
     r"train\.json: not an MPII annotation file: expected a JSON list .* COCO annotation file"),
    ([{"image": "a.jpg", "center": [1, 2], "scale": 1.0, "joints": [[0, 0]] * 17,
       "joints_vis": [1] * 17}],
     r"train\.json: entry 0: 'joints' must be 16 \[x, y\] rows .* got 17 rows \(17 rows: COCO"),
    ([TRAIN[0], {"image": "b.jpg", "center": [1, 2], "joints": joints(0, 0),
                 "joints_vis": [1] * 16}],
     r"train\.json: entry 1: lacks 'scale'; an MPII entry needs image, center, scale"),
    ([{"image": "b.jpg", "center": [1, 2], "scale": 1.0}],
     r"train\.json: entry 0: lacks 'joints', 'joints_vis'"),
    ([{**TRAIN[0], "joints_vis": [1] * 15}], r"entry 0: 'joints_vis' must be 16 flags"),
    ([{**TRAIN[0], "scale": -1}], r"entry 0: 'scale' must be a positive number"),
    ([{**TRAIN[0], "center": [1, 2, 3]}], r"entry 0: 'center' must be \[x, y\]"),
])
def test_wrong_files_are_rejected(tmp_path: Path, content: object, message: str):
    path = tmp_path / "train.json"
    path.write_text(json.dumps(content))
    with pytest.raises(DataError, match=message):
        read_mpii_annotations(path)


def test_unreadable_json_is_rejected(tmp_path: Path):
    path = tmp_path / "valid.json"
    path.write_text("[{")
    with pytest.raises(DataError, match=r"valid\.json: cannot read MPII annotation file as JSON"):
        read_mpii_annotations(path)
    with pytest.raises(DataError, match=r"nope\.json: MPII annotation file not found"):
        read_mpii_annotations(tmp_path / "nope.json")


def test_ground_truth_reader(mpii: Path):
    gt = read_mpii_gt(mpii / "annot" / "gt_valid.mat")
    assert gt.joints.shape == (2, 16, 2) and gt.headboxes.shape == (2, 2, 2)
    np.testing.assert_array_equal(gt.joints[1], joints(40, 30))
    np.testing.assert_array_equal(gt.missing[1], [True] + [False] * 15)
    assert not gt.missing[0].any()
    np.testing.assert_array_equal(gt.headboxes[0], [[50, 10], [70, 40]])
    assert gt.joint_names[9] == "head"


def test_ground_truth_of_another_joint_order_is_rejected(tmp_path: Path):
    path = tmp_path / "gt_valid.mat"
    write_gt(path, VALID, names=GT_NAMES[::-1])
    with pytest.raises(DataError, match=r"not in MPII joint order: 0: 'lwri' \(expected 'rank'\)"):
        read_mpii_gt(path)
    # The upper neck is read too (Table VIII's Head pairs it with the head top).
    swapped = [*GT_NAMES[:8], "thrx", *GT_NAMES[9:]]
    write_gt(path, VALID, names=swapped)
    with pytest.raises(DataError, match=r"8: 'thrx' \(expected 'neck'\)"):
        read_mpii_gt(path)
    scipy.io.savemat(path, {"dataset_joints": np.array([GT_NAMES], dtype=object)})
    with pytest.raises(DataError, match=r"lacks jnt_missing, pos_gt_src, headboxes_src"):
        read_mpii_gt(path)


def test_layout_check_counts(mpii: Path):
    assert check_mpii_layout(mpii) == {
        "train_persons": 2, "train_images": 2,
        "valid_persons": 2, "valid_images": 2,
        "test_persons": 3, "test_images": 2,
        "gt_valid_persons": 2, "image_files": 3,
    }


def test_layout_check_names_a_missing_image(mpii: Path):
    (mpii / "images" / "000000003.jpg").unlink()
    with pytest.raises(DataError, match=r"valid\.json: 1 referenced image\(s\) missing .* "
                                        r"e\.g\. 000000003\.jpg"):
        check_mpii_layout(mpii)


def test_layout_check_rejects_coco_data_and_mismatched_ground_truth(mpii: Path):
    write_gt(mpii / "annot" / "gt_valid.mat", VALID[:1])
    with pytest.raises(DataError, match=r"gt_valid\.mat: 1 persons, but valid\.json lists 2"):
        check_mpii_layout(mpii)
    (mpii / "annot" / "test.json").write_text(json.dumps({"images": [], "annotations": []}))
    with pytest.raises(DataError, match=r"test\.json: not an MPII annotation file"):
        check_mpii_layout(mpii)


def test_submission_round_trip(mpii: Path, tmp_path: Path):
    entries = read_mpii_annotations(mpii / "annot" / "test.json", need_joints=False)
    preds = np.random.default_rng(1).uniform(0, 30, (3, NUM_JOINTS, 2)).round(3)
    path = tmp_path / "out" / "pred_keypoints_mpii.mat"
    write_mpii_predictions(path, entries, preds)
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temp file left

    names, back = read_mpii_predictions(path)
    assert names == ["000000001.jpg", "000000001.jpg", "000000003.jpg"]
    np.testing.assert_allclose(back, preds)

    # The raw file: one struct per image, persons of an image as its rects, 1-based points.
    pred = scipy.io.loadmat(path, struct_as_record=False, squeeze_me=True)["pred"]
    assert len(pred) == 2 and pred[0].image.name == "000000001.jpg"
    assert len(pred[0].annorect) == 2
    second = pred[0].annorect[1].annopoints.point
    assert [int(p.id) for p in second] == list(range(NUM_JOINTS))
    assert second[4].x == pytest.approx(preds[1, 4, 0] + 1)
    assert second[4].y == pytest.approx(preds[1, 4, 1] + 1)
    assert pred[1].annorect.annopoints.point[15].x == pytest.approx(preds[2, 15, 0] + 1)


def test_submission_needs_one_prediction_per_entry(mpii: Path, tmp_path: Path):
    entries = read_mpii_annotations(mpii / "annot" / "test.json", need_joints=False)
    path = tmp_path / "pred.mat"
    with pytest.raises(DataError, match=r"2 predictions for 3 annotated persons"):
        write_mpii_predictions(path, entries, np.zeros((2, NUM_JOINTS, 2)))
    assert not path.exists()


def test_pred_mat_round_trip_and_evaluation(mpii: Path, tmp_path: Path):
    # Perfect 0-based predictions of valid.json, through HRNet's pred.mat, score 100 PCKh.
    valid = load_mpii_split(mpii, "valid")
    preds = np.stack([inst.joints[:, :2] for inst in valid])
    path = tmp_path / "pred.mat"
    write_pred_mat(path, preds)
    np.testing.assert_allclose(scipy.io.loadmat(path)["preds"], preds + 1.0)  # 1-based inside
    back = read_pred_mat(path)
    np.testing.assert_allclose(back, preds)
    table = evaluate_mpii(back, read_mpii_gt(mpii / "annot" / "gt_valid.mat"))
    assert table["Mean"] == pytest.approx(100.0)
    # Person 1's r_ankle is missing in the ground truth: moving it far away changes nothing,
    # moving person 0's l_ankle does.
    back[1, 0] += 500
    assert evaluate_mpii(back, read_mpii_gt(mpii / "annot" / "gt_valid.mat"))["Ankle"] == 100.0
    back[0, 5] += 500
    assert evaluate_mpii(back, read_mpii_gt(mpii / "annot" / "gt_valid.mat"))["Ankle"] == 75.0


def test_fetch_mpii_sources(mpii: Path, tmp_path: Path):
    """The repo's MPII sources with their folders moved: the images from a tar.gz in the
    official layout (top folder images/), the annotations placed by hand, both checked."""
    import tarfile

    import yaml

    from pose.errors import DataError
    from pose.fetch.fetch import fetch_source
    from pose.fetch.spec import load_sources

    archive = tmp_path / "mpii_human_pose_v1.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(mpii / "images", arcname="images")
    spec = yaml.safe_load((Path(__file__).parents[2] / "params/sources.yaml").read_text())
    sources = {k: spec["sources"][k] for k in ("mpii_images", "mpii_annotations")}
    sources["mpii_images"]["out"] = str(tmp_path / "data/mpii/images")
    sources["mpii_images"]["files"][0]["url"] = str(archive)
    sources["mpii_annotations"]["out"] = str(mpii / "annot")
    params = tmp_path / "params"
    params.mkdir()
    (params / "sources.yaml").write_text(yaml.safe_dump(
        {"settings": {"downloads": str(tmp_path / "downloads")}, "sources": sources}))
    reg = load_sources(params)
    images = fetch_source(reg, "mpii_images", progress=False)
    assert images.layout == {"images": {"images": 3}}
    annot = fetch_source(reg, "mpii_annotations", progress=False)
    assert annot.status == "adopted"
    assert annot.layout["mpii_annotations"]["valid_persons"] == len(VALID)
    (mpii / "annot" / "train.json").write_text(json.dumps({"images": [], "annotations": []}))
    with pytest.raises(DataError, match="train.json"):
        fetch_source(reg, "mpii_annotations", progress=False)
