"""The real-data path on the COCO val2017 sample beside the repository (../shared/coco_sample),
when it is there; the project itself never depends on it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pose.data.coco import load_instances
from pose.data.codec import HeatmapCodec
from pose.data.dataset import TopDownDataset
from pose.evaluate.pipeline import coco_keypoint_eval, keypoint_results, predict_oracle

SAMPLE = Path(__file__).resolve().parents[2].parent / "shared" / "coco_sample"
ANN = SAMPLE / "test_coco.json"
DETS = SAMPLE / "test_coco_det_AP_H_56.json"

pytestmark = pytest.mark.skipif(not ANN.is_file(), reason=f"COCO sample not present at {SAMPLE}")


def test_sample_instances_with_gt_and_detection_boxes() -> None:
    gt = load_instances(ANN, SAMPLE)
    assert 0 < len(gt) <= 14
    assert {i.image_id for i in gt} <= {785, 40083, 196141, 197388}
    assert all(i.image_path.is_file() for i in gt)
    det = load_instances(ANN, SAMPLE, DETS)
    assert len(det) == 118  # all are persons with a score above 0
    assert all(0 < i.box_score <= 1 for i in det)
    ds = TopDownDataset(det[:2], HeatmapCodec((192, 256), (48, 64), 2), train=False)
    assert ds[0]["image"].shape == (3, 256, 192)


@pytest.mark.parametrize("sizes", [((192, 256), (48, 64), 2), ((288, 384), (72, 96), 3)])
def test_sample_oracle_ap_with_gt_boxes(sizes) -> None:
    ds = TopDownDataset(load_instances(ANN, SAMPLE), HeatmapCodec(*sizes), train=False)
    stats = coco_keypoint_eval(ANN, keypoint_results(predict_oracle(ds, progress=False)))
    assert stats["AP"] > 0.9
    assert np.isfinite(list(stats.values())).all()
