"""The keypoint set of a dataset: how many joints, which swap under a flip, which make up the
upper and lower body. The dataset's `source` picks it, so COCO-format data (COCO itself and the
synthetic set) and MPII run through the same dataset, augmentation, flip test and model code."""

from __future__ import annotations

from dataclasses import dataclass

from pose.data import keypoints as coco
from pose.data import mpii
from pose.errors import ConfigError


@dataclass(frozen=True)
class KeypointSet:
    """One dataset's joints: names in index order, left/right flip pairs, half-body groups."""

    name: str
    names: tuple[str, ...]
    flip_pairs: tuple[tuple[int, int], ...]
    upper_body_ids: tuple[int, ...]
    lower_body_ids: tuple[int, ...]

    @property
    def num_joints(self) -> int:
        return len(self.names)


COCO = KeypointSet("coco", coco.NAMES, coco.FLIP_PAIRS, coco.UPPER_BODY_IDS,
                   coco.LOWER_BODY_IDS)
MPII = KeypointSet("mpii", mpii.NAMES, mpii.FLIP_PAIRS, mpii.UPPER_BODY_IDS,
                   mpii.LOWER_BODY_IDS)

# params/datasets.yaml `source` -> its keypoint set (the synthetic generator writes COCO's).
BY_SOURCE: dict[str, KeypointSet] = {"synthetic": COCO, "coco": COCO, "mpii": MPII}


def keypoint_set(source: str) -> KeypointSet:
    """The keypoint set of a dataset `source`; an unknown source is a ConfigError."""
    try:
        return BY_SOURCE[source]
    except KeyError:
        raise ConfigError(f"dataset source {source!r} has no keypoint set; expected one of "
                          f"{sorted(BY_SOURCE)}") from None
