"""The preflight of one experiment: its full-scale code paths run for a few steps, and what they
used is recorded, ran or failed.

At a check scale (scales.yaml `preflight: true`) each experiment is one job: training (in this
process, or under torchrun in several CPU processes when the scale lists it in `cpu_ddp`), then
evaluation with the recipe's whole test protocol, then `resources.json` beside the run's
outputs: the step time, the peak host memory, and the estimated GPU memory of one training step
at the paper's per-GPU batch (pose.engine.memory), and the size of the run's checkpoints,
which are then deleted (tens of GB for all 80). A failure is recorded there too, with the
first line of its error, and the job still succeeds: one failing experiment never hides the
others, the report lists every failure by name, and `pose preflight-check` (the pipeline's last
step) fails when there is one.
"""

from __future__ import annotations

import json
import logging
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from pose.config import Registry, ResolvedExperiment, format_input
from pose.engine.memory import estimate_gpu_memory
from pose.engine.preemption import TrainingPreempted
from pose.errors import DataError, PoseError, original_error
from pose.io import read_json_object, write_json

log = logging.getLogger(__name__)

RESOURCES = "resources.json"
STALE = ("resources.json", "train_step.json", "eval.json", "results.json", "model.pth",
         "checkpoints/last.pth")


def error_line(err: BaseException) -> str:
    """`Type: first line` of an error; for one raised in a loader worker (torch wraps it with
    the worker's traceback) the original error's line."""
    kind, message = original_error(err)
    text = [line.strip() for line in message.strip().splitlines() if line.strip()]
    return f"{kind}: {text[0] if text else ''}".rstrip(": ")


def subprocess_error_line(stderr: str, status: int) -> str:
    """The line that says what went wrong in a failed `pose` run's stderr: its `error:` line,
    else a traceback's last line, else the exit status."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in reversed(lines):
        if ": error: " in line and line.startswith("pose "):
            return line.split(": error: ", 1)[1]
    for line in reversed(lines):
        if not line.startswith(("[", "W", "INFO", "WARNING")) and ":" in line:
            return line
    return f"exit status {status}"


def pretrained_status(exp: ResolvedExperiment) -> dict:
    """Whether the run started from its ImageNet checkpoint (the report's skip note)."""
    path = exp.model_spec.get("pretrained")
    if not path:
        return {"file": None, "status": "none"}
    return {"file": path, "status": "loaded" if Path(path).is_file() else "not present"}


def _train(exp: ResolvedExperiment, params_dir: Path, dataset: str | None,
           progress: bool) -> None:
    """The training stage, as `pose train` runs it: in several processes under torchrun when
    the experiment has them (a child `pose train`, which starts torchrun itself)."""
    if exp.processes == 1:
        from pose.engine.trainer import train_experiment

        train_experiment(exp, progress=progress)
        return
    command = [sys.executable, "-m", "pose.cli", "--params", str(params_dir), "--no-progress",
               "train", exp.name, "--scale", exp.scale,
               *(["--dataset", dataset] if dataset else [])]
    done = subprocess.run(command, capture_output=True, text=True)
    sys.stderr.write(done.stderr)
    if done.returncode != 0:
        raise PoseError(subprocess_error_line(done.stderr, done.returncode))


def _peak_host_mb() -> float:
    """Peak resident memory of this process and of its finished children (torchrun), MB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024.0  # Linux reports KiB


def paper_batch_per_gpu(registry: Registry, exp: ResolvedExperiment) -> tuple[int, int]:
    """(per-GPU batch, GPUs) of the full-scale run: the paper recipe's total batch split over
    the experiment's GPUs, whatever the check scale trains with."""
    spec = registry.experiments[exp.name]
    return max(1, registry.recipes[spec.recipe].total_batch(spec.gpus) // spec.gpus), spec.gpus


def run_preflight(registry: Registry, exp: ResolvedExperiment, dataset: str | None = None,
                  progress: bool = False) -> dict:
    """Train and evaluate `exp` at its check scale and write resources.json; returns it."""
    from pose.stages import evaluate_stage

    if not exp.preflight:
        raise PoseError(f"scale {exp.scale!r} is not a check scale (scales.yaml `preflight: "
                        f"true`); train and evaluate with `pose train` / `pose evaluate`")
    run_dir = exp.run_dir
    for name in STALE:  # a failed run must not show an earlier run's figures
        (run_dir / name).unlink(missing_ok=True)
    record: dict = {
        "experiment": exp.name, "scale": exp.scale, "dataset": exp.dataset_name,
        "model": exp.model_name, "input": format_input(exp.input_hw),
        "processes": exp.processes, "pretrained": pretrained_status(exp),
        "status": "ran", "failed_stage": None, "error": None, "ap": None,
    }
    start = time.perf_counter()
    stage = "train"
    try:
        _train(exp, registry.params_dir, dataset, progress)
        stage = "evaluate"
        stats = evaluate_stage(exp, None, None, progress)
        record["ap"] = stats.get("AP", stats.get("Mean"))
        # a classifier's figures (DANet Table X) in their place
        record.update({k: stats[k] for k in ("top1_error", "top5_error") if k in stats})
    except TrainingPreempted:
        raise
    except Exception as err:  # recorded: the other experiments go on
        log.exception("%s: preflight %s failed", exp.name, stage)
        record.update(status="failed", failed_stage=stage, error=error_line(err))
    record["seconds"] = round(time.perf_counter() - start, 1)
    record["peak_host_mb"] = round(_peak_host_mb(), 1)
    record.update(_step_resources(registry, exp))
    record["checkpoint_mb"] = _drop_checkpoints(run_dir)
    write_json(run_dir / RESOURCES, record)
    return record


def _drop_checkpoints(run_dir: Path) -> dict[str, float]:
    """Sizes of the run's model.pth and last.pth (what a full-scale run keeps per experiment),
    then the files themselves: a few steps' weights are of no further use, and 80 paper-size
    runs' checkpoints (Adam state included) fill tens of GB."""
    sizes = {}
    for name, path in (("model", run_dir / "model.pth"),
                       ("last", run_dir / "checkpoints" / "last.pth")):
        if path.is_file():
            sizes[name] = round(path.stat().st_size / 2**20, 1)
            path.unlink()
    return sizes


def _step_resources(registry: Registry, exp: ResolvedExperiment) -> dict:
    """Step time and the GPU-memory estimate from the trainer's step record, if it got that
    far."""
    from pose.engine.trainer import STEP_RECORD

    step = read_json_object(exp.run_dir / STEP_RECORD)
    if not step or not step.get("batch"):
        return {"steps": 0, "mean_step_seconds": None, "gpu_memory": None}
    batch, gpus = paper_batch_per_gpu(registry, exp)
    return {
        "steps": len(step["step_seconds"]),
        "step_batch_per_process": step["batch"],
        "mean_step_seconds": step["mean_step_seconds"],
        "gpu_memory": {**estimate_gpu_memory(step, batch, gpus > 1), "gpus": gpus,
                       "method": "parameters, gradients and optimiser state after a real "
                                 "step; activations saved for backward (saved_tensors_hooks, "
                                 "one count per storage) scaled from the measured batch"},
    }


def read_resources(path: Path) -> dict | None:
    """A resources.json, checked for the fields the report reads (None when absent)."""
    data = read_json_object(path)
    if data is None:
        return None
    for key in ("experiment", "status"):
        if key not in data:
            raise DataError(f"{path}: missing key {key!r} (written by `pose preflight`)")
    if data["status"] not in ("ran", "failed"):
        raise DataError(f"{path}: status should be 'ran' or 'failed', got {data['status']!r}")
    return data


def failures(runs_dir: Path, scale: str, experiments: Sequence[str]) -> dict[str, str]:
    """{experiment: why} of every experiment whose preflight failed or did not run."""
    found = {}
    for name in experiments:
        data = read_resources(Path(runs_dir) / scale / name / RESOURCES)
        if data is None:
            found[name] = "not run (no resources.json)"
        elif data["status"] == "failed":
            found[name] = f"{data.get('failed_stage')}: {data.get('error')}"
    return found


def summary_json(runs_dir: Path, scale: str, experiments: Sequence[str]) -> str:
    failed = failures(runs_dir, scale, experiments)
    return json.dumps({"scale": scale, "experiments": len(experiments),
                       "ran": len(experiments) - len(failed), "failed": failed}, indent=2)
