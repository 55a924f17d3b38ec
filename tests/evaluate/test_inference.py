"""The flip test as the official code defines it, and heatmap → image coordinates."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from pose.data.codec import HeatmapCodec
from pose.data.keypoints import FLIP_PAIRS
from pose.data.transforms import get_affine_transform
from pose.evaluate.inference import final_preds, flip_back, model_heatmaps, shift_right


class MirrorSymmetricNet(nn.Module):
    """Horizontally equivariant by construction: every joint's map is the 4x4-pooled channel
    mean of the input, so mirroring the input mirrors the output and left/right are alike."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.avg_pool2d(x.mean(1, keepdim=True), 4).repeat(1, 17, 1, 1)


def official_flip_average(out: np.ndarray, out_of_flipped: np.ndarray) -> np.ndarray:
    """The official validate(): flip the width axis back, swap each pair, shift right by one."""
    f = out_of_flipped[:, :, :, ::-1].copy()
    for a, b in FLIP_PAIRS:
        f[:, [a, b]] = f[:, [b, a]]
    f[:, :, :, 1:] = f.copy()[:, :, :, :-1]
    return (out + f) * 0.5


def test_flip_test_of_an_equivariant_model_is_the_map_averaged_with_its_shift() -> None:
    x = torch.randn(2, 3, 32, 24)
    model = MirrorSymmetricNet()
    h = model(x).numpy()
    got = model_heatmaps(model, x, flip_test=True).numpy()
    shifted = shift_right(torch.from_numpy(h)).numpy()
    np.testing.assert_allclose(got, 0.5 * (h + shifted), atol=1e-6)
    np.testing.assert_allclose(got[..., 1:], 0.5 * (h[..., 1:] + h[..., :-1]), atol=1e-6)
    no_shift = model_heatmaps(model, x, flip_test=True, shift=False).numpy()
    np.testing.assert_allclose(no_shift, h, atol=1e-6)


def test_flip_test_of_any_model_follows_the_official_definition() -> None:
    torch.manual_seed(0)
    model = nn.Conv2d(3, 17, 3, stride=4, padding=1)  # not symmetric: pairs must be swapped
    x = torch.randn(2, 3, 32, 24)
    with torch.no_grad():
        got = model_heatmaps(model, x, flip_test=True).numpy()
        out = model(x).numpy()
        out_flipped = model(torch.flip(x, dims=[3])).numpy()
    np.testing.assert_allclose(got, official_flip_average(out, out_flipped), atol=1e-6)
    with torch.no_grad():
        assert torch.equal(model_heatmaps(model, x, flip_test=False), model(x))


def test_flip_back_is_an_involution() -> None:
    h = torch.from_numpy(np.random.default_rng(0).random((2, 17, 8, 6)))
    np.testing.assert_array_equal(flip_back(flip_back(h)).numpy(), h.numpy())
    np.testing.assert_array_equal(flip_back(h)[:, 2].numpy(), h.numpy()[:, 1, :, ::-1])


def test_models_returning_a_list_use_the_last_output() -> None:
    class TwoOutputs(nn.Module):
        def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
            y = MirrorSymmetricNet()(x)
            return [y * 0, y]

    x = torch.randn(1, 3, 16, 16)
    np.testing.assert_allclose(model_heatmaps(TwoOutputs(), x, flip_test=False),
                               MirrorSymmetricNet()(x))


def test_final_preds_map_heatmap_pixels_through_the_inverse_box_affine() -> None:
    codec = HeatmapCodec((192, 256), (48, 64), 2)
    centers = np.array([[100.0, 150.0], [300.0, 80.0]], dtype=np.float32)
    scales = np.array([[0.9, 1.2], [0.45, 0.6]], dtype=np.float32)
    joints_hm = np.array([[24.0, 32.0], [10.0, 50.0]])  # integer peaks: no quarter offset
    heatmaps = np.stack([codec.encode(joints_hm * 4, np.ones(2))[0]] * 2)
    coords, maxvals = final_preds(codec, heatmaps, centers, scales)
    np.testing.assert_allclose(coords[0, 0], centers[0], atol=1e-3)  # map centre → box centre
    for n in range(2):
        inv = get_affine_transform(centers[n], scales[n], 0, (48, 64), inv=True)
        expected = joints_hm @ inv[:, :2].T + inv[:, 2]
        np.testing.assert_allclose(coords[n], expected, atol=1e-3)
    # one heatmap pixel is scale·200 / 48 image pixels
    assert coords[0, 1, 0] - coords[0, 0, 0] == pytest.approx(-14 * 0.9 * 200 / 48, rel=1e-5)
    np.testing.assert_allclose(maxvals, 1.0)


def test_flip_shift_only_when_heatmaps_are_coarser_than_the_input() -> None:
    from pose.data.codec import HeatmapCodec
    from pose.evaluate.inference import needs_flip_shift

    assert needs_flip_shift(HeatmapCodec((192, 256), (48, 64), 2.0))
    assert not needs_flip_shift(HeatmapCodec((192, 256), (192, 256), 8.0))
