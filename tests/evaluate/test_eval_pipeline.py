"""End to end on the hand-written fixture: oracle AP, model predictions, detection boxes."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from pose.data.coco import load_instances
from pose.data.codec import HeatmapCodec
from pose.data.dataset import TopDownDataset
from pose.evaluate.inference import final_preds
from pose.evaluate.pipeline import (
    coco_keypoint_eval,
    keypoint_results,
    predict,
    predict_oracle,
)

CODEC = HeatmapCodec((192, 256), (48, 64), 2)


def test_oracle_with_gt_boxes_scores_near_perfect_ap(coco_fixture: SimpleNamespace) -> None:
    inst = load_instances(coco_fixture.ann_file, coco_fixture.image_dir)
    preds = predict_oracle(TopDownDataset(inst, CODEC, train=False), progress=False)
    assert len(preds) == len(inst) == 4
    stats = coco_keypoint_eval(coco_fixture.ann_file, keypoint_results(preds))
    assert stats["AP"] > 0.9
    # labelled joints come back within a few image pixels
    for p, i in zip(preds, inst, strict=True):
        vis = i.joints[:, 2] > 0
        assert np.abs(p["keypoints"][vis, :2] - i.joints[vis, :2]).max() < 3.0
        assert (p["keypoints"][vis, 2] == 1.0).all()


def test_oracle_decodes_the_dataset_targets(coco_fixture: SimpleNamespace) -> None:
    inst = load_instances(coco_fixture.ann_file, coco_fixture.image_dir)
    ds = TopDownDataset(inst, CODEC, train=False)
    preds = predict_oracle(ds, progress=False, chunk=3)
    for k in range(len(ds)):
        s = ds[k]
        coords, maxvals = final_preds(CODEC, s["target"].numpy()[None],
                                      s["meta"]["center"][None], s["meta"]["scale"][None])
        np.testing.assert_allclose(preds[k]["keypoints"][:, :2], coords[0], atol=1e-4)
        np.testing.assert_allclose(preds[k]["keypoints"][:, 2:], maxvals[0])


class TinyNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 17, 3, stride=4, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.conv(x))


@pytest.mark.parametrize("boxes", ["gt", "det"])
def test_predict_with_a_model_gives_evaluable_results(coco_fixture: SimpleNamespace,
                                                      boxes: str) -> None:
    torch.manual_seed(0)
    box_source = "gt" if boxes == "gt" else coco_fixture.det_file
    inst = load_instances(coco_fixture.ann_file, coco_fixture.image_dir, box_source)
    ds = TopDownDataset(inst, CODEC, train=False)
    model = TinyNet().train()
    preds = predict(model, ds, batch_size=3, flip_test=True, progress=False)
    assert model.training  # mode restored
    assert [p["index"] for p in preds] == list(range(len(inst)))
    p = preds[0]
    assert p["keypoints"].shape == (17, 3) and p["center"].shape == (2,)
    assert p["image_id"] == inst[0].image_id and p["box_score"] == inst[0].box_score
    assert p["area"] == pytest.approx(inst[0].area)
    results = keypoint_results(preds)
    assert 0 < len(results) <= len(preds)
    stats = coco_keypoint_eval(coco_fixture.ann_file, results)
    assert all(-1.0 <= v <= 1.0 for v in stats.values())


def test_predict_refuses_a_training_dataset(coco_fixture: SimpleNamespace) -> None:
    inst = load_instances(coco_fixture.ann_file, coco_fixture.image_dir)
    with pytest.raises(ValueError, match="train=False"):
        predict(TinyNet(), TopDownDataset(inst, CODEC, train=True), progress=False)
