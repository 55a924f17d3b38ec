"""MPII prediction files: the test-set submission and HRNet's validation `pred.mat`.

Both hold MATLAB's 1-based pixel coordinates; the functions here take and give 0-based ones.

- Submission (`pred`, what MPII's evaluation toolkit loads): an annolist-style struct array, one
  element per test image in order of first appearance in test.json, each with `image.name` and
  `annorect`, one rectangle per test.json person of that image in file order, each with
  `annopoints.point`, 16 structs (id = MPII joint id 0-15, x, y).
- `pred.mat` (`preds`, N × 16 × 2): what HRNet's mpii.py writes and evaluates for valid.json.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.io
from scipy.io.matlab import MatReadError

from pose.data.mpii import NUM_JOINTS, MpiiPerson
from pose.errors import DataError
from pose.io import atomic_path


def _check_preds(preds: np.ndarray, count: int | None, what: str) -> np.ndarray:
    preds = np.asarray(preds, dtype=np.float64)
    if preds.ndim != 3 or preds.shape[1:] != (NUM_JOINTS, 2):
        raise DataError(f"{what}: predictions have shape {preds.shape}, expected "
                        f"(N, {NUM_JOINTS}, 2)")
    if count is not None and len(preds) != count:
        raise DataError(f"{what}: {len(preds)} predictions for {count} annotated persons; "
                        "there must be one per entry, in the annotation file's order")
    return preds


def _save(path: Path, mdict: dict[str, Any]) -> None:
    with atomic_path(path) as tmp, tmp.open("wb") as f:
        scipy.io.savemat(f, mdict, do_compression=True, oned_as="row")


def _load(path: Path, key: str, **kwargs: Any) -> Any:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: prediction file not found")
    try:
        mat = scipy.io.loadmat(str(path), **kwargs)
    except (OSError, ValueError, TypeError, NotImplementedError, MatReadError) as exc:
        raise DataError(f"{path}: cannot read as a MATLAB file ({exc})") from exc
    if key not in mat:
        found = sorted(k for k in mat if not k.startswith("__"))
        raise DataError(f"{path}: no '{key}' variable (found {found})")
    return mat[key]


def _annorect(joints: np.ndarray) -> np.ndarray:
    """One person's rectangle: annopoints.point = 16 structs (id, x, y), 1-based."""
    points = np.empty((1, NUM_JOINTS), dtype=[("id", object), ("x", object), ("y", object)])
    for j, (x, y) in enumerate(joints):
        points["id"][0, j] = float(j)
        points["x"][0, j] = float(x) + 1.0
        points["y"][0, j] = float(y) + 1.0
    return points


def write_mpii_predictions(path: Path, entries: Sequence[MpiiPerson], preds: np.ndarray) -> None:
    """Write the test-set submission (`pred`) for test.json's `entries` and their 0-based
    predictions (N, 16, 2), atomically."""
    preds = _check_preds(preds, len(entries), str(path))
    by_image: dict[str, list[int]] = {}
    for i, entry in enumerate(entries):
        by_image.setdefault(entry.image, []).append(i)
    pred = np.empty((1, len(by_image)), dtype=[("image", object), ("annorect", object)])
    for k, (name, persons) in enumerate(by_image.items()):
        rects = np.empty((1, len(persons)), dtype=[("annopoints", object)])
        for r, i in enumerate(persons):
            rects["annopoints"][0, r] = {"point": _annorect(preds[i])}
        pred["image"][0, k] = {"name": name}
        pred["annorect"][0, k] = rects
    _save(Path(path), {"pred": pred})


def _items(value: Any) -> list[Any]:
    """A loaded (squeezed) struct array as a list: one struct loads as itself, not an array."""
    if isinstance(value, np.ndarray):
        return list(value.ravel())
    return [value]


def read_mpii_predictions(path: Path) -> tuple[list[str], np.ndarray]:
    """Read a submission file back: per person (in annolist order) its image name and its
    0-based joints (N, 16, 2); a joint without a point of its id is NaN."""
    pred = _load(path, "pred", struct_as_record=False, squeeze_me=True)
    names: list[str] = []
    joints: list[np.ndarray] = []
    try:
        for image in _items(pred):
            for rect in _items(image.annorect):
                xy = np.full((NUM_JOINTS, 2), np.nan)
                for point in _items(rect.annopoints.point):
                    xy[int(point.id)] = (float(point.x) - 1.0, float(point.y) - 1.0)
                names.append(str(image.image.name))
                joints.append(xy)
    except (AttributeError, IndexError, TypeError, ValueError) as exc:
        raise DataError(f"{path}: 'pred' is not an annolist of image.name and "
                        f"annorect.annopoints.point (id, x, y) ({exc})") from exc
    return names, np.asarray(joints, dtype=np.float64).reshape(-1, NUM_JOINTS, 2)


def write_pred_mat(path: Path, preds: np.ndarray) -> None:
    """HRNet's pred.mat: `preds` = the 0-based predictions (N, 16, 2) + 1, atomically."""
    preds = _check_preds(preds, None, str(path))
    _save(Path(path), {"preds": preds + 1.0})


def read_pred_mat(path: Path) -> np.ndarray:
    """pred.mat's `preds` back as 0-based predictions (N, 16, 2)."""
    preds = np.asarray(_load(path, "preds"), dtype=np.float64)
    return _check_preds(preds, None, str(path)) - 1.0
