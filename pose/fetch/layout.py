"""The final layout check of a source's folder: what must be true of the data before anything
trains on it (image counts, annotation files of the right dataset, loadable checkpoints)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pose.errors import DataError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def count_images(folder: Path) -> int:
    return sum(1 for p in folder.iterdir()
               if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))


def _check_images(folder: Path, expected: int | None, shown: Path) -> dict:
    found = count_images(folder)
    if (expected is not None and found != expected) or found == 0:
        want = expected if expected is not None else "at least 1"
        raise DataError(f"{shown}: {found} images, expected {want}; the folder is incomplete or "
                        "not this dataset's")
    return {"images": found}


def _load_json(path: Path, shown: Path, what: str) -> Any:
    if not path.is_file():
        raise DataError(f"{shown}: {what} not found")
    try:
        with path.open(encoding="utf-8") as f:
            return json.load(f)
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise DataError(f"{shown}: cannot read {what} as JSON ({err})") from err


def _check_coco_keypoints(folder: Path, files: dict[str, int | None], shown: Path) -> dict:
    """Each file must be a COCO person-keypoints file (17 named joints) with its image count: an
    instances or captions file, or another dataset's, is rejected here."""
    from pose.data.keypoints import NAMES

    out = {}
    for name, expected in files.items():
        data = _load_json(folder / name, shown / name, "COCO keypoints annotation file")
        cats = data.get("categories") if isinstance(data, dict) else None
        person = next((c for c in cats or [] if isinstance(c, dict) and c.get("id") == 1), None)
        if not isinstance(data, dict) or not isinstance(data.get("images"), list) or \
                person is None or tuple(person.get("keypoints") or ()) != NAMES:
            raise DataError(
                f"{shown / name}: not a COCO person-keypoints file (expected 'images', "
                "'annotations' and category 1 'person' with the 17 COCO keypoints)"
            )
        count = len(data["images"])
        if expected is not None and count != expected:
            raise DataError(f"{shown / name}: {count} images, expected {expected}; is it the "
                            "right split?")
        out[name] = {"images": count, "annotations": len(data.get("annotations") or [])}
    return out


def _check_image_info(folder: Path, files: dict[str, int | None], shown: Path) -> dict:
    out = {}
    for name, expected in files.items():
        data = _load_json(folder / name, shown / name, "COCO image-info file")
        images = data.get("images") if isinstance(data, dict) else None
        if not isinstance(images, list) or (expected is not None and len(images) != expected):
            found = len(images) if isinstance(images, list) else "no"
            raise DataError(f"{shown / name}: {found} images, expected {expected}; not the "
                            "COCO image-info file named")
        out[name] = {"images": len(images)}
    return out


def _check_detections(folder: Path, files: list[str], shown: Path) -> dict:
    """A COCO results-format list of boxes: image_id, category_id, bbox [x, y, w, h], score."""
    out = {}
    for name in files:
        data = _load_json(folder / name, shown / name, "person detection file")
        ok = isinstance(data, list) and data and all(
            isinstance(d, dict) and {"image_id", "category_id", "bbox", "score"} <= d.keys()
            and isinstance(d["bbox"], list) and len(d["bbox"]) == 4 for d in data
        )
        if not ok:
            raise DataError(f"{shown / name}: not a person detection file (expected a JSON list "
                            "of {image_id, category_id, bbox [x, y, w, h], score})")
        out[name] = {"detections": len(data),
                     "images": len({d["image_id"] for d in data})}
    return out


def _check_state_dict(folder: Path, files: list[str], shown: Path) -> dict:
    from pose.models.pretrained import read_state_dict

    out = {}
    for name in files:
        try:
            state = read_state_dict(folder / name)
        except Exception as err:
            raise DataError(f"{shown / name}: {err}") from err
        out[name] = {"tensors": len(state)}
    return out


def _check_plain_state_dicts(folder: Path, files: list[str], shown: Path) -> dict:
    """Files of which any subset may be placed (a `partial` source): each present one must load
    as a plain state dict (weights_only); the absent ones are listed, and at least one must be
    there."""
    from pose.engine.state_dict import read_plain_state_dict
    from pose.errors import PoseError

    out: dict[str, Any] = {}
    absent = [name for name in files if not (folder / name).is_file()]
    if len(absent) == len(files):
        raise DataError(f"{shown}: none of {', '.join(files)} is there")
    for name in files:
        if name in absent:
            continue
        try:
            state = read_plain_state_dict(folder / name)
        except PoseError as err:
            raise DataError(str(err).replace(str(folder / name), str(shown / name))) from err
        out[name] = {"tensors": len(state)}
    if absent:
        out["absent"] = absent
    return out


def _check_mpii(folder: Path, spec: Any, shown: Path) -> dict:
    """The field's MPII annotation folder: train/valid/test JSON (16 joints) and gt_valid.mat,
    whose persons must be valid.json's."""
    from pose.data.mpii import GT_VALID_FILE, read_mpii_annotations, read_mpii_gt

    out = {}
    for split in ("train", "valid", "test"):
        people = read_mpii_annotations(folder / f"{split}.json", need_joints=split != "test")
        out[f"{split}_persons"] = len(people)
    gt = read_mpii_gt(folder / GT_VALID_FILE)
    if len(gt.joints) != out["valid_persons"]:
        raise DataError(f"{shown / GT_VALID_FILE}: {len(gt.joints)} persons, valid.json has "
                        f"{out['valid_persons']}; the two files are not from the same release")
    return out


def _check_image_folders(folder: Path, splits: Any, shown: Path) -> dict:
    """Classification splits in the ImageFolder layout (`<split>/<class>/<image>`): per split
    the number of class folders and of images, and the same classes in every split (a val folder
    still flat, as ILSVRC2012_img_val.tar unpacks, is rejected here)."""
    if not isinstance(splits, dict) or not splits:
        raise DataError(f"{shown}: image_folders check needs {{split: {{classes, images}}}}")
    out, first = {}, None
    for split, want in splits.items():
        root = folder / split
        if not root.is_dir():
            raise DataError(f"{shown / split}: not a folder (expected {split}/<class>/<image>)")
        classes = sorted(p.name for p in root.iterdir() if p.is_dir())
        images = sum(count_images(root / c) for c in classes)
        for key, found in (("classes", len(classes)), ("images", images)):
            if found != want.get(key, found) or found == 0:
                raise DataError(f"{shown / split}: {found} {key}, expected {want.get(key)}; "
                                "the folder is incomplete or not in the ImageFolder layout "
                                f"({split}/<class>/<image>)")
        if first is not None and classes != first[1]:
            raise DataError(f"{shown / split}: its class folders differ from {first[0]}'s")
        first = first or (split, classes)
        out[split] = {"classes": len(classes), "images": images}
    return out


CHECKS: dict[str, Callable[[Path, Any, Path], dict]] = {
    "images": _check_images,
    "coco_keypoints": _check_coco_keypoints,
    "image_info": _check_image_info,
    "detections": _check_detections,
    "state_dict": _check_state_dict,
    "mpii_annotations": _check_mpii,
    "plain_state_dicts": _check_plain_state_dicts,
    "image_folders": _check_image_folders,
}


def check_layout(folder: Path, checks: dict, shown: Path | None = None) -> dict:
    """Run the source's checks on `folder` (a staging folder, or the final one on a re-run);
    `shown` is the path the messages name (the final one). Returns what was counted."""
    shown = shown or folder
    if not folder.is_dir():
        raise DataError(f"{shown}: not a folder")
    return {kind: CHECKS[kind](folder, arg, shown) for kind, arg in checks.items()}
