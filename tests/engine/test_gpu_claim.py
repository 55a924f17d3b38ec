"""`pose --claim-gpus`: jobs of a machine without a scheduler take disjoint GPUs."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pose.engine.gpu_claim import CLAIMED, claim_gpus
from pose.errors import DeviceError

HOLDER = textwrap.dedent("""
    import os, sys, time
    from pose.engine.gpu_claim import claim_gpus
    env = dict(os.environ)
    taken = claim_gpus(int(sys.argv[1]), env, gpus=lambda e: ["0", "1", "2", "3"],
                       wait_seconds=0)
    print(",".join(taken), flush=True)
    time.sleep(float(sys.argv[2]))
""")


def _four(env):
    return ["0", "1", "2", "3"]


def test_concurrent_jobs_take_disjoint_gpus_and_release_them(tmp_path: Path):
    env = {"POSE_GPU_LOCKS": str(tmp_path)}
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, "3", "30"], stdout=subprocess.PIPE,
                              text=True, env={**_base_env(), **env})
    try:
        first = holder.stdout.readline().strip().split(",")
        assert len(first) == 3
        mine = dict(env)
        assert claim_gpus(1, mine, gpus=_four, wait_seconds=0) == [
            g for g in _four(mine) if g not in first]
        assert mine["CUDA_VISIBLE_DEVICES"] not in first and mine[CLAIMED] == "1"
        with pytest.raises(DeviceError, match="fewer than 1 of the GPUs 0,1,2,3 were free"):
            claim_gpus(1, dict(env), gpus=_four, wait_seconds=0)
    finally:
        holder.kill()
        holder.wait()
    # the holder's locks went with it
    assert claim_gpus(3, dict(env), gpus=_four, wait_seconds=0) == ["0", "1", "2"]


def test_nothing_is_claimed_under_slurm_in_a_claiming_jobs_children_or_for_no_gpu(tmp_path):
    for env in ({"SLURM_JOB_ID": "7"}, {CLAIMED: "1"}, {}):
        env["POSE_GPU_LOCKS"] = str(tmp_path)
        count = 0 if len(env) == 1 else 2
        assert claim_gpus(count, env, gpus=_four) == []
        assert "CUDA_VISIBLE_DEVICES" not in env


def test_more_gpus_than_the_machine_has_is_an_error(tmp_path):
    env = {"POSE_GPU_LOCKS": str(tmp_path), "CUDA_VISIBLE_DEVICES": "2,5"}
    with pytest.raises(DeviceError, match="this machine has 2 GPUs"):
        claim_gpus(3, env)
    assert claim_gpus(2, env) == ["2", "5"]  # a visible set narrows the pool


def _base_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k not in (CLAIMED, "SLURM_JOB_ID")}
