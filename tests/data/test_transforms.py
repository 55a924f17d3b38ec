"""Crop geometry and augmentation units of the official protocol."""

from __future__ import annotations

import numpy as np
import pytest

from pose.data.keypoints import FLIP_PAIRS, UPPER_BODY_IDS
from pose.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    affine_points,
    box_to_center_scale,
    clean_box,
    crop_image,
    flip_joints,
    get_affine_transform,
    half_body_center_scale,
    normalize_image,
    random_rotation,
    random_scale,
)


def test_center_scale_of_a_tall_box_grows_its_width() -> None:
    center, scale = box_to_center_scale([10, 20, 30, 80], aspect_ratio=0.75)
    np.testing.assert_allclose(center, [25, 60])
    # w 30 < 0.75·80 → w = 60; scale = (60, 80) / 200 · 1.25
    np.testing.assert_allclose(scale, [0.375, 0.5])
    assert center.dtype == scale.dtype == np.float32


def test_center_scale_of_a_wide_box_grows_its_height() -> None:
    center, scale = box_to_center_scale([0, 0, 150, 100], aspect_ratio=0.75)
    np.testing.assert_allclose(center, [75, 50])
    np.testing.assert_allclose(scale, [150 / 200 * 1.25, 200 / 200 * 1.25])


def test_clean_box_clips_to_the_image_like_the_official_code() -> None:
    np.testing.assert_allclose(clean_box([-5, 10, 50, 300], 100, 200), [0, 10, 49, 189])
    assert clean_box([120, 10, 5, 5], 100, 200) is None


@pytest.mark.parametrize("rotation", [0.0, 30.0, -75.0])
def test_affine_maps_center_to_output_centre_and_inverts(rotation: float) -> None:
    center, scale, size = np.array([130.0, 70.0]), np.array([0.6, 0.8]), (192, 256)
    trans = get_affine_transform(center, scale, rotation, size)
    np.testing.assert_allclose(affine_points(center, trans), [96, 128], atol=1e-3)
    inv = get_affine_transform(center, scale, rotation, size, inv=True)
    pts = np.random.default_rng(0).uniform(0, 300, (20, 2))
    np.testing.assert_allclose(affine_points(affine_points(pts, trans), inv), pts, atol=1e-3)


def test_affine_zoom_follows_scale_width() -> None:
    # box width 0.6·200 = 120 px onto 192 px: a point 10 px right of the centre lands 16 px right
    trans = get_affine_transform(np.array([100.0, 100.0]), np.array([0.6, 0.8]), 0, (192, 256))
    np.testing.assert_allclose(affine_points(np.array([110.0, 100.0]), trans), [112, 128],
                               atol=1e-3)


def test_affine_points_batches_over_matrices() -> None:
    trans = np.stack([get_affine_transform(np.array([50.0, 60.0]), np.array([0.5, 0.6]), r,
                                           (48, 64)) for r in (0, 90)])
    pts = np.ones((2, 17, 2))
    out = affine_points(pts, trans)
    assert out.shape == (2, 17, 2)
    np.testing.assert_allclose(out[1, 0], affine_points(pts[1, 0], trans[1]))


def test_crop_puts_the_box_centre_at_the_output_centre() -> None:
    image = np.zeros((120, 160, 3), dtype=np.uint8)
    image[59:62, 89:92] = 255  # a 3x3 dot around (90, 60)
    out = crop_image(image, np.array([90.0, 60.0]), np.array([0.3, 0.4]), 0, (48, 64))
    assert out.shape == (64, 48, 3)
    y, x = np.unravel_index(out[..., 0].argmax(), out.shape[:2])
    assert abs(x - 24) <= 1 and abs(y - 32) <= 1


def test_flip_joints_twice_is_identity_for_visible_joints() -> None:
    rng = np.random.default_rng(1)
    joints = rng.uniform(0, 100, (17, 2))
    vis = (rng.random(17) > 0.3).astype(float)
    once, vis1 = flip_joints(joints, vis, 100, FLIP_PAIRS)
    twice, vis2 = flip_joints(once, vis1, 100, FLIP_PAIRS)
    np.testing.assert_array_equal(vis2, vis)
    np.testing.assert_allclose(twice[vis > 0], joints[vis > 0])
    assert not twice[vis == 0].any()  # the official fliplr_joints zeroes invisible joints


def test_flip_joints_mirrors_x_and_swaps_pairs() -> None:
    joints = np.zeros((17, 2))
    joints[5] = [10, 20]  # left shoulder
    vis = np.zeros(17)
    vis[5] = 1
    out, out_vis = flip_joints(joints, vis, 100, FLIP_PAIRS)
    np.testing.assert_allclose(out[6], [100 - 10 - 1, 20])  # now the right shoulder
    assert out_vis[6] == 1 and out_vis[5] == 0


def _seed_with_first_normal(below: bool) -> int:
    for seed in range(100):
        if (np.random.default_rng(seed).standard_normal() < 0.5) == below:
            return seed
    raise AssertionError("no seed found")


@pytest.mark.parametrize("upper", [True, False])
def test_half_body_picks_the_half_the_draw_selects(upper: bool) -> None:
    rng = np.random.default_rng(5)
    joints = rng.uniform(20, 180, (17, 2))
    vis = np.ones(17)
    vis[[0, 12]] = 0
    seed = _seed_with_first_normal(below=upper)
    center, scale = half_body_center_scale(joints, vis, np.random.default_rng(seed), 0.75,
                                           UPPER_BODY_IDS)
    ids = [i for i in (range(11) if upper else range(11, 17)) if vis[i] > 0]
    chosen = joints[ids]
    np.testing.assert_allclose(center, chosen.mean(axis=0), rtol=1e-5)
    w, h = chosen.max(axis=0) - chosen.min(axis=0)
    w, h = (w, w / 0.75) if w > 0.75 * h else (h * 0.75, h)
    np.testing.assert_allclose(scale, np.array([w, h]) / 200 * 1.5, rtol=1e-5)


def test_half_body_falls_back_to_upper_and_gives_up_below_two_joints() -> None:
    joints = np.random.default_rng(0).uniform(0, 100, (17, 2))
    vis = np.zeros(17)
    vis[[0, 1, 2, 3, 11]] = 1  # lower body has too few joints: upper is used whatever the draw
    seed = _seed_with_first_normal(below=False)
    center, _ = half_body_center_scale(joints, vis, np.random.default_rng(seed), 0.75,
                                       UPPER_BODY_IDS)
    np.testing.assert_allclose(center, joints[[0, 1, 2, 3]].mean(axis=0), rtol=1e-5)
    vis[:] = 0
    vis[[0, 11]] = 1
    assert half_body_center_scale(joints, vis, np.random.default_rng(0), 0.75,
                                  UPPER_BODY_IDS) is None


def test_random_scale_and_rotation_follow_their_draws() -> None:
    for seed in range(50):
        s = random_scale(np.random.default_rng(seed), 0.35)
        assert 0.65 <= s <= 1.35
        replay = np.random.default_rng(seed)
        assert s == pytest.approx(np.clip(replay.standard_normal() * 0.35 + 1, 0.65, 1.35))
        r = random_rotation(np.random.default_rng(seed), 45, 0.6)
        replay = np.random.default_rng(seed)
        if replay.random() <= 0.6:
            assert r == pytest.approx(np.clip(replay.standard_normal() * 45, -90, 90))
        else:
            assert r == 0.0


def test_default_laws_are_the_official_clipped_normal_draw_for_draw() -> None:
    """The default law replays the official code's draws, and consumes the generator exactly
    as it does (so every recipe that does not name a law trains on the same samples)."""
    for seed in range(50):
        rng, explicit = np.random.default_rng(seed), np.random.default_rng(seed)
        assert random_scale(rng, 0.35) == random_scale(explicit, 0.35, "normal")
        assert random_rotation(rng, 45, 0.6) == random_rotation(explicit, 45, 0.6, "normal")
        assert rng.random() == explicit.random()
        replay, rng = np.random.default_rng(seed), np.random.default_rng(seed)
        s, r = random_scale(rng, 0.35), random_rotation(rng, 45, 0.6)
        assert s == float(np.clip(replay.standard_normal() * 0.35 + 1, 0.65, 1.35))
        expected = (float(np.clip(replay.standard_normal() * 45, -90, 90))
                    if replay.random() <= 0.6 else 0.0)
        assert r == expected


def test_uniform_laws_stay_within_their_bounds_and_cover_them() -> None:
    rng = np.random.default_rng(0)
    scales = np.array([random_scale(rng, 0.35, "uniform", (0.7, 1.35)) for _ in range(20000)])
    assert scales.min() >= 0.7 and scales.max() <= 1.35
    assert scales.min() < 0.71 and scales.max() > 1.34  # both ends reached
    assert not np.isin(scales, [0.7, 1.35]).any()  # nothing piles up on a bound
    counts, _ = np.histogram(scales, bins=13, range=(0.7, 1.35))
    assert counts.min() > 0.85 * counts.mean()  # flat, unlike the clipped normal
    angles = np.array([random_rotation(rng, 45, 1.0, "uniform") for _ in range(20000)])
    assert np.abs(angles).max() <= 45 and angles.min() < -44 and angles.max() > 44
    # without bounds the uniform scale spans 1 +- factor
    default = [random_scale(rng, 0.25, "uniform") for _ in range(2000)]
    assert 0.75 <= min(default) < 0.76 and 1.24 < max(default) <= 1.25
    normal = np.array([random_rotation(rng, 45, 1.0) for _ in range(20000)])
    assert 0.28 < (np.abs(normal) > 45).mean() < 0.36  # what the normal law does instead
    with pytest.raises(ValueError, match="law"):
        random_rotation(rng, 45, 1.0, "gaussian")


def test_normalize_image_is_chw_float32_in_imagenet_units() -> None:
    image = np.full((4, 6, 3), 255, dtype=np.uint8)
    image[..., 0] = 0
    out = normalize_image(image)
    assert out.shape == (3, 4, 6) and out.dtype == np.float32
    np.testing.assert_allclose(out[0], -IMAGENET_MEAN[0] / IMAGENET_STD[0], rtol=1e-6)
    np.testing.assert_allclose(out[2], (1 - IMAGENET_MEAN[2]) / IMAGENET_STD[2], rtol=1e-6)
