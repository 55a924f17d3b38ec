"""The augmentation's sampling laws as recipe keys: checked when the registry loads, recorded in a
recipe's hash only where a recipe names them, and DANet's recipe draws within its stated ranges."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from pose.config import Registry, load_registry
from pose.data.dataset import augment_crop
from pose.errors import ConfigError
from pose.spec import to_dict

ROOT = Path(__file__).resolve().parents[2]
LAW_KEYS = {"scale_law", "scale_range", "rotation_law"}


def _registry() -> Registry:
    return load_registry(ROOT / "params", check_pipeline=False)


@pytest.fixture()
def params(tmp_path: Path) -> Path:
    dst = tmp_path / "params"
    shutil.copytree(ROOT / "params", dst)
    return dst


def _set_augment(params: Path, recipe: str, **keys: object) -> None:
    path = params / "recipes.yaml"
    data = yaml.safe_load(path.read_text())
    data[recipe]["augment"].update(keys)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


@pytest.mark.parametrize(("keys", "message"), [
    ({"rotation_law": "gaussian"}, r"recipes.yaml: hrnet.*rotation_law.*'normal', 'uniform'"),
    ({"scale_law": "beta"}, r"recipes.yaml: hrnet.*scale_law"),
    ({"scale_range": [0.7, 1.35]}, r"recipes.yaml: hrnet.*scale_range.*uniform law only"),
    ({"scale_law": "uniform", "scale_range": [1.3, 0.7]}, r"hrnet.*scale_range.*0 < low < high"),
    ({"scale_law": "uniform", "scale_range": [0.7]}, r"hrnet.*augment.scale_range"),
])
def test_bad_sampling_law_keys_name_recipe_and_field(params: Path, keys: dict,
                                                     message: str) -> None:
    _set_augment(params, "hrnet", **keys)
    with pytest.raises(ConfigError, match=message):
        load_registry(params)


def test_laws_enter_a_recipe_record_only_where_a_recipe_sets_them() -> None:
    reg = _registry()
    hrnet = to_dict(reg.resolve("hrnet_w32_256x192", "full").recipe)["augment"]
    assert not LAW_KEYS & set(hrnet)  # unchanged records and hashes for the HRNet-code law
    danet = to_dict(reg.resolve("danet_102_256x192", "full").recipe)["augment"]
    assert danet["scale_law"] == danet["rotation_law"] == "uniform"
    assert danet["scale_range"] == [0.7, 1.35]


def test_danet_recipe_draws_within_its_stated_ranges() -> None:
    """'The rotation range is [-45, +45], and the scaling range is [0.7, 1.35]'."""
    cfg = _registry().resolve("danet_102_256x192", "full").recipe.augment
    joints = np.tile([[50.0, 80.0]], (17, 1)) + np.arange(17)[:, None]
    visible = np.zeros(17)
    visible[:3] = 1  # 3 visible joints: no half-body crop, only the scale and the rotation
    base = np.array([1.0, 1.0], dtype=np.float32)
    draws = [augment_crop(joints, visible, np.array([60.0, 90.0]), base, 200, cfg,
                          np.random.default_rng(seed), 0.75) for seed in range(3000)]
    rotations = np.array([d.rotation for d in draws])
    scales = np.array([d.scale[0] for d in draws])
    assert np.abs(rotations).max() <= 45 and np.abs(rotations).max() > 44
    assert 0.4 < (rotations != 0).mean() < 0.6  # rotated with probability 0.5
    assert scales.min() >= 0.7 - 1e-6 and scales.max() <= 1.35 + 1e-6
    assert scales.min() < 0.72 and scales.max() > 1.33
    hrnet = _registry().resolve("hrnet_w32_256x192", "full").recipe.augment
    wide = [augment_crop(joints, visible, np.array([60.0, 90.0]), base, 200, hrnet,
                         np.random.default_rng(seed), 0.75).rotation for seed in range(3000)]
    assert np.abs(wide).max() > 45  # the HRNet-code law goes beyond the stated range


def test_danet_half_body_starts_above_three_visible_joints() -> None:
    """MSPN's threshold (more than 3 visible joints) against HRNet's (more than 8): with 5
    visible upper-body joints only DANet's recipe crops the half body, about 30% of the time."""
    reg = _registry()
    joints = np.stack([np.arange(17) * 3.0 + 40, np.arange(17) * 7.0 + 10], axis=1)
    visible = np.zeros(17)
    visible[:5] = 1
    box_center = np.array([90.0, 150.0])
    for experiment, low, high in (("danet_102_256x192", 0.25, 0.35),
                                  ("hrnet_w32_256x192", 0.0, 0.0)):
        cfg = reg.resolve(experiment, "full").recipe.augment
        moved = [augment_crop(joints, visible, box_center, np.array([1.0, 1.0]), 400, cfg,
                              np.random.default_rng(seed), 0.75).center[1] != box_center[1]
                 for seed in range(2000)]
        assert low <= np.mean(moved) <= high, experiment
