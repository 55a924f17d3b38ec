"""Top-1 / top-5 errors of a classifier (DANet Table X prints errors, in percent)."""

from __future__ import annotations

import pytest
import torch

from pose.evaluate.topk import error_stats, topk_correct


def test_topk_counts_a_label_among_the_k_highest_logits() -> None:
    logits = torch.tensor([[0.0, 5.0, 4.0, 3.0, 2.0, 1.0, -1.0],    # label 1: top-1
                           [9.0, 8.0, 7.0, 6.0, 0.0, -1.0, 5.0],    # label 6: 5th highest
                           [9.0, 8.0, 7.0, 6.0, 5.0, 4.0, 0.0]])    # label 6: last
    correct = topk_correct(logits, torch.tensor([1, 6, 6]))
    assert correct == {1: 1, 5: 2}
    stats = error_stats(correct, 3)
    assert stats["top1_error"] == pytest.approx(200 / 3)
    assert stats["top5_error"] == pytest.approx(100 / 3)


def test_top5_with_fewer_classes_counts_every_sample() -> None:
    assert topk_correct(torch.randn(4, 3), torch.tensor([0, 1, 2, 0]))[5] == 4
