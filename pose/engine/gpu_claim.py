"""Each job its own GPUs on a machine without a scheduler that assigns them.

`snakemake --cores N --resources gpu=K` keeps the jobs' GPU counts within K, but Snakemake does not
say which GPUs a job has: without more, every job would train on GPU 0. A job's `pose --claim-gpus
G ...` takes G of the machine's GPUs that no other job holds (one lock file per GPU, held by
flock for the life of the process and of the launcher it execs into) and sets
CUDA_VISIBLE_DEVICES to them before CUDA starts. Under Slurm (which sets CUDA_VISIBLE_DEVICES
itself), in the processes a claiming job starts, and for G = 0 nothing is claimed.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import tempfile
import time
from collections.abc import Callable, MutableMapping
from pathlib import Path

from pose.errors import DeviceError

CLAIMED = "POSE_GPUS_CLAIMED"  # set in the environment of a job that holds its GPUs
LOCK_DIR_ENV = "POSE_GPU_LOCKS"  # where the per-GPU lock files live (machine-wide)
WAIT_SECONDS = 600  # a job started as another ends may find its GPUs free a moment later


def lock_dir(env: MutableMapping[str, str]) -> Path:
    return Path(env.get(LOCK_DIR_ENV) or Path(tempfile.gettempdir()) / f"pose-gpus-{os.getuid()}")


def machine_gpus(env: MutableMapping[str, str]) -> list[str]:
    """The GPUs a job may take: those CUDA_VISIBLE_DEVICES lists, else every GPU nvidia-smi
    sees."""
    visible = env.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [d for d in visible.split(",") if d.strip()]
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"],
                             capture_output=True, text=True, check=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError) as err:
        raise DeviceError(f"--claim-gpus: cannot list this machine's GPUs with nvidia-smi "
                          f"({err})") from None
    return out.split()


def _try_lock(path: Path) -> int | None:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    os.set_inheritable(fd, True)  # the lock outlives an exec into the launcher (torchrun)
    return fd


def claim_gpus(count: int, env: MutableMapping[str, str] | None = None,
               gpus: Callable[[MutableMapping[str, str]], list[str]] = machine_gpus,
               wait_seconds: float = WAIT_SECONDS) -> list[str]:
    """Take `count` free GPUs for this process and set CUDA_VISIBLE_DEVICES in `env`; returns
    them (empty where nothing is to be claimed)."""
    env = os.environ if env is None else env
    if count <= 0 or env.get(CLAIMED) or env.get("SLURM_JOB_ID"):
        return []
    pool = gpus(env)
    if count > len(pool):
        raise DeviceError(f"--claim-gpus {count}: this machine has {len(pool)} GPUs "
                          f"({','.join(pool) or 'none'}); give snakemake --resources gpu=K "
                          "with K at most that")
    folder = lock_dir(env)
    folder.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait_seconds
    while True:
        held: list[tuple[str, int]] = []
        for gpu in pool:
            fd = _try_lock(folder / f"gpu{gpu}.lock")
            if fd is not None:
                held.append((gpu, fd))
                if len(held) == count:
                    taken = [g for g, _ in held]
                    env["CUDA_VISIBLE_DEVICES"] = ",".join(taken)
                    env[CLAIMED] = "1"
                    return taken
        for _, fd in held:
            os.close(fd)
        if time.monotonic() > deadline:
            raise DeviceError(f"--claim-gpus {count}: fewer than {count} of the GPUs "
                              f"{','.join(pool)} were free for {wait_seconds:.0f} s (locks in "
                              f"{folder}); is --resources gpu=K above the GPUs of this machine?")
        time.sleep(1.0)
