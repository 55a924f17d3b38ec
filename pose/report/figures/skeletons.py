"""Qualitative figures as HRNet + AM's Fig. 3: predicted skeletons drawn on val images, one row
for a paper's model and one for its baseline (the paper's headline claim in params/claims.yaml),
on the same images.

The images are the first N val image ids (in id order) that hold an annotated person, so every
grid of a scale shows the same images; the predictions are the run's results.json (the COCO
results the evaluation scored: detection boxes, flip test), those scoring at least the
threshold.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
from matplotlib import patheffects
from matplotlib.figure import Figure

from pose.data.keypoints import SKELETON
from pose.errors import DataError
from pose.report.figures.text import wrapped

OUTLINE = [patheffects.withStroke(linewidth=2.6, foreground="white")]  # seen on any image
JOINT_THRESHOLD = 0.2  # a joint's confidence below this is not drawn (HRNet's in_vis_thre)


def select_image_ids(annotations: dict, count: int) -> list[int]:
    """The first `count` image ids, in id order, with an annotated person (keypoints > 0)."""
    with_person = {a["image_id"] for a in annotations.get("annotations", [])
                   if a.get("num_keypoints", 0) > 0}
    return sorted(with_person)[:count]


def predictions_by_image(results: list[dict], image_ids: list[int], threshold: float
                         ) -> dict[int, list[np.ndarray]]:
    """{image id: [(17, 3) keypoints (x, y, confidence)]} of the predictions scoring at least
    `threshold`, on the chosen images."""
    chosen = set(image_ids)
    out: dict[int, list[np.ndarray]] = {i: [] for i in image_ids}
    for r in results:
        if r.get("image_id") in chosen and r.get("score", 0.0) >= threshold:
            out[r["image_id"]].append(np.asarray(r["keypoints"], dtype=float).reshape(-1, 3))
    return out


def read_results(path: Path) -> list[dict] | None:
    """A run's results.json, or None where the run has none."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise DataError(f"{path}: unreadable results ({e})") from e
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a list of COCO keypoint results")
    return data


def _draw_person(ax, keypoints: np.ndarray, color: str) -> None:
    visible = keypoints[:, 2] >= JOINT_THRESHOLD
    for a, b in SKELETON:
        if a < len(keypoints) and b < len(keypoints) and visible[a] and visible[b]:
            ax.plot(keypoints[[a, b], 0], keypoints[[a, b], 1], color=color, linewidth=1.4,
                    path_effects=OUTLINE)
    ax.scatter(keypoints[visible, 0], keypoints[visible, 1], s=6, color=color, zorder=3,
               edgecolors="white", linewidths=0.4)


def draw_skeletons(rows: dict[str, dict[int, list[np.ndarray]] | str], images: dict[int, Path],
                   title: str) -> Figure:
    """One row per model (a text value: the note why it has no predictions), one column per
    image, the same images in every row."""
    ids = list(images)
    fig = Figure(figsize=(2.6 * max(len(ids), 1) + 0.4, 2.9 * len(rows) + 0.6),
                 layout="constrained")
    axes = fig.subplots(len(rows), max(len(ids), 1), squeeze=False)
    colors = ["tab:red", "tab:blue"]
    for r, (name, people) in enumerate(rows.items()):
        for c, image_id in enumerate(ids or [None]):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            if image_id is not None:
                pixels = cv2.imread(str(images[image_id]), cv2.IMREAD_COLOR)
                if pixels is None:  # drawn without its image, saying so
                    ax.text(0.5, 0.05, f"{images[image_id].name}: no readable image",
                            transform=ax.transAxes, ha="center", fontsize=6)
                    ax.invert_yaxis()
                else:
                    ax.imshow(cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB))
            if isinstance(people, str):
                ax.text(0.5, 0.5, people, transform=ax.transAxes, ha="center", va="center",
                        fontsize=7, wrap=True, backgroundcolor="white")
            elif image_id is not None:
                for keypoints in people.get(image_id, []):
                    _draw_person(ax, keypoints, colors[r % len(colors)])
            if c == 0:
                ax.set_ylabel(name, fontsize=8)
            if r == 0 and image_id is not None:
                ax.set_title(f"image {image_id}", fontsize=7)
    fig.suptitle(wrapped(title, fig.get_figwidth(), 9), fontsize=9)
    return fig
