"""The training stage: epochs of the recipe, a checkpoint after every epoch, resume from the last.

One process, or one per GPU under torchrun (pose.engine.launch starts it): the recipe's batch is
the total over the processes. A stop signal (Slurm's preemption SIGTERM, or the USR1 it sends
before the time limit) writes a checkpoint of the current step and exits; the same command then
resumes from that step, and the final weights equal an uninterrupted run's.

Outputs in the experiment's run directory:
- `checkpoints/last.pth`: model, optimiser, schedule and history after the latest epoch (or the
  step a stop signal interrupted);
- `train_log.csv`: one row per epoch (loss, val AP, lr, seconds), drawn by `dvc plots`;
- `model.pth`: the final weights with the model's identity;
- `config.yaml`: the resolved experiment that produced them, written with `model.pth` (a failed
  training leaves the previous pair as it was).

Training stops at the first non-finite loss (DivergedError): a diverged model is never saved.
"""

from __future__ import annotations

import contextlib
import csv
import gc
import io
import logging
import math
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm import tqdm

from pose.code_version import current_code
from pose.config import ResolvedExperiment
from pose.engine.checkpoint import model_identity, read_checkpoint, save_checkpoint
from pose.engine.distributed import (
    DistContext,
    any_rank,
    any_ranks,
    barrier,
    init_distributed,
    per_process_batch,
    shutdown_distributed,
    sum_over_ranks,
)
from pose.engine.losses import build_loss
from pose.engine.memory import StepMeter
from pose.engine.optim import build_optimizer, build_scheduler
from pose.engine.preemption import StopRequest, TrainingPreempted, stop_requests
from pose.engine.sampler import EpochSampler
from pose.engine.step import memory_format, train_loader, train_step
from pose.engine.sync_bn import convert_to_global_bn
from pose.errors import DivergedError
from pose.experiment_data import (
    build_dataset,
    check_output_size,
    evaluate_on_val,
    protocol_boxes,
    val_score,
)
from pose.io import (
    check_writable,
    sweep_temporaries,
    write_json,
    write_text,
    write_yaml,
)
from pose.models import build_model
from pose.models.pretrained import load_pretrained

log = logging.getLogger(__name__)

LOG_FIELDS = ("epoch", "loss", "val_ap", "lr", "seconds")
# What a training writes through atomic_path (run folder, checkpoints/): the temporaries a
# killed run leaves of them are swept when the next one starts.
RUN_OUTPUTS = ("model.pth", "config.yaml", "train_log.csv", "train_step.json")
CHECKPOINT_OUTPUTS = ("last.pth",)


@dataclass
class EpochRecord:
    epoch: int
    loss: float
    val_ap: float | None
    lr: float
    seconds: float


def configure_torch(exp: ResolvedExperiment, ctx: DistContext | None = None,
                    device: str | None = None) -> torch.device:
    """Threads and device for the run (`device`, default the training device; a torchrun
    process's own GPU); CUDA on a machine without it is an error."""
    if exp.threads:
        torch.set_num_threads(exp.threads)
    device = device or exp.device
    if device == "cuda" and not torch.cuda.is_available():
        from pose.errors import PoseError

        raise PoseError(
            f"scale {exp.scale!r} trains on CUDA but no GPU is visible; run it on a GPU node "
            "(snakemake --profile slurm) or use the smoke scale"
        )
    if device == "cuda" and ctx is not None:
        return torch.device("cuda", ctx.local_rank)
    return torch.device(device)


def write_train_log(path: Path, history: list[EpochRecord]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=LOG_FIELDS, lineterminator="\n")
    writer.writeheader()
    for rec in history:
        row = asdict(rec)
        row["val_ap"] = "" if rec.val_ap is None else f"{rec.val_ap:.4f}"
        row["loss"] = f"{rec.loss:.6g}"
        row["lr"] = f"{rec.lr:.6g}"
        row["seconds"] = f"{rec.seconds:.1f}"
        writer.writerow(row)
    write_text(path, buf.getvalue())


@dataclass
class Progress:
    """Where training is: `epoch` epochs done, `step` batches of the next one, their loss."""

    epoch: int = 0
    step: int = 0
    loss_sum: float = 0.0
    loss_count: int = 0
    seconds: float = 0.0
    history: list[EpochRecord] = field(default_factory=list)


def _resume(ckpt_path: Path, exp: ResolvedExperiment, ctx: DistContext) -> tuple[Progress, Any]:
    """The progress and state of a checkpoint written for this configuration, else a fresh
    start (a finished or foreign checkpoint is not resumed)."""
    if not ckpt_path.is_file():
        return Progress(), None
    state = read_checkpoint(ckpt_path)
    if state.get("config_hash") != exp.train_hash or state["epoch"] >= exp.recipe.epochs:
        log.warning("%s: %s is finished or was written for another configuration; training "
                    "from scratch", exp.name, ckpt_path)
        return Progress(), None
    progress = Progress(
        epoch=state["epoch"],
        step=state.get("step", 0),
        # the partial epoch's loss is kept once (by rank 0) and summed over ranks at its end
        loss_sum=state.get("loss_sum", 0.0) if ctx.is_main else 0.0,
        loss_count=state.get("loss_count", 0) if ctx.is_main else 0,
        seconds=state.get("seconds", 0.0),
        history=[EpochRecord(**r) for r in state["history"]],
    )
    where = f"epoch {progress.epoch + 1} step {progress.step}" if progress.step else \
        f"epoch {progress.epoch}"
    if ctx.is_main:  # in the job's log, beside the epoch lines: a requeued run says so
        print(f"[{exp.name}] resuming after {where} from {ckpt_path}", file=sys.stderr,
              flush=True)
    return progress, state


def _build_model(exp: ResolvedExperiment, device: torch.device, ctx: DistContext
                 ) -> torch.nn.Module:
    torch.manual_seed(exp.seed)
    model = build_model(exp.model_spec, where=f"model {exp.model_name}")
    if pretrained_skipped(exp):
        log.warning("%s: %s is not present; training from its initialisation (the scale "
                    "loads ImageNet checkpoints only when present)", exp.name,
                    exp.model_spec["pretrained"])
    elif exp.model_spec.get("pretrained"):  # ImageNet trunk (ResNet, HRNet); resuming replaces it
        dropped = load_pretrained(model, exp.model_spec["pretrained"])
        modules = Counter(key.split(".")[0] for key in dropped)
        log.info("%s: trunk initialised from %s (dropped %s)", exp.name,
                 exp.model_spec["pretrained"],
                 ", ".join(f"{m}: {n} entries" for m, n in modules.items()) or "nothing")
    model = model.to(device, memory_format=memory_format(exp.recipe.channels_last))
    check_output_size(model, exp)
    if exp.recipe.sync_bn and ctx.distributed:
        convert_to_global_bn(model)
    return model


def pretrained_skipped(exp: ResolvedExperiment) -> bool:
    """A check scale's model whose ImageNet checkpoint is not there: trained without it."""
    pretrained = exp.model_spec.get("pretrained")
    return bool(pretrained) and exp.pretrained_optional and not Path(pretrained).is_file()


STEP_RECORD = "train_step.json"  # a check scale's step time and memory (pose.measure.memory)


class Trainer:
    """The state of one training run and the loop over its remaining epochs and steps."""

    def __init__(self, exp: ResolvedExperiment, ctx: DistContext, progress: bool):
        self.exp, self.ctx = exp, ctx
        self.show_progress = progress and ctx.is_main
        self.device = configure_torch(exp, ctx)
        self.ckpt_path = exp.run_dir / "checkpoints" / "last.pth"
        self.model = _build_model(exp, self.device, ctx)
        self.identity = model_identity(exp.model_name, exp.model_spec)
        self.optimizer = build_optimizer(self.model, exp.recipe.optimizer)
        self.loss_fn = build_loss(exp.recipe.loss)
        self.net: torch.nn.Module = self.model
        if ctx.distributed:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.net = DistributedDataParallel(self.model, device_ids=ids)

        self.dataset = build_dataset(exp, "train")
        self.val_boxes = protocol_boxes(exp, None)
        # read once, used per epoch; only rank 0 validates
        self.val_dataset = build_dataset(exp, "val", self.val_boxes) if ctx.is_main else None
        batch = per_process_batch(exp.recipe.batch_size, ctx,
                                  f"recipe of experiment {exp.name!r}")
        self.sampler = EpochSampler(len(self.dataset), exp.seed, batch, ctx.rank,
                                    ctx.world_size)
        self.loader: DataLoader = train_loader(self.dataset, self.sampler, batch,
                                               exp.num_workers, self.device)
        # after the sampler: a per-iteration schedule advances by its steps per epoch
        self.scheduler = build_scheduler(self.optimizer, exp.recipe.schedule, exp.recipe.epochs,
                                         self.sampler.batches_per_epoch())
        self.state = Progress()
        self.last_finite: tuple[int, int, float] | None = None  # epoch, step, loss
        self.meter = StepMeter() if exp.preflight else None

    def close(self) -> None:
        """Stop the loader's persistent workers now. They ignore stop signals (those are the
        main process's), so a process that trains in-process and goes on (`pose preflight`,
        tests) would otherwise wait for them at exit, when multiprocessing joins its children."""
        iterator = getattr(self.loader, "_iterator", None)
        shutdown = getattr(iterator, "_shutdown_workers", None)  # torch's own clean stop
        if shutdown is not None:
            shutdown()
        self.loader._iterator = None
        self.release_ddp()

    def release_ddp(self) -> None:
        """Free the DDP wrapper while the process group is still registered. Its Reducer holds
        the group; were it the last holder (an exception's traceback keeps this trainer alive
        past shutdown_distributed), freeing it would destroy the gloo group holding the GIL
        while a gloo worker waits for the GIL to free a finished collective's tensors: a
        deadlock at exit (pytorch#56297)."""
        if self.net is not self.model:
            self.net = self.model
            gc.collect()  # DDP's hooks make reference cycles

    def resume(self) -> None:
        self.state, saved = _resume(self.ckpt_path, self.exp, self.ctx)
        if saved is not None:
            self.model.load_state_dict(saved["state_dict"])
            self.optimizer.load_state_dict(saved["optimizer"])
            self.scheduler.load_state_dict(saved["scheduler"])

    def save(self) -> None:
        """last.pth of the current progress (rank 0 writes; every rank holds the same state)."""
        s = self.state
        loss_sum, loss_count = sum_over_ranks([s.loss_sum, float(s.loss_count)], self.ctx)
        if self.ctx.is_main:
            save_checkpoint(self.ckpt_path, {
                **self.identity,
                "config_hash": self.exp.train_hash,
                "epoch": s.epoch,
                "step": s.step,
                "loss_sum": loss_sum,
                "loss_count": int(loss_count),
                "seconds": s.seconds,
                "state_dict": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "history": [asdict(r) for r in s.history],
            })
        barrier(self.ctx)

    def stop_if_requested(self, stop: StopRequest) -> None:
        if any_rank(stop.requested, self.ctx):
            self.save()
            raise TrainingPreempted(stop.signum or 15, str(self.ckpt_path), self.state.epoch,
                                    self.state.step)

    def check_step(self, stop: StopRequest, loss: float) -> None:
        """After every step, all ranks together (one all-reduce): a non-finite loss on any rank
        stops the run with nothing saved (its weights are already NaN); else a stop request
        checkpoints this step and exits."""
        diverged, stopping = any_ranks([not math.isfinite(loss), stop.requested], self.ctx)
        if diverged:
            raise self.divergence(loss)
        self.last_finite = (self.state.epoch + 1, self.state.step, loss)
        if stopping:
            self.save()
            raise TrainingPreempted(stop.signum or 15, str(self.ckpt_path), self.state.epoch,
                                    self.state.step)

    def divergence(self, loss: float) -> DivergedError:
        exp, s = self.exp, self.state
        where = (f"is {loss}" if not math.isfinite(loss)
                 else f"is not finite on another process (here {loss:.6g})")
        if self.last_finite is not None:
            epoch, step, value = self.last_finite
            last = f"last finite loss {value:.6g} at epoch {epoch} step {step}"
        elif s.history:
            last = f"last finite loss {s.history[-1].loss:.6g}, the mean of epoch " \
                   f"{s.history[-1].epoch}"
        else:
            last = "no finite loss before it"
        return DivergedError(
            f"experiment {exp.name!r} diverged: the training loss {where} at epoch "
            f"{s.epoch + 1}/{exp.recipe.epochs} step {s.step} ({last}); training stopped and "
            "no model.pth was written: lower the recipe's optimizer.lr or check the "
            "training data"
        )

    def run_epoch(self, stop: StopRequest) -> float:
        """The rest of the current epoch; returns its mean loss over samples (all ranks)."""
        exp, s = self.exp, self.state
        self.sampler.set_epoch(s.epoch, s.step)
        self.net.train()
        t0 = time.perf_counter() - s.seconds
        bar = tqdm(
            total=self.sampler.batches_per_epoch(),
            initial=s.step,
            desc=f"{exp.name} {s.epoch + 1}/{exp.recipe.epochs}",
            disable=not self.show_progress,
            leave=False,
            mininterval=0.5 if sys.stderr.isatty() else 10.0,
            dynamic_ncols=True,
        )
        with bar:
            for batch in self.loader:
                with self.metered(batch):
                    loss, n = train_step(self.net, batch, self.loss_fn, self.optimizer,
                                         self.device, exp.recipe.precision,
                                         exp.recipe.channels_last)
                self.scheduler.after_step()  # before a stop's checkpoint: it holds this step
                value = loss.item()
                s.loss_sum += value * n
                s.loss_count += n
                s.step += 1
                s.seconds = time.perf_counter() - t0
                bar.update()
                bar.set_postfix(loss=f"{s.loss_sum / s.loss_count:.3g}")
                self.check_step(stop, value)
        total, count = sum_over_ranks([s.loss_sum, float(s.loss_count)], self.ctx)
        return total / max(count, 1.0)

    def metered(self, batch: dict) -> contextlib.AbstractContextManager:
        """A check scale times each step and measures the first one's memory."""
        if self.meter is None:
            return contextlib.nullcontext()
        return self.meter.step(self.model, int(batch["image"].shape[0]))

    def finish_epoch(self, loss: float) -> None:
        exp, s = self.exp, self.state
        epoch_start = time.perf_counter() - s.seconds
        lr = self.scheduler.last_step_lr()
        self.scheduler.after_epoch()
        epoch = s.epoch + 1
        val_ap = None
        if self.ctx.is_main and (epoch % exp.val_every == 0 or epoch == exp.recipe.epochs):
            stats = evaluate_on_val(self.model, exp, self.val_boxes, progress=False,
                                    dataset=self.val_dataset)
            val_ap = val_score(exp, stats)
        seconds = time.perf_counter() - epoch_start
        # plain floats: the checkpoint's history loads with weights_only=True
        s.history.append(EpochRecord(epoch, float(loss), None if val_ap is None else float(val_ap),
                                     float(lr), seconds))
        s.epoch, s.step, s.loss_sum, s.loss_count, s.seconds = epoch, 0, 0.0, 0, 0.0
        if self.ctx.is_main:
            ap_text = "-" if val_ap is None else f"{val_ap:.3f}"
            print(f"[{exp.name}] epoch {epoch}/{exp.recipe.epochs} loss {loss:.3g} "
                  f"val AP {ap_text} ({seconds:.0f}s)", file=sys.stderr, flush=True)
        self.save()
        if self.ctx.is_main:
            write_train_log(exp.run_dir / "train_log.csv", s.history)

    def run(self) -> Path:
        with stop_requests() as stop:
            while self.state.epoch < self.exp.recipe.epochs:
                loss = self.run_epoch(stop)
                self.finish_epoch(loss)
                self.stop_if_requested(stop)
        final = self.exp.run_dir / "model.pth"
        if self.meter is not None and self.ctx.is_main:
            self.meter.record_optimizer(self.optimizer)
            write_json(self.exp.run_dir / STEP_RECORD,
                       {**self.meter.to_dict(), "processes": self.ctx.world_size})
        if self.ctx.is_main:
            write_train_log(self.exp.run_dir / "train_log.csv", self.state.history)
            # config.yaml goes with model.pth: the old one is removed first, so a kill between
            # the two leaves a model.pth without config.yaml, never one of other params
            config = self.exp.run_dir / "config.yaml"
            config.unlink(missing_ok=True)
            save_checkpoint(final, {**self.identity, "config_hash": self.exp.train_hash,
                                    "epochs": self.exp.recipe.epochs,
                                    "state_dict": self.model.state_dict()})
            # the hash the weights were made with: Snakemake re-trains when params/ gives
            # another (workflow/rules/common.smk), even without its own metadata
            # and the code (pose.code_version): outputs of other code are reported or re-made
            write_yaml(config, {**self.exp.to_dict(), "train_hash": self.exp.train_hash,
                                "train_code": current_code()["train_code"]})
        barrier(self.ctx)
        return final


def train_experiment(exp: ResolvedExperiment, progress: bool = True) -> Path:
    """Train (or resume) one experiment; returns the path of the final weights."""
    # every process checks (a shared file system): none starts where the outputs cannot go
    check_writable(exp.run_dir / "checkpoints", "training writes last.pth")
    check_writable(exp.run_dir, "training writes model.pth, config.yaml and train_log.csv")
    ctx = init_distributed(exp.device)
    try:
        if ctx.is_main:  # temporaries of a killed write (SIGKILL leaves them)
            for tmp in (sweep_temporaries(exp.run_dir, RUN_OUTPUTS)
                        + sweep_temporaries(exp.run_dir / "checkpoints", CHECKPOINT_OUTPUTS)):
                log.warning("%s: removed %s, left by an interrupted write", exp.name, tmp)
        trainer = Trainer(exp, ctx, progress)
        try:
            trainer.resume()
            return trainer.run()
        finally:
            trainer.close()
    finally:
        shutdown_distributed()
