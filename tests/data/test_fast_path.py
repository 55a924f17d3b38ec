"""The training sample path against the official code's order of operations.

The reference below is the official HRNet / SimpleBaseline sequence written out: decode to RGB,
mirror the whole image with cv2.flip when the sample is flipped, warp, normalise with the float
formula, render every Gaussian over the whole heatmap. TopDownDataset must give the same
samples, bit for bit.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from pose.data.coco import load_instances
from pose.data.codec import HeatmapCodec
from pose.data.dataset import AugmentConfig, TopDownDataset, cached_bgr, read_image
from pose.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    affine_points,
    get_affine_transform,
    normalize_image,
)
from tests.data.test_dataset import _person

CODEC = HeatmapCodec((96, 128), (24, 32), 2.0)


def reference_normalize(image: np.ndarray) -> np.ndarray:
    out = (image.astype(np.float32) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD
    return np.ascontiguousarray(out.transpose(2, 0, 1))


def reference_encode(codec: HeatmapCodec, joints: np.ndarray, visible: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
    """The whole-map Gaussian rendering (every pixel's exp, masked to the 3σ window)."""
    w, h = codec.heatmap_size
    radius = codec.sigma * 3
    mu = np.trunc(np.asarray(joints, dtype=np.float64)[:, :2] / codec.stride + 0.5)
    ul, br = np.trunc(mu - radius), np.trunc(mu + radius + 1)
    centre = (ul + (2 * radius + 1) // 2).astype(np.float32)
    weight = (np.asarray(visible) > 0).astype(np.float32)
    weight[(ul[:, 0] >= w) | (ul[:, 1] >= h) | (br[:, 0] < 0) | (br[:, 1] < 0)] = 0.0
    xs, ys = np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32)
    dx2 = (xs[None, :] - centre[:, :1]) ** 2
    dy2 = (ys[None, :] - centre[:, 1:]) ** 2
    heat = np.exp(-(dy2[:, :, None] + dx2[:, None, :]) / (2 * codec.sigma ** 2))
    in_x = (xs[None, :] >= ul[:, :1]) & (xs[None, :] < br[:, :1])
    in_y = (ys[None, :] >= ul[:, 1:]) & (ys[None, :] < br[:, 1:])
    mask = in_y[:, :, None] & in_x[:, None, :] & (weight[:, None, None] > 0.5)
    return np.where(mask, heat, 0.0).astype(np.float32), weight[:, None]


def reference_sample(ds: TopDownDataset, key: tuple[int, int]) -> dict:
    epoch, index = key
    inst = ds.instances[index]
    image = read_image(inst.image_path)
    p = ds.crop_params(index, image.shape[1], epoch)
    if p.flip:
        image = cv2.flip(image, 1)
    trans = get_affine_transform(p.center, p.scale, p.rotation, ds.codec.input_size)
    crop = cv2.warpAffine(image, trans, ds.codec.input_size, flags=cv2.INTER_LINEAR)
    joints = np.where(p.visible[:, None] > 0, affine_points(p.joints, trans), p.joints)
    target, weight = reference_encode(ds.codec, joints, p.visible)
    return {"image": reference_normalize(crop), "target": target, "target_weight": weight,
            "center": p.center, "scale": p.scale, "rotation": p.rotation, "flip": p.flip}


@pytest.fixture()
def photo_set(tmp_path: Path) -> TopDownDataset:
    """JPEGs with detail at every scale (smoothed noise plus edges) and people of several
    sizes, some large enough that the crop zooms out by 2 and 4."""
    rng = np.random.default_rng(3)
    images, anns = [], []
    for image_id, (w, h) in enumerate([(640, 427), (500, 375), (333, 500)], start=1):
        noise = rng.integers(0, 256, (h // 8 + 1, w // 8 + 1, 3), dtype=np.uint8)
        canvas = cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC)
        canvas = cv2.add(canvas, rng.integers(0, 40, (h, w, 3), dtype=np.uint8))
        cv2.rectangle(canvas, (w // 5, h // 6), (w // 2, h // 2), (255, 255, 255), 3)
        cv2.imwrite(str(tmp_path / f"{image_id}.jpg"), canvas, [cv2.IMWRITE_JPEG_QUALITY, 90])
        images.append({"id": image_id, "file_name": f"{image_id}.jpg", "width": w,
                       "height": h})
        for k, frac in enumerate((0.15, 0.45, 0.9)):
            bw, bh = frac * w * 0.6, frac * h
            box = [float(rng.uniform(0, w - bw)), float(rng.uniform(0, h - bh)), bw, bh]
            anns.append(_person(100 * image_id + k, image_id, box))
    ann_file = tmp_path / "ann.json"
    ann_file.write_text(json.dumps({"images": images, "annotations": anns, "categories": []}))
    instances = load_instances(ann_file, tmp_path, aspect_ratio=96 / 128)
    return TopDownDataset(instances, CODEC, train=True, seed=5,
                          augment=AugmentConfig(half_body_prob=0.5))


def keys(ds: TopDownDataset) -> list[tuple[int, int]]:
    return [(epoch, index) for epoch in range(4) for index in range(len(ds))]


def test_training_samples_equal_the_official_sequence(photo_set: TopDownDataset) -> None:
    flips = 0
    for key in keys(photo_set):
        ref = reference_sample(photo_set, key)
        got = photo_set[key]
        flips += ref["flip"]
        assert np.array_equal(got["image"].numpy(), ref["image"]), key
        assert np.array_equal(got["target"].numpy(), ref["target"]), key
        assert np.array_equal(got["target_weight"].numpy(), ref["target_weight"]), key
        assert np.array_equal(got["meta"]["center"], ref["center"]), key
        assert np.array_equal(got["meta"]["scale"], ref["scale"]), key
        assert got["meta"]["rotation"] == ref["rotation"], key
    assert 0 < flips < len(keys(photo_set))  # both branches were compared


def test_test_samples_are_bit_identical(photo_set: TopDownDataset) -> None:
    photo_set.train = False
    for index in range(len(photo_set)):
        ref = reference_sample(photo_set, (0, index))
        got = photo_set[index]
        assert np.array_equal(got["image"].numpy(), ref["image"])
        assert np.array_equal(got["target"].numpy(), ref["target"])


def test_normalisation_table_gives_the_float_formula_bits() -> None:
    image = np.random.default_rng(0).integers(0, 256, (37, 29, 3), dtype=np.uint8)
    assert np.array_equal(normalize_image(image), reference_normalize(image))
    bgr = np.ascontiguousarray(image[:, :, ::-1])
    assert np.array_equal(normalize_image(bgr, bgr=True), reference_normalize(image))


@pytest.mark.parametrize("sigma", [1.0, 2.0, 2.5, 3.0])
def test_windowed_gaussians_equal_whole_map_rendering(sigma: float) -> None:
    codec = HeatmapCodec((192, 256), (48, 64), sigma)
    rng = np.random.default_rng(int(sigma * 10))
    for _ in range(50):
        joints = rng.uniform(-60, 260, (17, 2))  # inside, at and beyond the borders
        visible = rng.integers(0, 2, 17)
        got, weight = codec.encode(joints, visible)
        ref, ref_weight = reference_encode(codec, joints, visible)
        assert np.array_equal(got, ref) and np.array_equal(weight, ref_weight)


def test_decode_cache_gives_the_same_samples_and_stops_decoding(
        photo_set: TopDownDataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pose.data.dataset as dataset_module

    cache = tmp_path / "cache"
    cached = TopDownDataset(photo_set.instances, CODEC, train=True, seed=5,
                            augment=photo_set.augment, decode_cache=cache)
    decodes: list[Path] = []
    read_bgr = dataset_module.read_bgr
    monkeypatch.setattr(dataset_module, "read_bgr",
                        lambda path: decodes.append(path) or read_bgr(path))
    for key in keys(photo_set):
        got, ref = cached[key], photo_set[key]
        for field in ("image", "target", "target_weight"):
            assert np.array_equal(got[field].numpy(), ref[field].numpy()), (key, field)
    # one decode per image for the cache, then one per sample for the uncached dataset only
    images = {inst.image_path for inst in photo_set.instances}
    assert len(decodes) == len(images) + len(keys(photo_set))
    assert len(list(cache.rglob("*.bgr"))) == len(images)
    assert not list(cache.rglob("*.partial"))


def test_decode_cache_decodes_a_replaced_image_again(photo_set: TopDownDataset,
                                                     tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    path = photo_set.instances[0].image_path
    first = np.array(cached_bgr(path, cache))
    cv2.imwrite(str(path), 255 - cv2.imread(str(path)))
    os.utime(path, ns=(1, 1))  # a different modification time, whatever the clock's resolution
    again = cached_bgr(path, cache)
    assert np.array_equal(again, read_image(path)[:, :, ::-1])
    assert not np.array_equal(again, first)
    assert len(list(cache.rglob("*.bgr"))) == 2


def test_a_scales_decode_cache_reaches_the_loaders_and_no_hash(monkeypatch, tmp_path):
    """`decode_cache` in a scale: the datasets decode through it; the samples are the same, so
    the weights' and the evaluation's identities are too."""
    from dataclasses import replace as replaced

    from pose import experiment_data
    from pose.config import load_registry

    registry = load_registry(Path(__file__).resolve().parents[2] / "params",
                             check_pipeline=False)
    exp = registry.resolve("hrnet_w32_256x192", "smoke")
    cached = replaced(exp, decode_cache=str(tmp_path))
    assert (cached.train_hash, cached.config_hash) == (exp.train_hash, exp.config_hash)
    seen = {}
    monkeypatch.setattr(experiment_data, "_instances", lambda *args: [])
    monkeypatch.setattr(experiment_data, "TopDownDataset",
                        lambda *args, **kwargs: seen.update(kwargs))
    experiment_data.build_dataset(cached, "train")
    assert seen["decode_cache"] == str(tmp_path)
