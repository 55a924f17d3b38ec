"""COCO instances and top-down samples on a hand-written two-image fixture."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from pose.data.coco import load_instances
from pose.data.codec import HeatmapCodec
from pose.data.dataset import AugmentConfig, TopDownDataset
from pose.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from pose.errors import DataError

TEMPLATE = np.array([
    [0.50, 0.08], [0.56, 0.05], [0.44, 0.05], [0.62, 0.07], [0.38, 0.07],
    [0.70, 0.20], [0.30, 0.20], [0.80, 0.35], [0.20, 0.35], [0.85, 0.50], [0.15, 0.50],
    [0.62, 0.55], [0.38, 0.55], [0.63, 0.75], [0.37, 0.75], [0.64, 0.95], [0.36, 0.95],
])


def _person(ann_id: int, image_id: int, box: list[float], **extra) -> dict:
    x, y, w, h = box
    kpts = np.concatenate([TEMPLATE * [w, h] + [x, y], np.full((17, 1), 2)], axis=1)
    ann = {"id": ann_id, "image_id": image_id, "category_id": 1, "iscrowd": 0, "bbox": box,
           "area": w * h, "keypoints": kpts.reshape(-1).round(2).tolist(), "num_keypoints": 17}
    return {**ann, **extra}


@pytest.fixture()
def coco(tmp_path: Path) -> Path:
    """Two images with white blobs on every joint; returns the annotation file."""
    images = [{"id": 7, "file_name": "p.png", "width": 160, "height": 200},
              {"id": 9, "file_name": "q.png", "width": 200, "height": 120}]
    anns = [
        _person(1, 7, [40, 20, 70, 160]),
        _person(2, 9, [-5, 10, 60, 100]),  # sticks out on the left: clipped
        _person(3, 9, [120, 10, 40, 90], iscrowd=1),
        _person(4, 9, [120, 10, 40, 90], keypoints=[0] * 51, num_keypoints=0),
        _person(5, 9, [120, 10, 40, 90], area=0),
    ]
    rng = np.random.default_rng(0)
    for img in images:
        canvas = rng.integers(0, 50, (img["height"], img["width"], 3), dtype=np.uint8)
        for ann in anns[:2]:
            if ann["image_id"] == img["id"]:
                for x, y, _ in np.reshape(ann["keypoints"], (17, 3)):
                    cv2.circle(canvas, (round(x), round(y)), 3, (255, 255, 255), -1)
        cv2.imwrite(str(tmp_path / img["file_name"]), canvas)
    ann_file = tmp_path / "ann.json"
    ann_file.write_text(json.dumps({"images": images, "annotations": anns, "categories": []}))
    return ann_file


CODEC = HeatmapCodec((96, 128), (24, 32), 1)


def test_gt_instances_are_cleaned_like_the_official_loader(coco: Path) -> None:
    inst = load_instances(coco, coco.parent)
    assert [i.image_id for i in inst] == [7, 9]  # crowd, unlabelled and zero-area dropped
    a, b = inst
    assert a.image_path == coco.parent / "p.png" and a.box_score == 1.0
    np.testing.assert_allclose(a.center, [40 + 69 / 2, 20 + 159 / 2])
    np.testing.assert_allclose(b.center, [59 / 2, 10 + 99 / 2])  # clipped to x = 0
    assert a.joints.shape == (17, 3) and set(a.joints[:, 2]) == {1.0}  # visibility 2 → 1
    assert a.area == pytest.approx(a.scale[0] * a.scale[1] * 200 ** 2)


def test_detection_instances_filter_category_and_score(coco: Path, tmp_path: Path) -> None:
    det = tmp_path / "det.json"
    det.write_text(json.dumps([
        {"image_id": 7, "category_id": 1, "bbox": [30, 20, 80, 160], "score": 0.9},
        {"image_id": 7, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.05},
        {"image_id": 9, "category_id": 3, "bbox": [0, 0, 10, 10], "score": 0.99},
    ]))
    inst = load_instances(coco, coco.parent, det)
    assert [(i.image_id, i.box_score) for i in inst] == [(7, 0.9), (7, 0.05)]
    assert not inst[0].joints.any()
    assert len(load_instances(coco, coco.parent, det, det_score_thresh=0.1)) == 1


def test_detections_for_unknown_images_are_a_data_error(coco: Path, tmp_path: Path) -> None:
    det = tmp_path / "det.json"
    det.write_text(json.dumps([{"image_id": 8, "category_id": 1, "bbox": [0, 0, 9, 9],
                                "score": 1.0}]))
    with pytest.raises(DataError, match="image_id 8"):
        load_instances(coco, coco.parent, det)


def test_missing_or_garbled_files_are_data_errors_naming_them(coco: Path, tmp_path: Path
                                                              ) -> None:
    with pytest.raises(DataError, match="nowhere.json"):
        load_instances(tmp_path / "nowhere.json", tmp_path)
    bad = tmp_path / "bad.json"
    bad.write_text('{"images": [], "annots": []}')
    with pytest.raises(DataError, match="bad.json.*no 'annotations'"):
        load_instances(bad, tmp_path)
    bad.write_text("{not json")
    with pytest.raises(DataError, match="bad.json"):
        load_instances(bad, tmp_path)
    with pytest.raises(DataError, match="no_dets.json"):
        load_instances(coco, coco.parent, tmp_path / "no_dets.json")


@pytest.mark.parametrize("train", [False, True])
def test_sample_shapes_and_dtypes(coco: Path, train: bool) -> None:
    ds = TopDownDataset(load_instances(coco, coco.parent), CODEC, train=train)
    s = ds[0]
    assert s["image"].shape == (3, 128, 96) and s["image"].dtype == torch.float32
    assert s["target"].shape == (17, 32, 24) and s["target"].dtype == torch.float32
    assert s["target_weight"].shape == (17, 1) and s["target_weight"].dtype == torch.float32
    assert s["meta"]["image_id"] == 7 and s["meta"]["index"] == 0
    batch = next(iter(DataLoader(ds, batch_size=2)))
    assert batch["image"].shape == (2, 3, 128, 96)
    assert batch["meta"]["center"].shape == (2, 2) and batch["meta"]["area"].shape == (2,)


def test_test_samples_are_the_plain_box_crop(coco: Path) -> None:
    ds = TopDownDataset(load_instances(coco, coco.parent), CODEC, train=False)
    s = ds[0]
    np.testing.assert_allclose(s["meta"]["center"], ds.instances[0].center)
    assert s["meta"]["rotation"] == 0.0
    assert s["target_weight"].sum() == 17


def test_augmentation_is_reproducible_per_seed_epoch_and_index(coco: Path) -> None:
    inst = load_instances(coco, coco.parent)
    a = TopDownDataset(inst, CODEC, train=True, seed=3)
    b = TopDownDataset(inst, CODEC, train=True, seed=3)
    for index in range(2):
        x, y = a[index], b[index]
        assert torch.equal(x["image"], y["image"]) and torch.equal(x["target"], y["target"])
        assert x["meta"]["rotation"] == y["meta"]["rotation"]
    metas = []
    for epoch in range(4):
        a.set_epoch(epoch)
        metas.append((a[0]["meta"]["rotation"], tuple(a[0]["meta"]["scale"])))
    assert len(set(metas)) > 1  # epochs differ


def test_augmentation_does_not_depend_on_the_number_of_workers(coco: Path) -> None:
    ds = TopDownDataset(load_instances(coco, coco.parent) * 2, CODEC, train=True, seed=1)
    ds.set_epoch(2)
    serial = next(iter(DataLoader(ds, batch_size=4, num_workers=0)))
    parallel = next(iter(DataLoader(ds, batch_size=4, num_workers=2)))
    assert torch.equal(serial["image"], parallel["image"])
    assert torch.equal(serial["target"], parallel["target"])


def test_augmented_targets_stay_on_the_joints_in_the_image(coco: Path) -> None:
    """Every joint is a white blob in the image: wherever augmentation (half-body, scale,
    rotation, flip) sends the crop, a joint's target must sit on a white pixel of the crop."""
    cfg = AugmentConfig(half_body_prob=0.5)
    ds = TopDownDataset(load_instances(coco, coco.parent), CODEC, train=True, augment=cfg)
    mean, std = IMAGENET_MEAN[:, None, None], IMAGENET_STD[:, None, None]
    checked, kinds = 0, set()
    for epoch in range(8):
        ds.set_epoch(epoch)
        for index in range(len(ds)):
            p = ds.crop_params(index, image_width=(160, 200)[index])
            kinds.add((p.flip, p.rotation != 0))
            s = ds[index]
            rgb = s["image"].numpy() * std + mean
            coords, _ = CODEC.decode(s["target"].numpy()[None])
            for j in np.flatnonzero(s["target_weight"].numpy()[:, 0]):
                hx, hy = coords[0, j]
                if not (1 <= hx <= 22 and 1 <= hy <= 30):  # peak clipped by the map's edge
                    continue
                x, y = np.round(coords[0, j] * CODEC.stride).astype(int)
                patch = rgb[:, y - 2:y + 3, x - 2:x + 3]
                assert patch.min(axis=0).max() > 0.7, (epoch, index, j)
                checked += 1
    assert checked > 100
    assert kinds == {(False, False), (False, True), (True, False), (True, True)}


def test_an_undecodable_image_is_a_data_error_naming_it(coco: Path) -> None:
    (coco.parent / "q.png").write_bytes(b"this is not an image")
    ds = TopDownDataset(load_instances(coco, coco.parent), CODEC, train=False)
    ds[0]
    with pytest.raises(DataError, match="q.png"):
        ds[1]


# ---- issue 15, item 7: a truncated JPEG is a DataError naming it, not a half-grey image
def test_truncated_jpeg_is_a_data_error_naming_the_file(tmp_path: Path) -> None:
    from pose.data.dataset import read_image

    rng = np.random.default_rng(0)
    whole = tmp_path / "whole.jpg"
    cv2.imwrite(str(whole), rng.integers(0, 255, (64, 48, 3), dtype=np.uint8))
    data = whole.read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[: len(data) // 2])
    assert cv2.imread(str(cut)) is not None  # libjpeg fills the rest in grey, with a warning
    with pytest.raises(DataError, match=r"cut.jpg: truncated JPEG"):
        read_image(cut)
    assert read_image(whole).shape == (64, 48, 3)
    padded = tmp_path / "padded.jpg"
    padded.write_bytes(data + b"\x00" * 8)  # padding after the end marker is harmless
    assert read_image(padded).shape == (64, 48, 3)


# ---- issue 15, item 8: detection files are checked where they are read
def _dets(path: Path, dets: object) -> Path:
    path.write_text(json.dumps(dets))
    return path


GOOD_DET = {"image_id": 7, "category_id": 1, "bbox": [30, 20, 80, 160], "score": 0.9}


@pytest.mark.parametrize(("bad", "message"), [
    ({"bbox": [30, 20]}, r"detection 1 \(.*\): bbox must be 4 finite numbers \[x, y, w, h\], "
                         r"got \[30, 20\]"),
    ({"bbox": ["30", "20", "80", "160"]}, r"detection 1 .*bbox must be 4 finite numbers"),
    ({"score": "high"}, r"detection 1 .*score must be a finite number, got 'high'"),
    ({"image_id": "7"}, r"detection 1 .*image_id must be an integer, got '7'"),
])
def test_detection_file_with_bad_values_is_a_data_error_naming_the_entry(
        coco: Path, tmp_path: Path, bad: dict, message: str) -> None:
    det = _dets(tmp_path / "det.json", [GOOD_DET, {**GOOD_DET, **bad}])
    with pytest.raises(DataError, match=r"det.json: " + message):
        load_instances(coco, coco.parent, det)


def test_detection_file_empty_or_without_persons_is_a_data_error(coco: Path, tmp_path: Path
                                                                 ) -> None:
    with pytest.raises(DataError, match=r"det.json: no detection at all \(an empty list\)"):
        load_instances(coco, coco.parent, _dets(tmp_path / "det.json", []))
    det = _dets(tmp_path / "det.json", [{**GOOD_DET, "category_id": 3}])
    with pytest.raises(DataError, match=r"det.json: no person detection to evaluate \(1 "
                                        r"detection\(s\), 0 of category 1"):
        load_instances(coco, coco.parent, det)


def test_detection_boxes_of_zero_or_negative_size_are_skipped_with_a_warning(
        coco: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    det = _dets(tmp_path / "det.json", [
        {**GOOD_DET, "bbox": [30, 20, 0, 160]}, GOOD_DET, {**GOOD_DET, "bbox": [30, 20, 80, -5]},
    ])
    with caplog.at_level("WARNING", logger="pose.data.coco"):
        inst = load_instances(coco, coco.parent, det)
    assert len(inst) == 1 and inst[0].scale.min() > 0
    assert ("det.json: 2 person detection(s) with zero or negative width or height skipped "
            "(first: detection 0, bbox [30, 20, 0, 160])") in caplog.text
    only_degenerate = _dets(tmp_path / "det.json", [{**GOOD_DET, "bbox": [30, 20, 0, 0]}])
    with pytest.raises(DataError, match="none with score >= 0.0 and a box of positive size"):
        load_instances(coco, coco.parent, only_degenerate)
