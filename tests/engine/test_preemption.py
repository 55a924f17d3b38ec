"""Preemption: a stop signal writes a checkpoint and exits; the same command resumes to the
weights of an uninterrupted run."""

from __future__ import annotations

import csv
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from extra_scales import add_scale

from pose.config import load_registry
from pose.engine import trainer

EXPERIMENT = "hrnet_w32_256x192"
# 18 training persons, batch 2: 9 steps per epoch.
STEPS_PER_EPOCH = 9

# Runs `pose train` with a train_step that sends SIGNAL to its own process at call STOP_AT:
# the real handler, the real checkpoint and the real exit status, at a known step. Under
# torchrun only the process of rank SIGNAL_RANK (default 0) signals itself.
SELF_SIGNAL = """
import os, signal, sys
import pose.engine.trainer as trainer
from pose.cli import main
real_step, calls = trainer.train_step, [0]
signals = os.environ.get("RANK", "0") == os.environ.get("SIGNAL_RANK", "0")
def step(*args, **kwargs):
    calls[0] += 1
    out = real_step(*args, **kwargs)
    if signals and calls[0] == int(os.environ["STOP_AT"]):
        os.kill(os.getpid(), getattr(signal, os.environ["SIGNAL"]))
    return out
trainer.train_step = step
sys.exit(main(sys.argv[1:]))
"""


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=False)["state_dict"]


def _losses(run_dir: Path) -> list[tuple[str, float]]:
    """Per epoch: the loss train_log.csv shows and the float last.pth's history holds."""
    with open(run_dir / "train_log.csv") as f:
        logged = [row["loss"] for row in csv.DictReader(f)]
    history = torch.load(run_dir / "checkpoints" / "last.pth", weights_only=False)["history"]
    return list(zip(logged, [r["loss"] for r in history], strict=True))


def _reference(project: Path, scale: str
               ) -> tuple[dict[str, torch.Tensor], list[tuple[str, float]]]:
    """Weights and per-epoch losses of an uninterrupted in-process run; its run dir removed."""
    exp = load_registry("params").resolve(EXPERIMENT, scale)
    weights = _weights(trainer.train_experiment(exp, progress=False))
    losses = _losses(exp.run_dir)
    shutil.rmtree(exp.run_dir)
    return weights, losses


def _assert_same(got: dict[str, torch.Tensor], want: dict[str, torch.Tensor]) -> None:
    """Bit-identical: every tensor of the state dict equal, dtype and shape included."""
    assert got.keys() == want.keys()
    for key in want:
        assert got[key].dtype == want[key].dtype, key
        assert torch.equal(got[key], want[key]), key


def _train(scale: str, **kwargs: object) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pose.cli", "train", EXPERIMENT, "--scale", scale,
         "--no-progress"], capture_output=True, text=True, timeout=300, **kwargs)


def test_a_signal_mid_epoch_checkpoints_that_step_and_resumes_to_the_same_weights(
        tiny_project: Path) -> None:
    add_scale(tiny_project, "preempt", {"batch_size": 2, "epochs": 2}, val_every=100)
    reference, losses = _reference(tiny_project, "preempt")
    run_dir = tiny_project / "runs" / "preempt" / EXPERIMENT

    stop_at = STEPS_PER_EPOCH + 4  # epoch 2, after its 4th step
    env = {**os.environ, "STOP_AT": str(stop_at), "SIGNAL": "SIGUSR1"}
    stopped = subprocess.run(
        [sys.executable, "-c", SELF_SIGNAL, "train", EXPERIMENT, "--scale", "preempt",
         "--no-progress"], env=env, capture_output=True, text=True, timeout=300)
    assert stopped.returncode == 128 + signal.SIGUSR1, stopped.stderr
    assert "stopped by SIGUSR1" in stopped.stderr
    assert not (run_dir / "model.pth").exists()
    saved = torch.load(run_dir / "checkpoints" / "last.pth", weights_only=False)
    assert (saved["epoch"], saved["step"]) == (1, 4)
    assert saved["loss_count"] == 4 * 2

    resumed = _train("preempt")
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming after epoch 2 step 4" in resumed.stderr
    _assert_same(_weights(run_dir / "model.pth"), reference)
    assert _losses(run_dir) == losses  # the interrupted epoch's loss counts every batch once


@pytest.mark.slow
def test_sigterm_from_outside_stops_a_run_with_loader_workers_and_it_resumes(
        tiny_project: Path) -> None:
    # The reference trains without workers: persistent workers must draw the same samples.
    add_scale(tiny_project, "workers", {"batch_size": 2, "epochs": 3}, val_every=100,
              num_workers=2)
    add_scale(tiny_project, "inline", {"batch_size": 2, "epochs": 3}, val_every=100)
    reference, losses = _reference(tiny_project, "inline")
    run_dir = tiny_project / "runs" / "workers" / EXPERIMENT
    checkpoint = run_dir / "checkpoints" / "last.pth"

    process = subprocess.Popen(
        [sys.executable, "-m", "pose.cli", "train", EXPERIMENT, "--scale", "workers",
         "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not checkpoint.exists():  # epoch 1 done: stop it during epoch 2
        assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()
        time.sleep(0.02)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert "stopped by SIGTERM" in stderr
    assert not (run_dir / "model.pth").exists()

    resumed = _train("workers")
    assert resumed.returncode == 0, resumed.stderr
    _assert_same(_weights(run_dir / "model.pth"), reference)
    assert _losses(run_dir) == losses


def test_sigkill_mid_epoch_resumes_from_the_last_epoch_checkpoint_to_the_same_weights(
        tiny_project: Path) -> None:
    """SIGKILL runs no handler: nothing is saved at the kill, the run resumes from the
    checkpoint of the last finished epoch and still ends bit-identical."""
    add_scale(tiny_project, "killed", {"batch_size": 2, "epochs": 2}, val_every=100)
    reference, losses = _reference(tiny_project, "killed")
    run_dir = tiny_project / "runs" / "killed" / EXPERIMENT

    env = {**os.environ, "STOP_AT": str(STEPS_PER_EPOCH + 4), "SIGNAL": "SIGKILL"}
    killed = subprocess.run(
        [sys.executable, "-c", SELF_SIGNAL, "train", EXPERIMENT, "--scale", "killed",
         "--no-progress"], env=env, capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert "stopped by" not in killed.stderr
    assert not (run_dir / "model.pth").exists()
    saved = torch.load(run_dir / "checkpoints" / "last.pth", weights_only=False)
    assert (saved["epoch"], saved["step"]) == (1, 0)  # epoch 1's, not the kill's

    resumed = _train("killed")
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming after epoch 1 from" in resumed.stderr
    _assert_same(_weights(run_dir / "model.pth"), reference)
    assert _losses(run_dir) == losses


def _torchrun(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
         *args, "train", EXPERIMENT, "--scale", "ddp", "--no-progress"],
        env={**os.environ, "OMP_NUM_THREADS": "1", **env}, capture_output=True, text=True,
        timeout=300)


@pytest.mark.slow
def test_two_gloo_processes_stopped_mid_epoch_resume_to_the_weights_of_an_uninterrupted_run(
        tiny_project: Path) -> None:
    """Rank 1 alone gets the signal: both ranks stop at the same step, rank 0 checkpoints it,
    and the two-process resume ends bit-identical to an uninterrupted two-process run."""
    # 18 persons, total batch 6 (3 per rank): 3 steps per epoch (as test_distributed.py)
    add_scale(tiny_project, "ddp", {"batch_size": 6, "epochs": 2, "sync_bn": True,
                                    "optimizer": {"type": "sgd", "lr": 0.01, "momentum": 0.9}},
              val_every=100, threads=1)
    run_dir = tiny_project / "runs" / "ddp" / EXPERIMENT
    uninterrupted = _torchrun("-m", "pose.cli", env={})
    assert uninterrupted.returncode == 0, uninterrupted.stderr[-4000:]
    reference, losses = _weights(run_dir / "model.pth"), _losses(run_dir)
    shutil.rmtree(run_dir)

    driver = tiny_project / "self_signal.py"
    driver.write_text(SELF_SIGNAL)
    stopped = _torchrun(str(driver), env={"STOP_AT": str(3 + 2), "SIGNAL": "SIGUSR1",
                                          "SIGNAL_RANK": "1"})
    assert stopped.returncode != 0
    assert "stopped by SIGUSR1" in stopped.stderr, stopped.stderr[-4000:]
    assert not (run_dir / "model.pth").exists()
    saved = torch.load(run_dir / "checkpoints" / "last.pth", weights_only=False)
    assert (saved["epoch"], saved["step"]) == (1, 2)
    assert saved["loss_count"] == 2 * 6  # both ranks' persons of the 2 steps

    resumed = _torchrun("-m", "pose.cli", env={})
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    assert "resuming after epoch 2 step 2" in resumed.stderr
    _assert_same(_weights(run_dir / "model.pth"), reference)
    assert _losses(run_dir) == losses


def test_per_iteration_sgdr_resumed_mid_epoch_ends_with_the_same_weights_and_lrs(
        tiny_project: Path) -> None:
    """DNANet's schedule (SGDR, T0 = 1, per iteration): a stop in the middle of the second
    cycle, and the resumed run continues the lr step by step (the schedule's state is in
    last.pth): weights, losses and logged lrs equal an uninterrupted run's."""
    sgdr = {"type": "sgdr", "t0": 1, "t_mult": 2, "update": "iteration"}
    add_scale(tiny_project, "sgdr", {"batch_size": 2, "epochs": 2, "schedule": sgdr},
              val_every=100)
    reference, losses = _reference(tiny_project, "sgdr")
    run_dir = tiny_project / "runs" / "sgdr" / EXPERIMENT
    env = {**os.environ, "STOP_AT": str(STEPS_PER_EPOCH + 4), "SIGNAL": "SIGUSR1"}
    stopped = subprocess.run(
        [sys.executable, "-c", SELF_SIGNAL, "train", EXPERIMENT, "--scale", "sgdr",
         "--no-progress"], env=env, capture_output=True, text=True, timeout=300)
    assert stopped.returncode == 128 + signal.SIGUSR1, stopped.stderr
    saved = torch.load(run_dir / "checkpoints" / "last.pth", weights_only=False)
    assert saved["scheduler"]["last_epoch"] == STEPS_PER_EPOCH + 4  # steps taken

    resumed = _train("sgdr")
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming after epoch 2 step 4" in resumed.stderr
    _assert_same(_weights(run_dir / "model.pth"), reference)
    assert _losses(run_dir) == losses
    with open(run_dir / "train_log.csv") as f:
        lrs = [float(row["lr"]) for row in csv.DictReader(f)]
    # each epoch's last step (per epoch both would read 1e-3): near the end of the 1-epoch
    # first cycle, then before the middle of the 2-epoch second one
    last = (STEPS_PER_EPOCH - 1) / STEPS_PER_EPOCH
    want = [1e-3 * (1 + math.cos(math.pi * t_cur / t_i)) / 2 for t_cur, t_i in ((last, 1),
                                                                             (last, 2))]
    assert lrs == pytest.approx(want, rel=1e-5)
