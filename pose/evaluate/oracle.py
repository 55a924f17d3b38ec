"""The oracle: heatmaps rendered from the ground-truth joints instead of a model's, decoded on
the same path. Its AP is the ceiling the codec and the crop geometry allow (quantisation to the
heatmap grid, joints outside the crop), a check of the pipeline that needs no training."""

from __future__ import annotations

import numpy as np
from tqdm import tqdm

from pose.data.dataset import TopDownDataset
from pose.data.transforms import affine_points, get_affine_transform
from pose.evaluate.inference import final_preds


def predict_oracle(dataset: TopDownDataset, progress: bool = True,
                   chunk: int = 256) -> list[dict]:
    """Per-instance predictions like `predict`, from codec.encode of each instance's joints in
    crop coordinates (test crop: box center and scale, no rotation; images are not read)."""
    codec = dataset.codec
    preds: list[dict] = []
    starts = range(0, len(dataset.instances), chunk)
    for start in tqdm(starts, desc="oracle", disable=not progress, leave=False):
        batch = dataset.instances[start:start + chunk]
        heatmaps = []
        for inst in batch:
            trans = get_affine_transform(inst.center, inst.scale, 0, codec.input_size)
            vis = inst.joints[:, 2]
            joints = np.where(vis[:, None] > 0, affine_points(inst.joints[:, :2], trans),
                              inst.joints[:, :2])
            heatmaps.append(codec.encode(joints, vis)[0])
        centers = np.stack([inst.center for inst in batch])
        scales = np.stack([inst.scale for inst in batch])
        coords, maxvals = final_preds(codec, np.stack(heatmaps), centers, scales)
        for k, inst in enumerate(batch):
            preds.append({
                "index": start + k,
                "image_id": int(inst.image_id),
                "keypoints": np.concatenate([coords[k], maxvals[k]], axis=1),
                "center": centers[k].astype(np.float32),
                "scale": scales[k].astype(np.float32),
                "area": float(inst.area),
                "box_score": float(inst.box_score),
            })
    return preds
