"""Learning-rate schedules named by the papers' recipes."""

from __future__ import annotations

import pytest
import torch

from pose.config import ScheduleSpec
from pose.engine.optim import build_scheduler


def _lrs(spec: ScheduleSpec, epochs: int, lr: float = 1e-3) -> list[float]:
    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    sched = build_scheduler(opt, spec, epochs)
    out = []
    for _ in range(epochs):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.after_step()  # per-epoch schedules do not move within an epoch
        sched.after_epoch()
    return out


def test_step_schedule_drops_at_milestones() -> None:
    lrs = _lrs(ScheduleSpec(type="step", milestones=[3, 5], gamma=0.1), 6)
    assert lrs == pytest.approx([1e-3, 1e-3, 1e-3, 1e-4, 1e-4, 1e-5])


def test_sgdr_restarts_after_cycles_of_t0_then_doubling() -> None:
    # DNANet: T0 = 1, Tmul = 2 -> cycles of 1, 2, 4, 8 epochs; 255 epochs end a cycle.
    lrs = _lrs(ScheduleSpec(type="sgdr", t0=1, t_mult=2), 15)
    restarts = [e for e, lr in enumerate(lrs) if lr == pytest.approx(1e-3)]
    assert restarts == [0, 1, 3, 7]
    # within a cycle the lr falls monotonically (cosine), and never below eta_min
    assert lrs[7] > lrs[8] > lrs[12] > lrs[14] > 0.0
    assert lrs[2] == pytest.approx(0.5e-3)  # the middle of the 2-epoch cycle


def test_linear_schedule_reaches_zero_at_the_end() -> None:
    lrs = _lrs(ScheduleSpec(type="linear"), 4, lr=3e-4)
    assert lrs == pytest.approx([3e-4, 2.25e-4, 1.5e-4, 0.75e-4])
