"""Per-iteration learning-rate schedules (ScheduleSpec.update: iteration): SGDR's T_cur is the
fractional epoch, restarts fall exactly on cycle boundaries, and a schedule restored from its
state dict continues at the lr an uninterrupted one has."""

from __future__ import annotations

import math

import pytest
import torch

from pose.config import ScheduleSpec
from pose.engine.optim import build_scheduler, sgdr_cycle

LR = 1e-3
STEPS = 10  # optimiser steps per epoch


def _optimizer() -> torch.optim.Optimizer:
    return torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=LR)


def _step_lrs(spec: ScheduleSpec, epochs: int, steps: int = STEPS) -> list[float]:
    """The lr of every optimiser step of `epochs` epochs, in order."""
    opt = _optimizer()
    sched = build_scheduler(opt, spec, epochs, steps)
    out = []
    for _ in range(epochs):
        for _ in range(steps):
            out.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.after_step()
        sched.after_epoch()
    return out


def test_sgdr_per_iteration_anneals_within_the_first_cycle_and_restarts_exactly() -> None:
    # DNANet: T0 = 1, Tmul = 2 -> cycles [0, 1), [1, 3), [3, 7) epochs
    lrs = _step_lrs(ScheduleSpec(type="sgdr", t0=1, t_mult=2, update="iteration"), 7)
    assert lrs[0] == LR
    mid = lrs[STEPS // 2]  # the middle of cycle 1: half way between max and min (0)
    assert 0.0 < mid < LR and mid == pytest.approx(LR / 2)
    assert lrs[STEPS // 2 + 1] < mid  # and still falling
    assert lrs[STEPS - 1] == pytest.approx(LR * (1 + math.cos(math.pi * 0.9)) / 2)
    # the restarts: exactly the base lr at the first step of each cycle, nowhere else
    assert [i for i, lr in enumerate(lrs) if lr == LR] == [0, STEPS, 3 * STEPS]
    assert lrs[2 * STEPS] == pytest.approx(LR / 2)  # the middle of the 2-epoch cycle


def test_sgdr_per_epoch_holds_each_epoch_at_one_lr() -> None:
    """The default (`update: epoch`) is what the papers' per-epoch reading trains: the first
    epoch of T0 = 1 at the base lr throughout."""
    lrs = _step_lrs(ScheduleSpec(type="sgdr", t0=1, t_mult=2), 3)
    assert lrs[:STEPS] == [LR] * STEPS
    assert lrs[STEPS:2 * STEPS] == [LR] * STEPS  # epoch 2 restarts the 2-epoch cycle
    assert lrs[2 * STEPS:] == [pytest.approx(LR / 2)] * STEPS


def test_linear_per_iteration_falls_every_step() -> None:
    lrs = _step_lrs(ScheduleSpec(type="linear", update="iteration"), 2)
    assert lrs[0] == LR and lrs[STEPS] == pytest.approx(LR / 2)
    assert all(a > b for a, b in zip(lrs, lrs[1:], strict=False))


@pytest.mark.parametrize("t, cycle", [(0.0, (0, 1)), (0.999, (0, 1)), (1.0, (1, 2)),
                                      (254.999, (127, 128)), (255.0, (255, 256))])
def test_sgdr_cycle_bounds_are_whole_epochs(t: float, cycle: tuple[int, int]) -> None:
    assert sgdr_cycle(t, 1, 2) == cycle


def test_a_restored_schedule_continues_bit_identically_mid_epoch() -> None:
    """What a checkpoint of step 4 of epoch 2 holds (optimiser and schedule state) gives the
    same lr for every later step as the uninterrupted schedule."""
    spec = ScheduleSpec(type="sgdr", t0=1, t_mult=2, update="iteration")
    want = _step_lrs(spec, 4)
    opt = _optimizer()
    sched = build_scheduler(opt, spec, 4, STEPS)
    for _ in range(STEPS + 4):
        opt.step()
        sched.after_step()
    state = {"optimizer": opt.state_dict(), "scheduler": sched.state_dict()}
    resumed_opt = _optimizer()
    resumed = build_scheduler(resumed_opt, spec, 4, STEPS)
    resumed_opt.load_state_dict(state["optimizer"])
    resumed.load_state_dict(state["scheduler"])
    got = []
    for _ in range(len(want) - STEPS - 4):
        got.append(resumed_opt.param_groups[0]["lr"])
        resumed_opt.step()
        resumed.after_step()
    assert got == want[STEPS + 4:]  # exact floats


def test_last_step_lr_is_the_lr_the_epochs_last_step_used() -> None:
    spec = ScheduleSpec(type="sgdr", t0=1, t_mult=2, update="iteration")
    opt = _optimizer()
    sched = build_scheduler(opt, spec, 2, STEPS)
    for _ in range(STEPS):
        used = opt.param_groups[0]["lr"]
        opt.step()
        sched.after_step()
    assert sched.last_step_lr() == used
    assert opt.param_groups[0]["lr"] == LR  # the next step, of cycle 2, restarts
