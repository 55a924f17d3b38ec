"""Classification data (DANet Table X): the ImageFolder layout, the ImageNet-style crops, the
synthetic stand-in, and the hand-placed folder's layout check."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pose.data.classification import (
    ImageFolderDataset,
    SynthClassesConfig,
    center_crop,
    list_samples,
    write_synthetic_classes,
)
from pose.errors import DataError
from pose.fetch.layout import check_layout

CFG = SynthClassesConfig(seed=3, per_class_train=2, per_class_val=1, size=24)


@pytest.fixture()
def classes(tmp_path: Path) -> Path:
    write_synthetic_classes(tmp_path / "train", tmp_path / "val", 3, CFG)
    return tmp_path


def test_synthetic_classes_are_reproducible(classes: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    assert write_synthetic_classes(again / "train", again / "val", 3, CFG) == 3 * (2 + 1)
    for path in sorted((classes / "train").rglob("*.png")):
        assert path.read_bytes() == (again / path.relative_to(classes)).read_bytes()


def test_labels_follow_sorted_class_folders_and_val_must_match(classes: Path) -> None:
    samples, names = list_samples(classes / "train")
    assert names == ["class_000", "class_001", "class_002"]
    assert [label for _, label in samples] == [0, 0, 1, 1, 2, 2]
    (classes / "val" / "class_002").rename(classes / "val" / "class_009")
    with pytest.raises(DataError, match="differ from the training split"):
        list_samples(classes / "val", names)


def test_training_crops_depend_on_seed_epoch_and_index_only(classes: Path) -> None:
    samples, _ = list_samples(classes / "train")
    data = ImageFolderDataset(samples, (16, 12), train=True, seed=1)
    first = data[(0, 3)]
    assert first["image"].shape == (3, 16, 12) and int(first["target"]) == 1
    assert np.array_equal(data[(0, 3)]["image"], first["image"])
    assert any(not np.array_equal(data[(e, 3)]["image"], first["image"]) for e in range(1, 6))


def test_single_crop_view_is_the_centre_of_the_resized_image() -> None:
    image = np.zeros((40, 80, 3), dtype=np.uint8)
    image[:, 38:42] = 255  # a bar in the middle survives the central crop
    crop = center_crop(image, (28, 28))  # shorter side to 32, then the central 28 x 28
    assert crop.shape == (28, 28, 3) and crop[:, 13:15].min() > 200


def test_image_folders_layout_check(classes: Path) -> None:
    want = {"train": {"classes": 3, "images": 6}, "val": {"classes": 3, "images": 3}}
    assert check_layout(classes, {"image_folders": want})["image_folders"] == want
    with pytest.raises(DataError, match=r"val: 3 images, expected 50000"):
        check_layout(classes, {"image_folders": {**want, "val": {"classes": 3, "images": 50000}}})
    for image in list((classes / "val").rglob("*.png")):  # val flat, as its archive unpacks
        image.rename(classes / "val" / f"{image.parent.name}_{image.name}")
        image.parent.rmdir()
    with pytest.raises(DataError, match="0 classes"):
        check_layout(classes, {"image_folders": want})
