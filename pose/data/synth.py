"""Synthetic COCO-keypoints dataset (`pose synth`): articulated human-like figures on varied
backgrounds, with COCO annotation files and a val person-detection results file, so the whole
pipeline (training, detection-box evaluation, flip test, OKS metrics) runs without downloading
COCO. Every image is drawn from its own random stream seeded by (seed, split, index), so the output
is byte-identical for one config and train and val are independent."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from pose.data.keypoints import NAMES, SKELETON
from pose.data.synth_figures import (
    NUM_PARTS,
    Ellipse,
    Figure,
    Polygon,
    draw_figure,
    figure_keypoints,
    sample_figure,
)
from pose.errors import ConfigError
from pose.io import atomic_dir, write_json

BACKGROUND, OCCLUDER, FIRST_FIGURE_LABEL = 0, 1, 2
SPLITS = ("train", "val")
_SPLIT_CODE = {"train": 0, "val": 1}
_ID_BASE = {"train": 1_000_000, "val": 2_000_000}  # image ids unique across splits
_MAX_IMAGES = 999_999
_STREAM_IMAGE, _STREAM_DETECTIONS = 0, 1

PERSON_CATEGORY: dict[str, Any] = {
    "supercategory": "person",
    "id": 1,
    "name": "person",
    "keypoints": list(NAMES),
    "skeleton": [[a + 1, b + 1] for a, b in SKELETON],
}


@dataclass
class SynthConfig:
    """Knobs of the generator (the `synth:` mapping of a synthetic dataset in params)."""

    seed: int = 0
    num_train: int = 600  # images
    num_val: int = 150  # images
    image_width: tuple[int, int] = (224, 320)  # min, max (uniform)
    image_height: tuple[int, int] = (224, 320)
    max_people: int = 3  # per image, at least 1
    person_height: tuple[float, float] = (0.35, 0.95)  # standing height / image height
    partial_prob: float = 0.2  # a person may be placed partly outside the image
    side_view_prob: float = 0.25  # figures turned sideways (narrow shoulders and hips)
    back_view_prob: float = 0.1  # figures seen from behind
    occluder_prob: float = 0.25  # per person: a random shape drawn over it
    min_area: int = 150  # pixels; persons with a smaller visible mask are not annotated
    det_recall: float = 0.95  # share of annotated persons the detections file finds
    det_centre_jitter: float = 0.04  # detection box centre shift, std / box size
    det_scale_jitter: float = 0.06  # detection box size scale, std
    max_false_positives: int = 2  # per val image, uniform 0..max
    jpeg_quality: int = 92

    def __post_init__(self) -> None:
        _check_config(self)


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(f"synth config: {message}")


def _check_range(name: str, pair: tuple, low: float) -> None:
    _require(len(pair) == 2 and low <= pair[0] <= pair[1],
             f"{name} must be (min, max) with {low} <= min <= max, got {pair!r}")


def _check_config(cfg: SynthConfig) -> None:
    """Reject values that would crash or silently produce a degenerate dataset."""
    _require(cfg.seed >= 0, f"seed must be >= 0, got {cfg.seed}")
    for name in ("num_train", "num_val"):
        n = getattr(cfg, name)
        _require(1 <= n <= _MAX_IMAGES, f"{name} must be in 1..{_MAX_IMAGES}, got {n}")
    _require(1 <= cfg.max_people <= 99, f"max_people must be in 1..99, got {cfg.max_people}")
    _check_range("image_width", cfg.image_width, 32)
    _check_range("image_height", cfg.image_height, 32)
    _check_range("person_height", cfg.person_height, 0.05)
    for name in ("partial_prob", "side_view_prob", "back_view_prob", "occluder_prob",
                 "det_recall"):
        p = getattr(cfg, name)
        _require(0.0 <= p <= 1.0, f"{name} must be a probability in [0, 1], got {p}")
    _require(cfg.side_view_prob + cfg.back_view_prob <= 1.0,
             "side_view_prob + back_view_prob must be <= 1")
    for name in ("det_centre_jitter", "det_scale_jitter"):
        _require(0.0 <= getattr(cfg, name) <= 0.5, f"{name} must be in [0, 0.5]")
    _require(cfg.min_area >= 1, f"min_area must be >= 1, got {cfg.min_area}")
    _require(cfg.max_false_positives >= 0, "max_false_positives must be >= 0")
    q = cfg.jpeg_quality
    _require(1 <= q <= 100, f"jpeg_quality must be in 1..100, got {q}")


def _rng(cfg: SynthConfig, split: str, index: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([cfg.seed, _SPLIT_CODE[split], index, stream])


def image_id(split: str, index: int) -> int:
    return _ID_BASE[split] + index + 1


# ----------------------------------------------------------------------------- scene


def _random_colour(rng: np.random.Generator) -> tuple[float, float, float]:
    c = rng.uniform(20, 235, 3)
    return float(c[0]), float(c[1]), float(c[2])


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Gradient plus coarse colour noise plus a few faint shapes: varied but not cluttered."""
    c0, c1 = rng.uniform(30, 225, 3), rng.uniform(30, 225, 3)
    a = rng.uniform(0, 2 * math.pi)
    t = np.arange(w, dtype=np.float32)[None, :] * math.cos(a) / w
    t = t + np.arange(h, dtype=np.float32)[:, None] * math.sin(a) / h
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    img = c0.astype(np.float32) + (c1 - c0).astype(np.float32) * t[..., None]
    coarse = rng.normal(0, rng.uniform(3, 12), (h // 40 + 2, w // 40 + 2, 3)).astype(np.float32)
    img += cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
    img = np.clip(img, 0, 255).astype(np.uint8)
    for _ in range(int(rng.integers(2, 8))):
        _background_shape(rng, img)
    return img


def _background_shape(rng: np.random.Generator, img: np.ndarray) -> None:
    h, w = img.shape[:2]
    centre = (int(rng.integers(w)), int(rng.integers(h)))
    base = img[centre[1], centre[0]].astype(np.float64)
    colour = tuple(float(v) for v in 0.55 * base + 0.45 * rng.uniform(0, 255, 3))
    size = int(rng.uniform(0.05, 0.35) * min(h, w))
    kind = int(rng.integers(3))
    if kind == 0:
        cv2.rectangle(img, centre, (centre[0] + size, centre[1] + size // 2 + 1), colour, -1)
    elif kind == 1:
        cv2.circle(img, centre, max(2, size // 2), colour, -1, cv2.LINE_AA)
    else:
        end = (int(rng.integers(w)), int(rng.integers(h)))
        cv2.line(img, centre, end, colour, int(rng.integers(1, 5)), cv2.LINE_AA)


def _place(rng: np.random.Generator, extent: tuple[float, ...], w: int, h: int,
           partial: bool) -> np.ndarray:
    """Pelvis position keeping the figure inside the image, or letting up to half of it out."""
    x0, y0, x1, y1 = extent
    slack = 0.5 if partial else 0.0
    out = []
    for lo_edge, hi_edge, size in ((x0, x1, w), (y0, y1, h)):
        lo = -lo_edge - slack * (hi_edge - lo_edge)
        hi = size - hi_edge + slack * (hi_edge - lo_edge)
        out.append(rng.uniform(min(lo, hi), max(lo, hi)))
    return np.array(out)


def _occluder(rng: np.random.Generator, fig: Figure, offset: np.ndarray) -> Polygon | Ellipse:
    """A random shape over one of the figure's joints."""
    size = rng.uniform(0.12, 0.3) * fig.height
    centre = fig.keypoints[int(rng.integers(len(fig.keypoints)))] + offset
    centre = centre + rng.normal(0, 0.05 * fig.height, 2)
    kind = int(rng.integers(3))
    if kind == 0:
        box = ((float(centre[0]), float(centre[1])), (size, size * rng.uniform(0.3, 1.0)),
               rng.uniform(0, 180))
        return Polygon(cv2.boxPoints(box).astype(np.float64))
    if kind == 1:
        return Ellipse(centre, (size / 2, size / 2 * rng.uniform(0.4, 1.0)), rng.uniform(0, 180))
    pts = (centre + rng.uniform(-size / 2, size / 2, (6, 2))).astype(np.float32)
    return Polygon(cv2.convexHull(pts).reshape(-1, 2).astype(np.float64))


def _draw_occluder(rng: np.random.Generator, image: np.ndarray, labels: np.ndarray,
                   shape: Polygon | Ellipse) -> None:
    colour = _random_colour(rng)
    zero = np.zeros(2)
    shape.draw(image, tuple(c * 0.5 for c in colour), 1.0, zero, cv2.LINE_AA)
    shape.draw(image, colour, 0.0, zero, cv2.LINE_AA)
    shape.draw(labels, OCCLUDER, 1.0, zero, cv2.LINE_8)


def _camera_noise(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    noise = rng.standard_normal(image.shape, dtype=np.float32) * rng.uniform(1.5, 5.0)
    out = np.clip(image.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    if rng.random() < 0.3:
        out = cv2.GaussianBlur(out, (3, 3), 0)
    return out


@dataclass(frozen=True)
class _Person:
    keypoints: np.ndarray  # (17, 3)
    mask: np.ndarray  # uint8 visible mask


@dataclass(frozen=True)
class Scene:
    """One rendered image with every drawn person's keypoints and visible mask."""

    image: np.ndarray
    people: tuple[_Person, ...]


def render_scene(cfg: SynthConfig, split: str, index: int) -> Scene:
    """Draw image `index` of `split`: background, 1..max_people figures far to near, occluders."""
    rng = _rng(cfg, split, index, _STREAM_IMAGE)
    w = int(rng.integers(cfg.image_width[0], cfg.image_width[1] + 1))
    h = int(rng.integers(cfg.image_height[0], cfg.image_height[1] + 1))
    image = _background(rng, h, w)
    labels = np.zeros((h, w), np.uint16)
    n = int(rng.integers(1, cfg.max_people + 1))
    heights = rng.uniform(cfg.person_height[0], cfg.person_height[1], n) * h
    order = np.argsort(heights + rng.normal(0, 0.1 * h, n), kind="stable")  # bigger ~ nearer
    placed = []
    for k, i in enumerate(order):
        fig = sample_figure(rng, float(heights[i]), cfg.side_view_prob, cfg.back_view_prob)
        offset = _place(rng, fig.extent, w, h, bool(rng.random() < cfg.partial_prob))
        base = FIRST_FIGURE_LABEL + k * NUM_PARTS
        draw_figure(image, labels, fig, offset, base)
        placed.append((fig, offset, base))
    for fig, offset, _ in placed:
        if rng.random() < cfg.occluder_prob:
            _draw_occluder(rng, image, labels, _occluder(rng, fig, offset))
    people = tuple(
        _Person(figure_keypoints(fig, offset, labels, base, OCCLUDER),
                ((labels >= base) & (labels < base + NUM_PARTS)).astype(np.uint8))
        for fig, offset, base in placed
    )
    return Scene(_camera_noise(rng, image), people)


# ----------------------------------------------------------------------------- annotations


def _polygons(mask: np.ndarray) -> list[list[float]]:
    """Outer contours of the mask as COCO polygons (at least 3 points each)."""
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return [c.reshape(-1).astype(float).tolist() for c in contours if len(c) >= 3]


def _annotation(person: _Person, ann_id: int, img_id: int, min_area: int) -> dict | None:
    """COCO annotation of a drawn person, or None when it has no labelled joint or is tiny."""
    area = int(np.count_nonzero(person.mask))
    kps = person.keypoints
    num = int(np.count_nonzero(kps[:, 2] > 0))
    polygons = _polygons(person.mask) if area >= min_area else []
    if num == 0 or not polygons:
        return None
    x, y, bw, bh = cv2.boundingRect(person.mask)
    flat: list[float | int] = []
    for px, py, v in kps:
        flat += [round(float(px), 2), round(float(py), 2), int(v)]
    return {
        "id": ann_id, "image_id": img_id, "category_id": 1, "segmentation": polygons,
        "area": float(area), "bbox": [float(x), float(y), float(bw), float(bh)], "iscrowd": 0,
        "keypoints": flat, "num_keypoints": num,
    }


def _clip_box(x0: float, y0: float, x1: float, y1: float, w: int, h: int) -> list[float]:
    x0, x1 = min(max(x0, 0.0), w), min(max(x1, 0.0), w)
    y0, y1 = min(max(y0, 0.0), h), min(max(y1, 0.0), h)
    return [round(x0, 2), round(y0, 2), round(x1 - x0, 2), round(y1 - y0, 2)]


def _iou(a: list[float], b: list[float]) -> float:
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def _true_detection(rng: np.random.Generator, cfg: SynthConfig, gt: list[float], w: int,
                    h: int) -> tuple[list[float], float]:
    """A GT box with jittered centre and size; the score drops as the jitter grows."""
    x, y, bw, bh = gt
    dx, dy = rng.normal(0, cfg.det_centre_jitter, 2)
    sx, sy = np.maximum(rng.normal(1, cfg.det_scale_jitter, 2), 0.5)
    cx, cy = x + bw / 2 + dx * bw, y + bh / 2 + dy * bh
    nw, nh = bw * sx, bh * sy
    error = math.sqrt(dx**2 + dy**2 + (sx - 1) ** 2 + (sy - 1) ** 2)
    score = float(np.clip(1.0 - 2.5 * error + rng.normal(0, 0.03), 0.5, 1.0))
    return _clip_box(cx - nw / 2, cy - nh / 2, cx + nw / 2, cy + nh / 2, w, h), score


def _false_positive(rng: np.random.Generator, gts: list[list[float]], w: int,
                    h: int) -> list[float] | None:
    """A random box overlapping no annotated person much (up to 10 tries), else None."""
    for _ in range(10):
        bw, bh = rng.uniform(0.1, 0.5) * w, rng.uniform(0.2, 0.7) * h
        x0, y0 = rng.uniform(-0.1 * w, w - 0.9 * bw), rng.uniform(-0.1 * h, h - 0.9 * bh)
        box = _clip_box(x0, y0, x0 + bw, y0 + bh, w, h)
        if box[2] >= 4 and box[3] >= 4 and all(_iou(box, g) < 0.3 for g in gts):
            return box
    return None


def _detections(cfg: SynthConfig, index: int, img: dict, anns: list[dict]) -> list[dict]:
    """COCO results entries for one val image: jittered true boxes plus false positives."""
    rng = _rng(cfg, "val", index, _STREAM_DETECTIONS)
    w, h = img["width"], img["height"]
    gts = [a["bbox"] for a in anns]
    found: list[tuple[list[float], float]] = []
    for gt in gts:
        if rng.random() < cfg.det_recall:
            found.append(_true_detection(rng, cfg, gt, w, h))
    for _ in range(int(rng.integers(0, cfg.max_false_positives + 1))):
        box = _false_positive(rng, gts, w, h)
        if box is not None:
            found.append((box, float(rng.uniform(0.05, 0.5))))
    return [{"image_id": img["id"], "category_id": 1, "bbox": box, "score": round(score, 4)}
            for box, score in found if box[2] > 0 and box[3] > 0]


# ----------------------------------------------------------------------------- writing


@dataclass(frozen=True)
class Sample:
    """One encoded image and its COCO records."""

    jpeg: bytes
    image: dict
    annotations: list[dict]


def render_sample(cfg: SynthConfig, split: str, index: int) -> Sample:
    scene = render_scene(cfg, split, index)
    img_id = image_id(split, index)
    h, w = scene.image.shape[:2]
    image = {"id": img_id, "file_name": f"{img_id:012d}.jpg", "width": w, "height": h}
    anns = [_annotation(p, img_id * 100 + k + 1, img_id, cfg.min_area)
            for k, p in enumerate(scene.people)]
    ok, buf = cv2.imencode(".jpg", scene.image, [cv2.IMWRITE_JPEG_QUALITY, cfg.jpeg_quality])
    if not ok:
        raise RuntimeError(f"JPEG encoding failed for {split} image {index}")
    return Sample(buf.tobytes(), image, [a for a in anns if a is not None])


def _coco_file(cfg: SynthConfig, split: str, images: list[dict], anns: list[dict]) -> dict:
    return {
        "info": {
            "description": f"poserepro synthetic persons, {split} split (COCO keypoints format)",
            "version": "1.0",
            "contributor": "poserepro pose.data.synth",
            "synth_config": dataclasses.asdict(cfg),
        },
        "licenses": [{"id": 1, "name": "synthetic data, no restrictions", "url": ""}],
        "images": images,
        "annotations": anns,
        "categories": [PERSON_CATEGORY],
    }


def _write_split(root: Path, cfg: SynthConfig, split: str, count: int,
                 bar: tqdm) -> list[dict]:
    """Write the split's images and annotation file; return its detections (val only)."""
    image_dir = root / "images" / split
    image_dir.mkdir(parents=True)
    images: list[dict] = []
    anns: list[dict] = []
    dets: list[dict] = []
    for index in range(count):
        sample = render_sample(cfg, split, index)
        (image_dir / sample.image["file_name"]).write_bytes(sample.jpeg)
        images.append(sample.image)
        anns.extend(sample.annotations)
        if split == "val":
            dets.extend(_detections(cfg, index, sample.image, sample.annotations))
        bar.update(1)
    write_json(root / "annotations" / f"person_keypoints_{split}.json",
               _coco_file(cfg, split, images, anns), indent=None)
    return dets


def write_synthetic_dataset(root: Path, cfg: SynthConfig, progress: bool = True,
                            extra: Callable[[Path], Any] | None = None) -> None:
    """Generate the dataset into `root` atomically: on any failure `root` is left untouched.
    `extra` writes more of the dataset (its classification splits) into the folder being made."""
    root = Path(root)
    total = cfg.num_train + cfg.num_val
    with atomic_dir(root) as tmp, tqdm(total=total, desc="synth", unit="img",
                                       disable=not progress) as bar:
        dets: list[dict] = []
        for split, count in (("train", cfg.num_train), ("val", cfg.num_val)):
            dets = _write_split(tmp, cfg, split, count, bar)
        write_json(tmp / "detections" / "person_detections_val.json", dets, indent=None)
        if extra is not None:
            extra(tmp)
