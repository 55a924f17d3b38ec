"""The Gaussian heatmap codec: round trip, the official target rules, the quarter offset."""

from __future__ import annotations

import numpy as np
import pytest

from pose.data.codec import HeatmapCodec


def reference_target(codec: HeatmapCodec, joints: np.ndarray, visible: np.ndarray) -> np.ndarray:
    """Joint-by-joint statement of the official rule for an integer 3σ radius: centre
    int(x/stride + 0.5), window [centre − 3σ, centre + 3σ] cut to the map, nothing when
    invisible or when the window misses the map."""
    w, h = codec.heatmap_size
    r = int(codec.sigma * 3)
    out = np.zeros((len(joints), h, w), dtype=np.float32)
    for j, (x, y) in enumerate(joints):
        mx, my = int(x / codec.stride[0] + 0.5), int(y / codec.stride[1] + 0.5)
        if visible[j] <= 0 or mx - r >= w or my - r >= h or mx + r + 1 < 0 or my + r + 1 < 0:
            continue
        for py in range(max(0, my - r), min(h, my + r + 1)):
            for px in range(max(0, mx - r), min(w, mx + r + 1)):
                d2 = np.float32((px - mx) ** 2 + (py - my) ** 2)
                out[j, py, px] = np.exp(-d2 / np.float32(2 * codec.sigma ** 2))
    return out


@pytest.mark.parametrize("sizes", [((192, 256), (48, 64), 2), ((288, 384), (72, 96), 3)])
def test_round_trip_error_within_half_a_heatmap_pixel(sizes) -> None:
    codec = HeatmapCodec(*sizes)
    rng = np.random.default_rng(0)
    # joints whose rounded centre int(x/stride + 0.5) lies on the map
    high = (np.array(codec.heatmap_size) - 0.5) * codec.stride - 1e-6
    joints = rng.uniform([0, 0], high, (200, 2))
    heatmaps = np.stack([codec.encode(joints[i:i + 17], np.ones(17))[0]
                         for i in range(0, 187, 17)])
    coords, maxvals = codec.decode(heatmaps)
    err = np.abs(coords.reshape(-1, 2) - joints[:187] / codec.stride)
    assert err.max() <= 0.5 + 1e-6
    np.testing.assert_allclose(maxvals, 1.0)


def test_encode_matches_the_official_rule_joint_by_joint() -> None:
    codec = HeatmapCodec((192, 256), (48, 64), 2)
    rng = np.random.default_rng(3)
    for _ in range(5):
        joints = rng.uniform(-40, 300, (17, 2))
        visible = (rng.random(17) > 0.2).astype(float)
        heatmaps, weight = codec.encode(joints, visible)
        np.testing.assert_array_equal(heatmaps, reference_target(codec, joints, visible))
        assert heatmaps.dtype == weight.dtype == np.float32
        assert weight.shape == (17, 1)
        np.testing.assert_array_equal(weight[:, 0] > 0, heatmaps.reshape(17, -1).max(1) > 0)


def test_target_weight_is_zero_for_invisible_and_far_outside_joints() -> None:
    codec = HeatmapCodec((192, 256), (48, 64), 2)
    joints = np.array([[50.0, 60.0], [50.0, 60.0], [-100.0, 60.0], [50.0, 400.0],
                       [-20.0, 60.0], [210.0, 60.0]])
    visible = np.array([1, 0, 1, 1, 1, 1])
    heatmaps, weight = codec.encode(joints, visible)
    # visible; invisible; far left; far below; partly outside on the left and on the right
    np.testing.assert_array_equal(weight[:, 0], [1, 0, 0, 0, 1, 1])
    assert not heatmaps[[1, 2, 3]].any()
    assert heatmaps[4].max() > 0 and heatmaps[4].max() < 1  # only the Gaussian's tail inside


def test_unnormalised_gaussian_peak_at_the_rounded_centre() -> None:
    codec = HeatmapCodec((192, 256), (48, 64), 2)
    heatmaps, _ = codec.encode(np.array([[41.9, 22.1]]), np.ones(1))
    assert heatmaps[0, 6, 10] == 1.0  # int(41.9/4 + .5) = 10, int(22.1/4 + .5) = 6
    assert heatmaps[0, 6, 11] == pytest.approx(np.exp(-1 / 8))
    assert heatmaps[0, 6, 16] > 0 and heatmaps[0, 6, 17] == 0  # radius 3σ = 6


def test_decode_quarter_offset_towards_the_higher_neighbour() -> None:
    codec = HeatmapCodec((32, 32), (8, 8), 1)
    hm = np.zeros((1, 2, 8, 8), dtype=np.float32)
    hm[0, 0, 4, 3] = 1.0
    hm[0, 0, 4, 4] = 0.5  # right neighbour higher
    hm[0, 0, 3, 3] = 0.3  # upper neighbour higher
    hm[0, 1, 1, 3] = 1.0  # peak on the border row y = 1: no offset (official 1 < y)
    hm[0, 1, 1, 4] = 0.5
    coords, maxvals = codec.decode(hm)
    np.testing.assert_allclose(coords[0, 0], [3.25, 3.75])
    np.testing.assert_allclose(coords[0, 1], [3, 1])
    np.testing.assert_allclose(maxvals[0, :, 0], [1, 1])


def test_decode_places_non_positive_maps_at_the_origin() -> None:
    codec = HeatmapCodec((32, 32), (8, 8), 1)
    hm = -np.ones((2, 3, 8, 8), dtype=np.float32)
    hm[:, :, 5, 5] = -0.5
    coords, maxvals = codec.decode(hm)
    assert coords.shape == (2, 3, 2) and maxvals.shape == (2, 3, 1)
    assert not coords.any()
    np.testing.assert_allclose(maxvals, -0.5)


def test_decode_rejects_a_wrong_rank() -> None:
    with pytest.raises(ValueError, match="N, J, h, w"):
        HeatmapCodec((32, 32), (8, 8), 1).decode(np.zeros((3, 8, 8)))


def test_decode_second_max_offset_points_at_the_second_highest_pixel() -> None:
    codec = HeatmapCodec((48, 64), (12, 16), 2.0)
    hm = np.zeros((1, 2, 16, 12), dtype=np.float32)
    hm[0, 0, 5, 5], hm[0, 0, 6, 6] = 1.0, 0.5  # diagonal second max
    hm[0, 1, 8, 4], hm[0, 1, 8, 3] = 1.0, 0.7  # second max to the left
    hm[0, 1, 2, 10] = 0.6                      # far but lower than the neighbour: ignored
    coords, maxvals = codec.decode(hm, offset="second_max")
    d = 0.25 / np.sqrt(2)
    np.testing.assert_allclose(coords[0, 0], [5 + d, 5 + d], atol=1e-6)
    np.testing.assert_allclose(coords[0, 1], [4 - 0.25, 8], atol=1e-6)
    np.testing.assert_allclose(maxvals[0, :, 0], [1.0, 1.0])


def test_decode_rejects_an_unknown_offset_rule() -> None:
    codec = HeatmapCodec((48, 64), (12, 16), 2.0)
    with pytest.raises(ValueError, match="second_max"):
        codec.decode(np.zeros((1, 1, 16, 12), dtype=np.float32), offset="nearest")


def test_blur_keeps_a_symmetric_peak_and_spreads_a_spike() -> None:
    from pose.evaluate.inference import blur_heatmaps

    hm = np.zeros((1, 1, 16, 12), dtype=np.float32)
    hm[0, 0, 7, 5] = 1.0
    blurred = blur_heatmaps(hm, 5)
    assert blurred.shape == hm.shape
    assert np.unravel_index(blurred[0, 0].argmax(), (16, 12)) == (7, 5)
    assert blurred[0, 0, 7, 5] < 1.0 and blurred[0, 0, 7, 6] > 0  # spread to the neighbours
    np.testing.assert_allclose(blurred.sum(), 1.0, rtol=1e-5)  # mass kept away from the border


def test_blur_kernel_must_be_odd() -> None:
    from pose.config import TestSpec
    from pose.errors import ConfigError

    assert TestSpec(blur_kernel=5).blur_kernel == 5
    with pytest.raises(ConfigError, match="blur_kernel"):
        TestSpec(blur_kernel=4)
