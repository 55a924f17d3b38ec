"""Evaluation entry points: model (or oracle) predictions → COCO results → COCOeval statistics.

    preds = predict(model, TopDownDataset(load_instances(ann, images, boxes), codec, train=False))
    stats = coco_keypoint_eval(ann, keypoint_results(preds))
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from pose.data.dataset import TopDownDataset
from pose.evaluate.coco_eval import coco_keypoint_eval, keypoint_results, rescore
from pose.evaluate.inference import final_preds, model_heatmaps, needs_flip_shift
from pose.evaluate.oracle import predict_oracle
from pose.io import write_json

__all__ = [
    "coco_keypoint_eval",
    "keypoint_results",
    "predict",
    "predict_oracle",
    "rescore",
    "write_keypoint_results",
]


@torch.no_grad()
def predict(model: torch.nn.Module, dataset: TopDownDataset, batch_size: int = 32,
            flip_test: bool = True, num_workers: int = 0, device: str = "cpu",
            progress: bool = True, blur_kernel: int = 0, offset: str = "neighbour"
            ) -> list[dict]:
    """Per-instance predictions of a test-mode dataset: image_id, keypoints (J, 3) = image x, y
    and heatmap maxval, center, scale, area, box_score (and the dataset index).

    The model is moved to `device` and run in eval mode (its previous mode is restored). The
    flip test swaps the dataset's own left/right pairs (COCO's or MPII's).
    """
    if dataset.train:
        raise ValueError("predict needs a test-mode dataset (train=False): training samples "
                         "are augmented crops")
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers,
                        pin_memory=str(device).startswith("cuda"))
    shift = needs_flip_shift(dataset.codec)
    was_training = model.training
    model.to(device).eval()
    preds: list[dict] = []
    try:
        for batch in tqdm(loader, desc="predict", disable=not progress, leave=False):
            images = batch["image"].to(device, non_blocking=True)
            heatmaps = model_heatmaps(model, images, flip_test, dataset.keypoints.flip_pairs,
                                      shift=shift).float().cpu().numpy()
            meta = {k: v.numpy() for k, v in batch["meta"].items()}
            coords, maxvals = final_preds(dataset.codec, heatmaps, meta["center"], meta["scale"],
                                          blur_kernel, offset)
            keypoints = np.concatenate([coords, maxvals], axis=2)
            for k in range(len(keypoints)):
                preds.append({
                    "index": int(meta["index"][k]),
                    "image_id": int(meta["image_id"][k]),
                    "keypoints": keypoints[k],
                    "center": meta["center"][k],
                    "scale": meta["scale"][k],
                    "area": float(meta["area"][k]),
                    "box_score": float(meta["box_score"][k]),
                })
    finally:
        model.train(was_training)
    return preds


def write_keypoint_results(path: Path, results: list[dict]) -> None:
    """Write a COCO keypoint results list atomically (the file coco_keypoint_eval accepts)."""
    write_json(path, results, indent=None)
