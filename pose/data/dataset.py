"""Top-down training/test samples: read the image, augment (training), crop, encode targets.

Each sample draws from its own numpy Generator seeded by (seed, epoch, index), so a run gives
the same samples whatever the number of DataLoader workers or their scheduling (and a resumed run
the same samples as an uninterrupted one).
"""

from __future__ import annotations

import hashlib
import mmap
import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from pose.data.coco import Instance
from pose.data.codec import HeatmapCodec
from pose.data.keypoint_sets import COCO, KeypointSet
from pose.data.keypoints import FLIP_PAIRS, UPPER_BODY_IDS
from pose.data.transforms import (
    SAMPLING_LAWS,
    affine_points,
    cutout_mask,
    flip_joints,
    get_affine_transform,
    half_body_center_scale,
    normalize_image,
    random_rotation,
    random_scale,
)
from pose.errors import ConfigError, DataError
from pose.spec import OMIT_DEFAULT


@dataclass
class AugmentConfig:
    """Training augmentation of the official code (HRNet recipe defaults), plus cutout.

    Cutout (DeVries & Taylor 2017) is off by default so that recipes without it are unchanged:
    with probability `cutout_prob` a training sample's network input gets `cutout_holes` square
    holes of side `cutout_size` × the input width (so the hole scales with the input size),
    zeroed after normalisation (i.e. set to the mean colour), as the reference code does.

    `scale_law` / `rotation_law` pick how the scale multiplier and the rotation are drawn
    (pose.data.transforms.SAMPLING_LAWS): "normal" is the official clipped normal; "uniform"
    draws the scale from `scale_range` (default 1 ± scale_factor; scale_factor is not read
    when scale_range is set) and the rotation from ±rotation_factor.
    """

    scale_factor: float = 0.35
    scale_law: Literal["normal", "uniform"] = field(default="normal", metadata=OMIT_DEFAULT)
    scale_range: tuple[float, float] | None = field(default=None, metadata=OMIT_DEFAULT)
    rotation_factor: float = 45
    rotation_law: Literal["normal", "uniform"] = field(default="normal", metadata=OMIT_DEFAULT)
    rotation_prob: float = 0.6
    flip: bool = True
    half_body_prob: float = 0.3
    half_body_min_joints: int = 8
    half_body_scale: float = 1.5
    cutout_prob: float = 0.0
    cutout_size: float = 0.0
    cutout_holes: int = 1

    def __post_init__(self) -> None:
        # Checked here, where every recipe's augment mapping is built, so a bad value fails
        # when the registry loads rather than silently in a worker.
        for key in ("cutout_prob", "cutout_size"):
            value = getattr(self, key)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"{key}: must be in [0, 1], got {value!r}")
        if self.cutout_holes < 1:
            raise ConfigError(f"cutout_holes: must be >= 1, got {self.cutout_holes!r}")
        for key in ("scale_law", "rotation_law"):
            if getattr(self, key) not in SAMPLING_LAWS:
                raise ConfigError(f"{key}: must be one of {SAMPLING_LAWS}, got "
                                  f"{getattr(self, key)!r}")
        if self.scale_range is not None:
            object.__setattr__(self, "scale_range", tuple(self.scale_range))  # YAML gives a list
            if self.scale_law != "uniform":
                raise ConfigError(f"scale_range: {list(self.scale_range)} is read by the uniform "
                                  f"law only; set scale_law: uniform (got {self.scale_law!r})")
            lo, hi = self.scale_range
            if not 0.0 < lo < hi:
                raise ConfigError(f"scale_range: expected [low, high] with 0 < low < high, got "
                                  f"{list(self.scale_range)}")


@dataclass
class CropParams:
    """Where one sample is cropped from, after augmentation."""

    center: np.ndarray
    scale: np.ndarray
    rotation: float
    flip: bool
    joints: np.ndarray  # (J, 2) image px, in the flipped image when flip is True
    visible: np.ndarray  # (J,)


def augment_crop(joints: np.ndarray, visible: np.ndarray, center: np.ndarray,
                 scale: np.ndarray, image_width: int, cfg: AugmentConfig,
                 rng: np.random.Generator, aspect_ratio: float,
                 flip_pairs: Sequence[tuple[int, int]] = FLIP_PAIRS,
                 upper_ids: Sequence[int] = UPPER_BODY_IDS) -> CropParams:
    """The official training augmentation, in its order: half-body, scale, rotation, flip."""
    center = np.array(center, dtype=np.float32)
    scale = np.array(scale, dtype=np.float32)
    if (np.sum(visible > 0) > cfg.half_body_min_joints
            and rng.random() < cfg.half_body_prob):
        half = half_body_center_scale(joints, visible, rng, aspect_ratio, upper_ids,
                                      cfg.half_body_scale)
        if half is not None:
            center, scale = half
    scale = (scale * random_scale(rng, cfg.scale_factor, cfg.scale_law, cfg.scale_range)
             ).astype(np.float32)
    rotation = random_rotation(rng, cfg.rotation_factor, cfg.rotation_prob, cfg.rotation_law)
    flip = bool(cfg.flip and rng.random() <= 0.5)
    if flip:
        joints, visible = flip_joints(joints, visible, image_width, flip_pairs)
        center[0] = image_width - center[0] - 1
    return CropParams(center, scale, rotation, flip, np.asarray(joints), np.asarray(visible))


def read_image(path: Path) -> np.ndarray:
    """RGB uint8 (H, W, 3); a missing or undecodable file is a DataError naming it, and so is a
    truncated JPEG (libjpeg decodes one to a grey lower part with only a warning)."""
    return cv2.cvtColor(read_bgr(path), cv2.COLOR_BGR2RGB)


def read_bgr(path: Path) -> np.ndarray:
    """read_image in OpenCV's BGR order: the training path warps first and swaps the channels
    of the small crop only (in its normalisation)."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if image is None:
        raise DataError(f"{path}: cannot read image (missing, unreadable or not a decodable "
                        "image file)")
    if _truncated_jpeg(path):
        raise DataError(f"{path}: truncated JPEG (no end-of-image marker FF D9 at the end of "
                        "the file): an incomplete download or copy? fetch or copy it again")
    return image


CACHE_MAGIC = b"POSEBGR1"  # then height and width (uint32 little-endian), then the pixels


def cached_bgr(path: Path, cache: Path) -> np.ndarray:
    """read_bgr through a decode-once cache: the first read stores the decoded pixels
    uncompressed under `cache` (named by the image's path, size and modification time, so a
    replaced file is decoded again), later reads map that file instead of decoding. The pixels
    are the decoder's, bit for bit; the cost is disk, height·width·3 bytes an image."""
    try:
        stat = path.stat()
    except OSError as err:
        raise DataError(f"{path}: cannot read image ({err.strerror})") from err
    key = hashlib.sha1(f"{os.path.abspath(path)}|{stat.st_size}|{stat.st_mtime_ns}".encode()
                       ).hexdigest()
    file = cache / key[:2] / f"{key}.bgr"
    try:
        with open(file, "rb") as f:
            head = f.read(16)
            height, width = struct.unpack("<II", head[8:16]) if len(head) == 16 else (0, 0)
            if head[:8] == CACHE_MAGIC and f.seek(0, 2) == 16 + height * width * 3:
                pixels = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
                return np.frombuffer(pixels, np.uint8, height * width * 3, 16).reshape(
                    height, width, 3)
    except FileNotFoundError:
        pass
    image = read_bgr(path)  # not cached yet (or a damaged file: replaced)
    file.parent.mkdir(parents=True, exist_ok=True)
    partial = file.with_name(f"{file.name}.{os.getpid()}.partial")
    with open(partial, "wb") as f:
        f.write(CACHE_MAGIC + struct.pack("<II", *image.shape[:2]))
        f.write(np.ascontiguousarray(image).data)
    os.replace(partial, file)  # atomic: a concurrent worker sees the whole file or none
    return image


JPEG_SOI, JPEG_EOI = b"\xff\xd8", b"\xff\xd9"


def _truncated_jpeg(path: Path) -> bool:
    """Whether `path` is a JPEG (starts with SOI) whose last bytes are not the EOI marker, zero
    or whitespace padding after it allowed. Two small reads: cheap beside the decode. (FF D9
    cannot occur inside entropy-coded data, so a file cut anywhere in its scan lacks it.)"""
    with open(path, "rb") as f:
        if f.read(2) != JPEG_SOI:
            return False
        size = f.seek(0, 2)
        f.seek(max(0, size - 64))
        tail = f.read().rstrip(b"\x00 \t\r\n")
    return not tail.endswith(JPEG_EOI)


class TopDownDataset(Dataset):
    """Instances → dict(image (3, H, W), target (J, h, w), target_weight (J, 1), meta).

    Training samples are augmented; test samples are the plain box crops. A key is an index (of
    the epoch set_epoch chose) or an (epoch, index) pair, as pose.engine.sampler.EpochSampler
    yields them: the pair carries the epoch into persistent DataLoader workers, whose copy of the
    dataset never sees set_epoch. `keypoints` is the
    dataset's joint set: its flip pairs and half-body groups drive the augmentation, and the
    flip test of pose.evaluate.pipeline.predict reads them from here.

    `decode_cache` (off by default): a folder where each image is decoded once and its pixels
    kept uncompressed (cached_bgr): the same samples, bit for bit, for disk space.
    """

    def __init__(self, instances: list[Instance], codec: HeatmapCodec, train: bool,
                 augment: AugmentConfig | None = None, seed: int = 0,
                 keypoints: KeypointSet = COCO, decode_cache: Path | None = None):
        self.instances = list(instances)
        self.codec = codec
        self.train = train
        self.augment = augment if augment is not None else AugmentConfig()
        self.keypoints = keypoints
        self.seed = int(seed)
        self.epoch = 0
        self.aspect_ratio = codec.input_size[0] / codec.input_size[1]
        self.decode_cache = None if decode_cache is None else Path(decode_cache)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.instances)

    def _epoch(self, epoch: int | None) -> int:
        return self.epoch if epoch is None else int(epoch)

    def rng(self, index: int, epoch: int | None = None) -> np.random.Generator:
        """The generator of sample `index` in `epoch` (default: the set_epoch one)."""
        return np.random.default_rng([self.seed, self._epoch(epoch), int(index)])

    def cutout_rng(self, index: int, epoch: int | None = None) -> np.random.Generator:
        """A child stream of sample `index`'s seed: cutout draws never shift the crop's draws,
        so turning cutout on leaves the crop and targets of every sample as they were."""
        seq = np.random.SeedSequence([self.seed, self._epoch(epoch), int(index)])
        return np.random.default_rng(seq.spawn(1)[0])

    def apply_cutout(self, image: np.ndarray, index: int, epoch: int | None = None
                     ) -> np.ndarray:
        """Cutout on a normalised (3, H, W) training input; test samples are never cut."""
        cfg = self.augment
        if not self.train or cfg.cutout_prob <= 0.0:
            return image
        rng = self.cutout_rng(index, epoch)
        if rng.random() >= cfg.cutout_prob:
            return image
        height, width = image.shape[1:]
        side = int(round(cfg.cutout_size * self.codec.input_size[0]))
        return image * cutout_mask(height, width, side, cfg.cutout_holes, rng)[None]

    def crop_params(self, index: int, image_width: int, epoch: int | None = None
                    ) -> CropParams:
        """Crop of sample `index`: the instance box at test time, augmented when training."""
        inst = self.instances[index]
        joints, visible = inst.joints[:, :2].astype(np.float64), inst.joints[:, 2].copy()
        if not self.train:
            return CropParams(inst.center.astype(np.float32), inst.scale.astype(np.float32),
                              0.0, False, joints, visible)
        kps = self.keypoints
        return augment_crop(joints, visible, inst.center, inst.scale, image_width, self.augment,
                            self.rng(index, epoch), self.aspect_ratio, kps.flip_pairs,
                            kps.upper_body_ids)

    def _read(self, path: Path) -> np.ndarray:
        """The BGR image: decoded, or from the decode-once cache."""
        return read_bgr(path) if self.decode_cache is None else cached_bgr(path,
                                                                           self.decode_cache)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        epoch, index = key if isinstance(key, tuple) else (None, key)
        inst = self.instances[index]
        image = self._read(inst.image_path)
        p = self.crop_params(index, image.shape[1], epoch)
        if p.flip:
            # The whole image mirrored, as the official code does: composing the mirror into the
            # warp instead saves ~20 µs a sample but moves bilinear weights by their 1/32 px
            # rounding (a few values off by 1), so the crops would not be the official bits.
            image = cv2.flip(image, 1)
        trans = get_affine_transform(p.center, p.scale, p.rotation, self.codec.input_size)
        crop = cv2.warpAffine(image, trans, self.codec.input_size, flags=cv2.INTER_LINEAR)
        joints = np.where(p.visible[:, None] > 0, affine_points(p.joints, trans), p.joints)
        target, target_weight = self.codec.encode(joints, p.visible)
        meta = {
            "index": int(index),
            "image_id": int(inst.image_id),
            "center": p.center.astype(np.float32),
            "scale": p.scale.astype(np.float32),
            "rotation": float(p.rotation),
            "box_score": float(inst.box_score),
            "area": float(inst.area),
        }
        return {
            "image": torch.from_numpy(self.apply_cutout(normalize_image(crop, bgr=True), index,
                                                         epoch)),
            "target": torch.from_numpy(target),
            "target_weight": torch.from_numpy(target_weight),
            "meta": meta,
        }
