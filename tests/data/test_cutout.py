"""Cutout (DeVries & Taylor 2017) on training inputs: where it cuts, what it leaves alone."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from pose.config import load_registry
from pose.data.codec import HeatmapCodec
from pose.data.coco import load_instances
from pose.data.dataset import AugmentConfig, TopDownDataset
from pose.data.transforms import cutout_mask
from pose.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
CODEC = HeatmapCodec((64, 96), (16, 24), 2.0)  # input W=64, H=96
SIDE = 16  # cutout_size 0.25 of the 64 px input width
CUTOUT = AugmentConfig(cutout_prob=1.0, cutout_size=SIDE / 64)


def _dataset(root: Path, augment: AugmentConfig | None, train: bool = True, seed: int = 5
             ) -> TopDownDataset:
    split = "train" if train else "val"
    instances = load_instances(root / f"annotations/person_keypoints_{split}.json",
                               root / f"images/{split}")
    return TopDownDataset(instances, CODEC, train=train, augment=augment, seed=seed)


def _hole(image: torch.Tensor) -> tuple[int, int, int, int] | None:
    """(top, left, height, width) of the pixels zero in every channel, which must be one filled
    rectangle; None when there are none."""
    zero = (image == 0).all(dim=0).numpy()
    if not zero.any():
        return None
    rows, cols = np.flatnonzero(zero.any(axis=1)), np.flatnonzero(zero.any(axis=0))
    top, left = rows[0], cols[0]
    height, width = rows[-1] - top + 1, cols[-1] - left + 1
    assert zero.sum() == height * width, "the zeroed pixels are not one filled rectangle"
    return int(top), int(left), int(height), int(width)


def test_cutout_zeroes_one_square_of_the_input_and_leaves_the_targets(tiny_dataset: Path
                                                                       ) -> None:
    plain, cut = _dataset(tiny_dataset, AugmentConfig()), _dataset(tiny_dataset, CUTOUT)
    full, clipped = 0, 0
    for epoch in range(3):
        plain.set_epoch(epoch)
        cut.set_epoch(epoch)
        for index in range(len(plain)):
            a, b = plain[index], cut[index]
            assert torch.equal(a["target"], b["target"])
            assert torch.equal(a["target_weight"], b["target_weight"])
            assert a["meta"]["rotation"] == b["meta"]["rotation"]
            np.testing.assert_array_equal(a["meta"]["center"], b["meta"]["center"])
            assert _hole(a["image"]) is None
            hole = _hole(b["image"])
            assert hole is not None
            top, left, height, width = hole
            outside = torch.ones(96, 64, dtype=torch.bool)
            outside[top:top + height, left:left + width] = False
            assert torch.equal(a["image"][:, outside], b["image"][:, outside])
            at_border = top == 0 or left == 0 or top + height == 96 or left + width == 64
            if (height, width) == (SIDE, SIDE):
                full += 1
            else:  # only the image border may make the hole smaller, by at most half a side
                assert at_border and SIDE // 2 <= min(height, width) < SIDE >= max(height, width)
                clipped += 1
    assert full and clipped  # both cases were exercised


def test_cutout_prob_zero_leaves_images_as_without_cutout(tiny_dataset: Path) -> None:
    plain = _dataset(tiny_dataset, AugmentConfig())
    off = _dataset(tiny_dataset, AugmentConfig(cutout_prob=0.0, cutout_size=0.5, cutout_holes=3))
    for index in range(len(plain)):
        assert torch.equal(plain[index]["image"], off[index]["image"])


def test_cutout_prob_cuts_about_that_share_of_samples(tiny_dataset: Path) -> None:
    ds = _dataset(tiny_dataset, AugmentConfig(cutout_prob=0.5, cutout_size=0.25))
    cut, total = 0, 0
    for epoch in range(10):
        ds.set_epoch(epoch)
        cut += sum(_hole(ds[i]["image"]) is not None for i in range(len(ds)))
        total += len(ds)
    assert total >= 80
    assert abs(cut / total - 0.5) < 3.5 * 0.5 / total ** 0.5  # within 3.5 binomial sd


def test_same_seed_epoch_and_index_give_the_same_hole(tiny_dataset: Path) -> None:
    a, b = _dataset(tiny_dataset, CUTOUT), _dataset(tiny_dataset, CUTOUT)
    holes_by_epoch = []
    for epoch in (0, 1, 2, 3):  # b jumps straight to each epoch, as a resumed run does
        a.set_epoch(epoch)
        b.set_epoch(3 - epoch)
        b.set_epoch(epoch)
        holes = [_hole(a[i]["image"]) for i in range(len(a))]
        assert holes == [_hole(b[i]["image"]) for i in range(len(b))]
        holes_by_epoch.append(holes)
    assert len({tuple(h) for h in holes_by_epoch}) > 1  # epochs differ
    other_seed = _dataset(tiny_dataset, CUTOUT, seed=6)
    assert [_hole(other_seed[i]["image"]) for i in range(len(a))] != holes_by_epoch[-1]


def test_evaluation_samples_are_never_cut(tiny_dataset: Path) -> None:
    plain = _dataset(tiny_dataset, None, train=False)
    cut = _dataset(tiny_dataset, AugmentConfig(cutout_prob=1.0, cutout_size=1.0), train=False)
    for index in range(len(plain)):
        image = cut[index]["image"]
        assert torch.equal(plain[index]["image"], image)
        assert _hole(image) is None


def test_cutout_mask_sizes_and_holes() -> None:
    rng = np.random.default_rng(0)
    assert cutout_mask(12, 10, 0, 2, rng).all()  # a 0 px side cuts nothing
    assert not cutout_mask(12, 10, 24, 1, rng).any()  # twice the image hides it wherever it sits
    mask = cutout_mask(200, 300, 10, 3, np.random.default_rng(1))
    assert mask.dtype == np.float32 and set(np.unique(mask)) <= {0.0, 1.0}
    assert 0 < (mask == 0).sum() <= 3 * 10 * 10
    replay = np.random.default_rng(1)
    for _ in range(3):  # each hole is centred on its own uniform draw (row, then column)
        cy, cx = int(replay.integers(200)), int(replay.integers(300))
        assert not mask[max(cy - 5, 0):cy + 5, max(cx - 5, 0):cx + 5].any()


def test_ram_gpr_recipe_uses_cutout_and_others_do_not() -> None:
    reg = load_registry(ROOT / "params")
    aug = reg.recipes["ram_gpr"].augment
    assert (aug.cutout_prob, aug.cutout_size, aug.cutout_holes) == (1.0, 0.5, 1)
    assert any("cutout" in text for text in reg.recipes["ram_gpr"].assumptions)
    assert all(r.augment.cutout_prob == 0.0 for k, r in reg.recipes.items() if k != "ram_gpr")


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("cutout_prob", 1.5, r"ram_gpr\.augment: cutout_prob: must be in \[0, 1\], got 1\.5"),
        ("cutout_prob", -0.1, r"ram_gpr\.augment: cutout_prob: must be in \[0, 1\]"),
        ("cutout_size", 2.0, r"ram_gpr\.augment: cutout_size: must be in \[0, 1\], got 2\.0"),
        ("cutout_holes", 0, r"ram_gpr\.augment: cutout_holes: must be >= 1, got 0"),
        ("cutout_holes", 1.5, r"ram_gpr\.augment\.cutout_holes: expected int"),
    ],
)
def test_bad_cutout_values_in_a_recipe_are_config_errors(tmp_path: Path, key: str,
                                                         value: float, message: str) -> None:
    params = tmp_path / "params"
    shutil.copytree(ROOT / "params", params)
    recipes = yaml.safe_load((params / "recipes.yaml").read_text())
    recipes["ram_gpr"]["augment"][key] = value
    (params / "recipes.yaml").write_text(yaml.safe_dump(recipes, sort_keys=False))
    with pytest.raises(ConfigError, match=message):
        load_registry(params)
