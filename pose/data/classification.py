"""Image classification data (DANet Table X): ImageNet in torchvision's ImageFolder layout
(`<split>/<class folder>/<image>`, classes numbered in sorted folder order), and a small synthetic
set in the same layout that stands in for it wherever ImageNet is not there (smoke, preflight).

Training samples follow the ImageNet recipe of DenseNet (fb.resnet.torch, which Huang et al.
train with): a random crop of 8-100% of the image area with aspect ratio 3/4-4/3, resized to the
input, and a horizontal flip half of the time. Testing is single-crop: the shorter side resized
to input / 0.875 (256 for 224) and the central input-sized crop. Each training sample draws from
its own generator seeded by (seed, epoch, index), as the keypoint datasets do, so a resumed run
sees the same crops."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from pose.data.transforms import normalize_image
from pose.errors import DataError

IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png")
CROP_AREA = (0.08, 1.0)  # random-sized crop: share of the image area ...
CROP_RATIO = (3 / 4, 4 / 3)  # ... and aspect ratio (w / h)
TEST_RESIZE = 1 / 0.875  # single-crop test: shorter side 256 for a 224 crop


def class_folders(root: Path) -> list[str]:
    """The class folder names of a split, sorted (their index is the label)."""
    if not root.is_dir():
        raise DataError(f"{root}: classification split folder not found")
    names = sorted(p.name for p in root.iterdir() if p.is_dir())
    if not names:
        raise DataError(f"{root}: no class folders (expected <split>/<class>/<image>)")
    return names


def list_samples(root: Path, classes: list[str] | None = None) -> tuple[list[tuple[Path, int]],
                                                                       list[str]]:
    """[(image path, label)] of a split in class then file-name order, and the class names.
    `classes`: the training split's, which the val split must match."""
    found = class_folders(root)
    if classes is not None and found != classes:
        missing, extra = sorted(set(classes) - set(found)), sorted(set(found) - set(classes))
        raise DataError(f"{root}: class folders differ from the training split's (missing "
                        f"{missing[:5]}, extra {extra[:5]})")
    samples = [(p, label) for label, name in enumerate(found)
               for p in sorted((root / name).iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES]
    if not samples:
        raise DataError(f"{root}: no images ({', '.join(IMAGE_SUFFIXES)}) in its class folders")
    return samples, found


def read_rgb(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise DataError(f"{path}: cannot read the image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def random_crop_box(height: int, width: int, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """(y, x, h, w) of a random-sized crop (10 tries, then the central square-ish crop), as
    torchvision's RandomResizedCrop draws it."""
    area = height * width
    for _ in range(10):
        target = area * rng.uniform(*CROP_AREA)
        ratio = math.exp(rng.uniform(math.log(CROP_RATIO[0]), math.log(CROP_RATIO[1])))
        w = round(math.sqrt(target * ratio))
        h = round(math.sqrt(target / ratio))
        if 0 < w <= width and 0 < h <= height:
            return int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1)), h, w
    side = min(height, width)
    return (height - side) // 2, (width - side) // 2, side, side


def center_crop(image: np.ndarray, out_hw: tuple[int, int]) -> np.ndarray:
    """Single-crop test view: shorter side to out / 0.875, then the central out_hw crop."""
    height, width = image.shape[:2]
    scale = max(out_hw) * TEST_RESIZE / min(height, width)
    h, w = max(out_hw[0], round(height * scale)), max(out_hw[1], round(width * scale))
    resized = cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)
    y, x = (h - out_hw[0]) // 2, (w - out_hw[1]) // 2
    return resized[y:y + out_hw[0], x:x + out_hw[1]]


class ImageFolderDataset(Dataset):
    """A split -> dict(image (3, H, W) normalised, target (label), target_weight (1.0)): the
    keys train_step reads, so classifiers train with the pose trainer's step. Keys are indices
    or (epoch, index) pairs (pose.engine.sampler.EpochSampler)."""

    def __init__(self, samples: list[tuple[Path, int]], input_hw: tuple[int, int], train: bool,
                 seed: int = 0) -> None:
        self.samples = list(samples)
        self.input_hw = input_hw
        self.train = train
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.samples)

    def view(self, index: int, epoch: int | None = None) -> np.ndarray:
        """RGB uint8 (H, W, 3) input of sample `index`: augmented when training."""
        path, _ = self.samples[index]
        image = read_rgb(path)
        if not self.train:
            return center_crop(image, self.input_hw)
        rng = np.random.default_rng([self.seed, self.epoch if epoch is None else epoch, index])
        y, x, h, w = random_crop_box(image.shape[0], image.shape[1], rng)
        crop = cv2.resize(image[y:y + h, x:x + w], self.input_hw[::-1],
                          interpolation=cv2.INTER_LINEAR)
        return cv2.flip(crop, 1) if rng.random() < 0.5 else crop

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        epoch, index = key if isinstance(key, tuple) else (None, key)
        return {
            "image": torch.from_numpy(normalize_image(self.view(index, epoch))),
            "target": torch.tensor(self.samples[index][1], dtype=torch.long),
            "target_weight": torch.tensor(1.0),
        }


# ---------------------------------------------------------------------- the synthetic stand-in
@dataclass(frozen=True)
class SynthClassesConfig:
    """The synthetic classification set: `per_class_train` / `per_class_val` images of `size` px
    per class. Class k is a grating of its own orientation and colour over noise, at a random
    phase, frequency jitter and brightness, so that a classifier can learn it from a few
    hundred images and chance level (1 / classes) is far below a trained model's accuracy."""

    seed: int = 0
    per_class_train: int = 40
    per_class_val: int = 10
    size: int = 48

    def __post_init__(self) -> None:
        for key in ("per_class_train", "per_class_val", "size"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise DataError(f"classification.synth.{key}: expected a positive count, got "
                                f"{value!r}")


def synth_class_image(label: int, num_classes: int, size: int, rng: np.random.Generator
                      ) -> np.ndarray:
    """One RGB uint8 image of class `label`."""
    angle = math.pi * label / num_classes
    hue = 180.0 * ((label * 7) % num_classes) / num_classes
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    freq = 4.0 * rng.uniform(0.8, 1.25)
    phase = rng.uniform(0, 2 * math.pi)
    wave = np.sin(2 * math.pi * freq * (xx * math.cos(angle) + yy * math.sin(angle)) + phase)
    hsv = np.empty((size, size, 3), dtype=np.uint8)
    hsv[..., 0] = np.uint8(hue)
    hsv[..., 1] = 200
    value = 128 + 90 * wave * rng.uniform(0.7, 1.0) + rng.normal(0, 20, (size, size))
    hsv[..., 2] = np.clip(value, 0, 255).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def write_synthetic_classes(train_dir: Path, val_dir: Path, num_classes: int,
                            cfg: SynthClassesConfig) -> int:
    """Write both splits (PNG, class folders class_000 ...); returns the images written. The
    same config always writes the same images."""
    written = 0
    for split, folder, count in (("train", train_dir, cfg.per_class_train),
                                 ("val", val_dir, cfg.per_class_val)):
        rng = np.random.default_rng([cfg.seed, 0 if split == "train" else 1])
        for label in range(num_classes):
            out = folder / f"class_{label:03d}"
            out.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                image = synth_class_image(label, num_classes, cfg.size, rng)
                if not cv2.imwrite(str(out / f"{i:05d}.png"), cv2.cvtColor(image,
                                                                          cv2.COLOR_RGB2BGR)):
                    raise DataError(f"{out}: cannot write images")
                written += 1
    return written
