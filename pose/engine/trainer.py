"""The training stage: epochs of the recipe, a checkpoint after every epoch, resume from the last.

Outputs in the experiment's run directory:
- `checkpoints/last.pth`: model, optimiser, schedule and history after the latest epoch;
- `train_log.csv`: one row per epoch (loss, val AP, lr, seconds), drawn by `dvc plots`;
- `model.pth`: the final weights with the model's identity;
- `config.yaml`: the resolved experiment that produced them.
"""

from __future__ import annotations

import csv
import io
import logging
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader, RandomSampler
from tqdm import tqdm

from pose.config import ResolvedExperiment
from pose.engine.checkpoint import model_identity, read_checkpoint, save_checkpoint
from pose.engine.losses import build_loss
from pose.engine.optim import build_optimizer, build_scheduler
from pose.experiment_data import (
    build_dataset,
    check_output_size,
    evaluate_on_val,
    protocol_boxes,
    val_score,
)
from pose.io import write_text, write_yaml
from pose.models import build_model
from pose.models.pretrained import load_pretrained

log = logging.getLogger(__name__)

LOG_FIELDS = ("epoch", "loss", "val_ap", "lr", "seconds")


@dataclass
class EpochRecord:
    epoch: int
    loss: float
    val_ap: float | None
    lr: float
    seconds: float


def configure_torch(exp: ResolvedExperiment) -> torch.device:
    """Threads and device for the run; a CUDA scale on a machine without CUDA is an error."""
    if exp.threads:
        torch.set_num_threads(exp.threads)
    if exp.device == "cuda" and not torch.cuda.is_available():
        from pose.errors import PoseError

        raise PoseError(
            f"scale {exp.scale!r} trains on CUDA but no GPU is visible; run it on a GPU node "
            "(snakemake --profile slurm) or use the smoke scale"
        )
    return torch.device(exp.device)


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


def _epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """Shuffling depends only on (seed, epoch), so a resumed run sees the same batches."""
    return torch.Generator().manual_seed(seed * 100_003 + epoch)


def train_one_epoch(
    model: torch.nn.Module,
    loader: DataLoader,
    loss_fn: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    device: torch.device,
    desc: str,
    progress: bool,
) -> float:
    """One pass over the loader; returns the mean loss over samples."""
    model.train()
    total, count = 0.0, 0
    bar = tqdm(
        loader,
        desc=desc,
        disable=not progress,
        leave=False,
        mininterval=0.5 if sys.stderr.isatty() else 10.0,
        dynamic_ncols=True,
    )
    for batch in bar:
        images = batch["image"].to(device, non_blocking=True)
        target = batch["target"].to(device, non_blocking=True)
        weight = batch["target_weight"].to(device, non_blocking=True)
        loss = loss_fn(model(images), target, weight)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        n = images.shape[0]
        total += loss.item() * n
        count += n
        bar.set_postfix(loss=f"{total / count:.3g}")
    return total / max(count, 1)


def train_experiment(exp: ResolvedExperiment, progress: bool = True) -> Path:
    """Train (or resume) one experiment; returns the path of the final weights."""
    device = configure_torch(exp)
    run_dir = exp.run_dir
    ckpt_path = run_dir / "checkpoints" / "last.pth"
    write_yaml(run_dir / "config.yaml", exp.to_dict())

    torch.manual_seed(exp.seed)
    model = build_model(exp.model_spec, where=f"model {exp.model_name}")
    if exp.model_spec.get("pretrained"):  # ImageNet trunk (ResNet, HRNet); resuming replaces it
        dropped = load_pretrained(model, exp.model_spec["pretrained"])
        modules = Counter(key.split(".")[0] for key in dropped)
        log.info("%s: trunk initialised from %s (dropped %s)", exp.name,
                 exp.model_spec["pretrained"],
                 ", ".join(f"{m}: {n} entries" for m, n in modules.items()) or "nothing")
    model = model.to(device)
    check_output_size(model, exp)
    identity = model_identity(exp.model_name, exp.model_spec)
    optimizer = build_optimizer(model, exp.recipe.optimizer)
    scheduler = build_scheduler(optimizer, exp.recipe.schedule, exp.recipe.epochs)
    loss_fn = build_loss(exp.recipe.loss)

    dataset = build_dataset(exp, "train")
    val_boxes = protocol_boxes(exp, None)
    val_dataset = build_dataset(exp, "val", val_boxes)  # read once, used per epoch
    sampler = RandomSampler(dataset, generator=torch.Generator())
    loader = DataLoader(
        dataset,
        batch_size=exp.recipe.batch_size,
        sampler=sampler,
        num_workers=exp.num_workers,
        pin_memory=device.type == "cuda",
        # Not persistent: workers are re-created each epoch so they see set_epoch().
        persistent_workers=False,
    )

    history: list[EpochRecord] = []
    start_epoch = 0
    if ckpt_path.is_file():
        state = read_checkpoint(ckpt_path)
        if state.get("config_hash") == exp.train_hash and state["epoch"] < exp.recipe.epochs:
            model.load_state_dict(state["state_dict"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            history = [EpochRecord(**r) for r in state["history"]]
            start_epoch = state["epoch"]
            log.info("%s: resuming after epoch %d from %s", exp.name, start_epoch, ckpt_path)
        else:
            log.warning(
                "%s: %s is finished or was written for another configuration; training "
                "from scratch",
                exp.name,
                ckpt_path,
            )

    epochs = exp.recipe.epochs
    for epoch in range(start_epoch, epochs):
        t0 = time.perf_counter()
        sampler.generator = _epoch_generator(exp.seed, epoch)
        dataset.set_epoch(epoch)
        lr = optimizer.param_groups[0]["lr"]
        loss = train_one_epoch(
            model, loader, loss_fn, optimizer, device, f"{exp.name} {epoch + 1}/{epochs}", progress
        )
        scheduler.step()
        val_ap = None
        if (epoch + 1) % exp.val_every == 0 or epoch + 1 == epochs:
            stats = evaluate_on_val(model, exp, val_boxes, progress=False, dataset=val_dataset)
            val_ap = val_score(exp, stats)
        history.append(EpochRecord(epoch + 1, loss, val_ap, lr, time.perf_counter() - t0))
        ap_text = "-" if val_ap is None else f"{val_ap:.3f}"
        print(
            f"[{exp.name}] epoch {epoch + 1}/{epochs} loss {loss:.3g} val AP {ap_text} "
            f"({history[-1].seconds:.0f}s)",
            file=sys.stderr,
            flush=True,
        )
        save_checkpoint(
            ckpt_path,
            {
                **identity,
                "config_hash": exp.train_hash,
                "epoch": epoch + 1,
                "state_dict": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "history": [asdict(r) for r in history],
            },
        )
        write_train_log(run_dir / "train_log.csv", history)

    write_train_log(run_dir / "train_log.csv", history)
    final = run_dir / "model.pth"
    save_checkpoint(
        final,
        {**identity, "config_hash": exp.train_hash, "epochs": epochs,
         "state_dict": model.state_dict()},
    )
    return final
