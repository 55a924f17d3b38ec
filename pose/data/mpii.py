"""MPII Human Pose in the layout the field uses (the official HRNet code's `data/mpii/`).

```
<root>/images/*.jpg              the official mpii_human_pose_v1 images
<root>/annot/train.json          JSON lists of persons: image, center, scale, joints, joints_vis
<root>/annot/valid.json
<root>/annot/test.json           image, center, scale only
<root>/annot/gt_valid.mat        the validation ground truth the PCKh evaluation reads
```

The JSON files keep MPII's MATLAB conventions: 1-based pixel coordinates, and `scale` is the
person height / 200. Crops follow HRNet's mpii.py: the centre moves down by 15·scale and the
scale grows by 1.25 so that the feet stay inside, then everything becomes 0-based.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.io
from scipy.io.matlab import MatReadError

from pose.data.coco import Instance
from pose.data.transforms import PIXEL_STD
from pose.errors import DataError

NAMES: tuple[str, ...] = (
    "r_ankle", "r_knee", "r_hip", "l_hip", "l_knee", "l_ankle", "pelvis", "thorax",
    "upper_neck", "head_top", "r_wrist", "r_elbow", "r_shoulder", "l_shoulder", "l_elbow",
    "l_wrist",
)
NUM_JOINTS = len(NAMES)

FLIP_PAIRS: tuple[tuple[int, int], ...] = ((0, 5), (1, 4), (2, 3), (10, 15), (11, 14), (12, 13))

# Half-body augmentation groups of HRNet's mpii.py (pelvis counts as lower body there).
UPPER_BODY_IDS: tuple[int, ...] = (7, 8, 9, 10, 11, 12, 13, 14, 15)
LOWER_BODY_IDS: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6)

# The columns of the MPII PCKh tables, grouped as the benchmark's evaluation toolkit groups them
# (evalMPII's genTablePCK, which scores the test set of DANet's Table VIII): a group's figure is
# the plain mean of its joints' PCKh, and Head is upper neck and head top together. (HRNet's
# mpii.py prints the head top alone under "Head"; its other columns are these.)
TABLE_GROUPS: dict[str, tuple[int, ...]] = {
    "Head": (8, 9),
    "Shoulder": (12, 13),
    "Elbow": (11, 14),
    "Wrist": (10, 15),
    "Hip": (2, 3),
    "Knee": (1, 4),
    "Ankle": (0, 5),
}
# Joints left out of the Mean: pelvis and thorax, which the toolkit's 14-joint matrix drops.
MEAN_EXCLUDED: tuple[int, ...] = (6, 7)

# Names gt_valid.mat's `dataset_joints` gives the joints the evaluation looks up, by index.
GT_JOINT_NAMES: dict[int, str] = {
    0: "rank", 1: "rkne", 2: "rhip", 3: "lhip", 4: "lkne", 5: "lank", 8: "neck", 9: "head",
    10: "rwri", 11: "relb", 12: "rsho", 13: "lsho", 14: "lelb", 15: "lwri",
}

SPLIT_FILES: dict[str, tuple[str, ...]] = {
    "train": ("train.json",),
    "valid": ("valid.json",),
    "test": ("test.json",),
    "trainval": ("train.json", "valid.json"),
}
GT_VALID_FILE = "gt_valid.mat"

CENTER_SHIFT = 15.0  # centre moved down by this × scale (HRNet mpii.py)
SCALE_PADDING = 1.25


@dataclass(frozen=True)
class MpiiPerson:
    """One entry of an annot JSON file, as stored: 1-based coordinates, scale = height / 200.

    `joints` (16, 2) and `joints_vis` (16,) are None in test.json.
    """

    image: str
    center: np.ndarray
    scale: float
    joints: np.ndarray | None
    joints_vis: np.ndarray | None


@dataclass(frozen=True)
class MpiiGroundTruth:
    """gt_valid.mat, person-first: `joints` (N, 16, 2) 1-based, `missing` (N, 16) bool,
    `headboxes` (N, 2, 2) as [[x1, y1], [x2, y2]] 1-based, `joint_names` its 16 names."""

    joints: np.ndarray
    missing: np.ndarray
    headboxes: np.ndarray
    joint_names: tuple[str, ...]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _numbers(value: Any, shape: tuple[int, ...]) -> np.ndarray | None:
    """`value` as a float array of `shape`, or None when it is not numbers of that shape."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return arr if arr.shape == shape else None


def _parse_person(entry: Any, where: str, need_joints: bool) -> MpiiPerson:
    if not isinstance(entry, dict):
        raise DataError(f"{where}: expected an object with image, center, scale, got "
                        f"{type(entry).__name__}")
    need = ("image", "center", "scale") + (("joints", "joints_vis") if need_joints else ())
    missing = [key for key in need if key not in entry]
    if missing:
        raise DataError(f"{where}: lacks {', '.join(repr(k) for k in missing)}; an MPII entry "
                        f"needs {', '.join(need)} (HRNet's annot format)")
    if not isinstance(entry["image"], str) or not entry["image"]:
        raise DataError(f"{where}: 'image' must be an image file name, got {entry['image']!r}")
    center = _numbers(entry["center"], (2,))
    if center is None:
        raise DataError(f"{where}: 'center' must be [x, y], got {entry['center']!r:.60}")
    if not _is_number(entry["scale"]) or entry["scale"] <= 0:
        raise DataError(f"{where}: 'scale' must be a positive number (person height / 200), "
                        f"got {entry['scale']!r}")
    joints = vis = None
    if "joints" in entry or "joints_vis" in entry:
        raw = entry.get("joints")
        rows = len(raw) if isinstance(raw, list) else None
        joints = _numbers(raw, (NUM_JOINTS, 2))
        if joints is None:
            got = f"{rows} rows" if rows is not None else type(raw).__name__
            hint = " (17 rows: COCO keypoints, not MPII?)" if rows == 17 else ""
            raise DataError(f"{where}: 'joints' must be {NUM_JOINTS} [x, y] rows in MPII "
                            f"order, got {got}{hint}")
        vis = _numbers(entry.get("joints_vis"), (NUM_JOINTS,))
        if vis is None:
            raise DataError(f"{where}: 'joints_vis' must be {NUM_JOINTS} flags (0 or 1), got "
                            f"{entry.get('joints_vis')!r:.60}")
    return MpiiPerson(entry["image"], center, float(entry["scale"]), joints, vis)


def read_mpii_annotations(path: Path, need_joints: bool = True) -> list[MpiiPerson]:
    """Read and check one annot JSON file; need_joints=False for test.json (no labels).

    A file of another dataset (COCO's annotation object, 17-joint entries) or an entry without
    a required key is a DataError naming the file, the entry index and what was expected.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: MPII annotation file not found")
    try:
        with path.open(encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: cannot read MPII annotation file as JSON ({exc})") from exc
    if not isinstance(data, list):
        hint = ""
        if isinstance(data, dict) and {"images", "annotations"} <= data.keys():
            hint = "; this is a COCO annotation file"
        raise DataError(f"{path}: not an MPII annotation file: expected a JSON list of persons "
                        f"(image, center, scale, joints, joints_vis), got "
                        f"{type(data).__name__}{hint}")
    return [_parse_person(entry, f"{path}: entry {i}", need_joints)
            for i, entry in enumerate(data)]


def person_center_scale(person: MpiiPerson) -> tuple[np.ndarray, np.ndarray]:
    """The crop of HRNet's mpii.py: centre 15·scale lower and scale × 1.25 (unless the centre
    is the -1 placeholder), then the centre made 0-based. Returns center (2,), scale (2,)."""
    center = person.center.astype(np.float64).copy()
    scale = np.array([person.scale, person.scale], dtype=np.float64)
    if center[0] != -1:
        center[1] += CENTER_SHIFT * scale[1]
        scale *= SCALE_PADDING
    return center - 1.0, scale


def person_instance(person: MpiiPerson, image_dir: Path, image_id: int) -> Instance:
    """A top-down Instance: 0-based joints (16, 3) = (x, y, visible), zeros for test entries."""
    center, scale = person_center_scale(person)
    joints = np.zeros((NUM_JOINTS, 3), dtype=np.float64)
    if person.joints is not None and person.joints_vis is not None:
        joints[:, :2] = person.joints - 1.0
        joints[:, 2] = (person.joints_vis > 0).astype(np.float64)
    area = float(scale[0] * scale[1] * PIXEL_STD ** 2)
    return Instance(int(image_id), Path(image_dir) / person.image, center.astype(np.float32),
                    scale.astype(np.float32), joints, 1.0, area)


def split_files(root: Path, split: str) -> list[Path]:
    """The annot JSON files of a split: train, valid, test or trainval (train + valid)."""
    if split not in SPLIT_FILES:
        raise DataError(f"unknown MPII split {split!r}: expected one of {sorted(SPLIT_FILES)}")
    return [Path(root) / "annot" / name for name in SPLIT_FILES[split]]


def mpii_instances(persons: list[MpiiPerson], image_dir: Path) -> list[Instance]:
    """Instances of `persons` in order; image_id is the position in that list, so the
    predictions of instance i belong to entry i (the order the prediction files need)."""
    return [person_instance(p, image_dir, i) for i, p in enumerate(persons)]


def load_mpii_split(root: Path, split: str) -> list[Instance]:
    """Instances of a split in file order (see mpii_instances)."""
    persons = [p for f in split_files(root, split)
               for p in read_mpii_annotations(f, need_joints=split != "test")]
    return mpii_instances(persons, Path(root) / "images")


def _names(value: Any, path: Path) -> tuple[str, ...]:
    """dataset_joints as strings, whether stored as a cell array or a char matrix."""
    out = []
    for item in np.asarray(value, dtype=object).ravel():
        flat = np.asarray(item).ravel()
        out.append(str(flat[0]).strip() if flat.size == 1 else str(item).strip())
    if len(out) != NUM_JOINTS:
        raise DataError(f"{path}: 'dataset_joints' has {len(out)} names, expected "
                        f"{NUM_JOINTS} MPII joints")
    return tuple(out)


def read_mpii_gt(path: Path) -> MpiiGroundTruth:
    """Read gt_valid.mat (dataset_joints, jnt_missing 16×N, pos_gt_src 16×2×N, headboxes_src
    2×2×N) and check that its joints are MPII's, in MPII's order."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: MPII ground-truth file not found")
    try:
        mat = scipy.io.loadmat(str(path))
    except (OSError, ValueError, TypeError, NotImplementedError, MatReadError) as exc:
        raise DataError(f"{path}: cannot read as a MATLAB file ({exc})") from exc
    keys = ("dataset_joints", "jnt_missing", "pos_gt_src", "headboxes_src")
    absent = [k for k in keys if k not in mat]
    if absent:
        raise DataError(f"{path}: lacks {', '.join(absent)}; an MPII ground-truth file holds "
                        f"{', '.join(keys)}")
    names = _names(mat["dataset_joints"], path)
    wrong = [f"{i}: {names[i]!r} (expected {n!r})" for i, n in GT_JOINT_NAMES.items()
             if names[i] != n]
    if wrong:
        raise DataError(f"{path}: 'dataset_joints' is not in MPII joint order: "
                        f"{'; '.join(wrong)}")
    missing, pos, boxes = (np.asarray(mat[k], dtype=np.float64) for k in keys[1:])
    n = pos.shape[-1] if pos.ndim == 3 else -1
    expected = {"pos_gt_src": (pos, (NUM_JOINTS, 2, n)),
                "jnt_missing": (missing, (NUM_JOINTS, n)),
                "headboxes_src": (boxes, (2, 2, n))}
    for key, (arr, shape) in expected.items():
        if n < 0 or arr.shape != shape:
            raise DataError(f"{path}: '{key}' has shape {arr.shape}, expected "
                            f"{'x'.join(str(s) if s >= 0 else 'N' for s in shape)}")
    return MpiiGroundTruth(joints=pos.transpose(2, 0, 1), missing=missing.T > 0,
                           headboxes=boxes.transpose(2, 0, 1), joint_names=names)


def _missing_images(persons: list[MpiiPerson], image_dir: Path) -> list[str]:
    names = dict.fromkeys(p.image for p in persons)
    return [name for name in names if not (image_dir / name).is_file()]


def check_mpii_layout(root: Path) -> dict[str, int]:
    """Check a data/mpii folder for the fetch stage: the three annot files load and are MPII,
    gt_valid.mat matches valid.json person for person, and every image any split references is
    in images/. Returns the counts; raises a DataError naming the first problem."""
    root = Path(root)
    image_dir = root / "images"
    if not image_dir.is_dir():
        raise DataError(f"{image_dir}: MPII image folder not found (unpack "
                        f"mpii_human_pose_v1.tar.gz into {root})")
    counts: dict[str, int] = {}
    for split in ("train", "valid", "test"):
        (path,) = split_files(root, split)
        persons = read_mpii_annotations(path, need_joints=split != "test")
        if not persons:
            raise DataError(f"{path}: holds no persons")
        absent = _missing_images(persons, image_dir)
        if absent:
            raise DataError(f"{path}: {len(absent)} referenced image(s) missing from "
                            f"{image_dir}, e.g. {', '.join(absent[:5])}")
        counts[f"{split}_persons"] = len(persons)
        counts[f"{split}_images"] = len({p.image for p in persons})
    gt_path = root / "annot" / GT_VALID_FILE
    gt = read_mpii_gt(gt_path)
    if len(gt.joints) != counts["valid_persons"]:
        raise DataError(f"{gt_path}: {len(gt.joints)} persons, but valid.json lists "
                        f"{counts['valid_persons']}: the two files must describe the same "
                        "persons in the same order")
    counts["gt_valid_persons"] = len(gt.joints)
    counts["image_files"] = sum(1 for _ in image_dir.glob("*.jpg"))
    return counts
