"""Preemption: a stop signal writes a checkpoint and exits; the same command resumes to the
weights of an uninterrupted run."""

from __future__ import annotations

import csv
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
# the real handler, the real checkpoint and the real exit status, at a known step.
SELF_SIGNAL = """
import os, signal, sys
import pose.engine.trainer as trainer
from pose.cli import main
real_step, calls = trainer.train_step, [0]
def step(*args, **kwargs):
    calls[0] += 1
    out = real_step(*args, **kwargs)
    if calls[0] == int(os.environ["STOP_AT"]):
        os.kill(os.getpid(), getattr(signal, os.environ["SIGNAL"]))
    return out
trainer.train_step = step
sys.exit(main(sys.argv[1:]))
"""


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=False)["state_dict"]


def _losses(run_dir: Path) -> list[str]:
    with open(run_dir / "train_log.csv") as f:
        return [row["loss"] for row in csv.DictReader(f)]


def _reference(project: Path, scale: str) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Weights and per-epoch losses of an uninterrupted in-process run; its run dir removed."""
    exp = load_registry("params").resolve(EXPERIMENT, scale)
    weights = _weights(trainer.train_experiment(exp, progress=False))
    losses = _losses(exp.run_dir)
    shutil.rmtree(exp.run_dir)
    return weights, losses


def _assert_same(got: dict[str, torch.Tensor], want: dict[str, torch.Tensor]) -> None:
    assert got.keys() == want.keys()
    for key in want:
        torch.testing.assert_close(got[key], want[key], rtol=0, atol=1e-6)


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
