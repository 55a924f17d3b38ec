"""Top-1 / top-5 single-crop evaluation of an image classifier (DANet Table X). Table X prints
error rates, so the stats are errors in percent (100 - accuracy); the prediction file holds each
image's top-5 classes."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

TOPK = (1, 5)


def topk_correct(logits: torch.Tensor, labels: torch.Tensor, ks: Sequence[int] = TOPK
                 ) -> dict[int, int]:
    """Samples whose label is among the k highest logits, per k (k capped at the classes)."""
    top = logits.topk(min(max(ks), logits.shape[1]), dim=1).indices
    hit = top == labels[:, None]
    return {k: int(hit[:, :k].any(dim=1).sum()) for k in ks}


def error_stats(correct: dict[int, int], total: int) -> dict[str, float]:
    """{'top1_error', 'top5_error'} in percent, and the images counted."""
    if total < 1:
        raise ValueError("no images were evaluated")
    return {**{f"top{k}_error": 100.0 * (1 - n / total) for k, n in correct.items()},
            "images": float(total)}


def evaluate_classifier(model: torch.nn.Module, dataset: Dataset, batch_size: int,
                        num_workers: int, progress: bool = True
                        ) -> tuple[dict[str, float], list[dict]]:
    """Stats over the whole split and per-image predictions ({'index', 'label', 'top5'})."""
    device = next(model.parameters()).device
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    correct = dict.fromkeys(TOPK, 0)
    total, predictions = 0, []
    model.eval()
    with torch.no_grad():
        for batch in tqdm(loader, desc="top-k", disable=not progress, leave=False):
            logits = model(batch["image"].to(device)).float().cpu()
            if not torch.isfinite(logits).all():
                raise ValueError("the classifier gave non-finite logits")
            labels = batch["target"]
            for k, n in topk_correct(logits, labels).items():
                correct[k] += n
            top = logits.topk(min(max(TOPK), logits.shape[1]), dim=1).indices
            predictions += [{"index": total + i, "label": int(labels[i]), "top5": top[i].tolist()}
                            for i in range(len(labels))]
            total += len(labels)
    return error_stats(correct, total), predictions
