"""Stop requests from the scheduler: save where training is, exit, be requeued, resume.

Slurm sends SIGTERM when it preempts or cancels a job (then SIGKILL after KillWait), and the
signal the job asked for (`--signal=USR1@300`) before its time limit. The handler only records
the request; the trainer checks it after every step, writes a checkpoint of that step and raises
TrainingPreempted, which the CLI turns into the exit status of the signal.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)


class TrainingPreempted(Exception):
    """Training stopped on request after writing its checkpoint."""

    def __init__(self, signum: int, checkpoint: str, epoch: int, step: int):
        self.signum = signum
        self.exit_status = 128 + signum
        super().__init__(
            f"stopped by {signal.Signals(signum).name}: checkpoint {checkpoint} holds epoch "
            f"{epoch + 1} up to step {step}; run the same command again to resume"
        )


class StopRequest:
    """The first stop signal received while installed (None while none came)."""

    def __init__(self) -> None:
        self.signum: int | None = None

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is None:
            self.signum = signum


@contextmanager
def stop_requests() -> Iterator[StopRequest]:
    """Record SIGTERM/SIGUSR1 instead of dying, for the duration of training."""
    request = StopRequest()
    previous = {sig: signal.signal(sig, request._handle) for sig in STOP_SIGNALS}
    try:
        yield request
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def ignore_stop_signals() -> None:
    """In DataLoader workers: the main process decides when to stop and shuts them down."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
