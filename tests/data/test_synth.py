"""The synthetic COCO-keypoints generator: format, determinism, atomicity and the left/right cue."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
from pycocotools.coco import COCO

from pose.data import synth
from pose.data.synth import SynthConfig, render_sample, render_scene, write_synthetic_dataset
from pose.errors import ConfigError
from pose.spec import from_dict

COCO_SKELETON = [[16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12], [7, 13], [6, 7],
                 [6, 8], [7, 9], [8, 10], [9, 11], [2, 3], [1, 2], [1, 3], [2, 4], [3, 5], [4, 6],
                 [5, 7]]
COCO_NAMES = ["nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
              "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
              "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle"]
TINY = SynthConfig(seed=3, num_train=6, num_val=4)


def _coco(path: Path) -> COCO:
    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(str(path))


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("synth") / "ds"
    write_synthetic_dataset(root, TINY, progress=False)
    return root


def _iou(a: list[float], b: list[float]) -> float:
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    union = a[2] * a[3] + b[2] * b[3] - ix * iy
    return ix * iy / union if union > 0 else 0.0


def test_layout(tiny: Path) -> None:
    files = set(_files(tiny))
    expected = {"annotations/person_keypoints_train.json", "annotations/person_keypoints_val.json",
                "detections/person_detections_val.json"}
    assert expected <= files
    images = files - expected
    assert len([f for f in images if f.startswith("images/train/")]) == 6
    assert len([f for f in images if f.startswith("images/val/")]) == 4
    assert all(Path(f).suffix == ".jpg" and len(Path(f).stem) == 12 for f in images)
    assert not [p for p in tiny.parent.iterdir() if p.name != "ds"]  # no temp leftovers


def test_pycocotools_loads_everything(tiny: Path) -> None:
    for split in synth.SPLITS:
        coco = _coco(tiny / "annotations" / f"person_keypoints_{split}.json")
        assert len(coco.getImgIds()) == (6 if split == "train" else 4)
        assert coco.getAnnIds()
    with contextlib.redirect_stdout(io.StringIO()):
        res = coco.loadRes(str(tiny / "detections" / "person_detections_val.json"))
    assert res.getAnnIds()


def test_categories_are_coco_person(tiny: Path) -> None:
    data = json.loads((tiny / "annotations" / "person_keypoints_val.json").read_text())
    assert set(data) == {"info", "licenses", "images", "annotations", "categories"}
    (cat,) = data["categories"]
    assert (cat["id"], cat["name"]) == (1, "person")
    assert cat["keypoints"] == COCO_NAMES
    assert cat["skeleton"] == COCO_SKELETON


def test_image_files_match_records(tiny: Path) -> None:
    import cv2

    for split in synth.SPLITS:
        data = json.loads((tiny / "annotations" / f"person_keypoints_{split}.json").read_text())
        for img in data["images"]:
            assert set(img) == {"id", "file_name", "width", "height"}
            assert img["file_name"] == f"{img['id']:012d}.jpg"
            pixels = cv2.imread(str(tiny / "images" / split / img["file_name"]))
            assert pixels.shape == (img["height"], img["width"], 3)
            assert 224 <= img["width"] <= 320 and 224 <= img["height"] <= 320


def test_ids_unique_across_splits(tiny: Path) -> None:
    image_ids, ann_ids = [], []
    for split in synth.SPLITS:
        data = json.loads((tiny / "annotations" / f"person_keypoints_{split}.json").read_text())
        image_ids += [i["id"] for i in data["images"]]
        ann_ids += [a["id"] for a in data["annotations"]]
    assert len(set(image_ids)) == len(image_ids)
    assert len(set(ann_ids)) == len(ann_ids)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # pycocotools' mask decoding on numpy 2
def test_annotation_format(tiny: Path) -> None:
    for split in synth.SPLITS:
        coco = _coco(tiny / "annotations" / f"person_keypoints_{split}.json")
        for ann in coco.loadAnns(coco.getAnnIds()):
            img = coco.imgs[ann["image_id"]]
            w, h = img["width"], img["height"]
            assert ann["category_id"] == 1 and ann["iscrowd"] == 0
            assert len(ann["keypoints"]) == 51
            kps = np.array(ann["keypoints"], dtype=float).reshape(17, 3)
            v = kps[:, 2]
            assert set(v) <= {0, 1, 2}
            assert ann["num_keypoints"] == int((v > 0).sum()) > 0
            assert np.all(kps[v == 0, :2] == 0)
            labelled = kps[v > 0]
            assert np.all((labelled[:, 0] >= 0) & (labelled[:, 0] <= w - 1))
            assert np.all((labelled[:, 1] >= 0) & (labelled[:, 1] <= h - 1))
            x, y, bw, bh = ann["bbox"]
            assert x >= 0 and y >= 0 and bw > 0 and bh > 0 and x + bw <= w and y + bh <= h
            seen = kps[v == 2]
            assert np.all((seen[:, 0] >= x - 2) & (seen[:, 0] <= x + bw + 2))
            assert np.all((seen[:, 1] >= y - 2) & (seen[:, 1] <= y + bh + 2))
            assert ann["area"] >= TINY.min_area and ann["area"] <= bw * bh
            assert all(len(p) >= 6 and len(p) % 2 == 0 for p in ann["segmentation"])
            mask = coco.annToMask(ann)
            ys, xs = np.nonzero(mask)
            assert xs.min() >= x - 1 and xs.max() <= x + bw and ys.min() >= y - 1
            assert ys.max() <= y + bh


def test_visibility_levels_all_occur() -> None:
    cfg = SynthConfig(seed=1, num_train=30, num_val=1)
    v = np.concatenate([np.array(a["keypoints"]).reshape(17, 3)[:, 2]
                        for i in range(30) for a in render_sample(cfg, "train", i).annotations])
    counts = {level: int((v == level).sum()) for level in (0, 1, 2)}
    assert counts[2] > counts[1] > 0
    assert counts[0] > 0


def test_deterministic(tiny: Path, tmp_path: Path) -> None:
    write_synthetic_dataset(tmp_path / "again", TINY, progress=False)
    assert _files(tmp_path / "again") == _files(tiny)


def test_seed_changes_everything(tiny: Path, tmp_path: Path) -> None:
    other = SynthConfig(seed=4, num_train=6, num_val=4)
    write_synthetic_dataset(tmp_path / "other", other, progress=False)
    a, b = _files(tiny), _files(tmp_path / "other")
    assert a.keys() == b.keys()
    assert all(a[k] != b[k] for k in a)


def test_val_independent_of_train_size() -> None:
    more_train = SynthConfig(seed=TINY.seed, num_train=50, num_val=TINY.num_val)
    assert render_sample(more_train, "val", 2) == render_sample(TINY, "val", 2)
    assert render_sample(TINY, "val", 0).jpeg != render_sample(TINY, "train", 0).jpeg


def test_detections(tiny: Path) -> None:
    coco = _coco(tiny / "annotations" / "person_keypoints_val.json")
    dets = json.loads((tiny / "detections" / "person_detections_val.json").read_text())
    assert dets and all(set(d) == {"image_id", "category_id", "bbox", "score"} for d in dets)
    false_positives = 0
    for d in dets:
        img = coco.imgs[d["image_id"]]
        x, y, w, h = d["bbox"]
        assert d["category_id"] == 1 and 0.05 <= d["score"] <= 1.0
        assert x >= 0 and y >= 0 and w > 0 and h > 0
        assert x + w <= img["width"] + 1e-6 and y + h <= img["height"] + 1e-6
        gts = [a["bbox"] for a in coco.imgToAnns[d["image_id"]]]
        best = max((_iou(d["bbox"], g) for g in gts), default=0.0)
        if best < 0.3:
            false_positives += 1
            assert d["score"] <= 0.5
        else:
            assert d["score"] >= 0.5
    assert false_positives > 0
    found = sum(1 for d in dets if d["score"] >= 0.5)
    assert found >= 0.7 * len(coco.getAnnIds())


def test_nothing_left_when_generation_fails(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    real, calls = synth.render_sample, []

    def failing(cfg: SynthConfig, split: str, index: int) -> synth.Sample:
        calls.append(index)
        if len(calls) == 5:
            raise RuntimeError("boom")
        return real(cfg, split, index)

    monkeypatch.setattr(synth, "render_sample", failing)
    with pytest.raises(RuntimeError, match="boom"):
        write_synthetic_dataset(tmp_path / "ds", TINY, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_failure_keeps_previous_dataset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "ds"
    write_synthetic_dataset(root, TINY, progress=False)
    before = _files(root)
    monkeypatch.setattr(synth, "_detections", lambda *a: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        write_synthetic_dataset(root, TINY, progress=False)
    assert _files(root) == before
    assert [p.name for p in tmp_path.iterdir()] == ["ds"]


def test_left_and_right_look_different() -> None:
    """Left limbs are warm and right limbs cool: red minus blue around visible wrists/ankles."""
    cfg = SynthConfig(seed=5)
    warmth: dict[str, list[float]] = {"left": [], "right": []}
    for index in range(25):
        scene = render_scene(cfg, "val", index)
        img = scene.image.astype(float)
        h, w = img.shape[:2]
        for person in scene.people:
            for side, joints in (("left", (9, 15)), ("right", (10, 16))):
                for j in joints:
                    x, y, v = person.keypoints[j]
                    if v == 2:
                        xi, yi = int(round(x)), int(round(y))
                        patch = img[max(0, yi - 1):min(h, yi + 2), max(0, xi - 1):min(w, xi + 2)]
                        warmth[side].append(float((patch[..., 2] - patch[..., 0]).mean()))
    assert min(len(warmth["left"]), len(warmth["right"])) > 20
    assert np.mean(warmth["left"]) > 40 > -40 > np.mean(warmth["right"])


def test_config_checks() -> None:
    with pytest.raises(ConfigError, match="max_people"):
        SynthConfig(max_people=0)
    with pytest.raises(ConfigError, match="image_width"):
        SynthConfig(image_width=(300, 200))
    cfg = from_dict(SynthConfig, {"num_train": 5, "image_height": [100, 120]}, "params: synth")
    assert cfg.image_height == (100, 120)
    with pytest.raises(ConfigError, match="unknown"):
        from_dict(SynthConfig, {"num_trian": 5}, "params: synth")
