"""Data-parallel training on the CPU (gloo) equals one process on the same total batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from extra_scales import add_scale

from pose.config import load_registry
from pose.engine.sampler import EpochSampler, epoch_permutation

EXPERIMENT = "hrnet_w32_256x192"


def test_rank_batches_together_make_the_single_process_batches() -> None:
    """Per step, the two ranks' batches are exactly the single process's batch of twice the
    size, so DDP's averaged gradient is the single process's gradient."""
    n, batch = 18, 6
    single = epoch_permutation(n, seed=4, epoch=3)
    ranks = [EpochSampler(n, 4, batch // 2, rank, 2) for rank in (0, 1)]
    for sampler in ranks:
        sampler.set_epoch(3)
    shares = [[i for _, i in sampler] for sampler in ranks]
    for step in range(n // batch):
        half = slice(step * 3, (step + 1) * 3)
        together = sorted(shares[0][half] + shares[1][half])
        assert together == sorted(single[step * batch:(step + 1) * batch])
    assert all(epoch == 3 for epoch, _ in ranks[1])


def test_an_odd_epoch_is_padded_and_skipping_resumes_mid_epoch() -> None:
    sampler = EpochSampler(7, seed=0, batch_size=2, rank=1, world_size=2)
    order = epoch_permutation(7, 0, 0)
    assert [i for _, i in sampler] == (order + order[:1])[1::2]  # 8 = 7 + 1 repeated
    sampler.set_epoch(0, start_batch=1)
    assert [i for _, i in sampler] == (order + order[:1])[1::2][2:]
    assert len(sampler) == 2 and sampler.batches_per_epoch() == 2


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=False)["state_dict"]


# Runs `pose train` (alone or as a torchrun worker) with a train_step that records, after each
# step, what the process trained with: the process group's size, whether the model is wrapped
# in DistributedDataParallel, the persons of its batch and a digest of its weights. Each process
# writes the record to RECORD_DIR/rank<RANK>.json when the command ends.
RECORD_STEPS = """
import hashlib, json, os, sys
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
import pose.engine.trainer as trainer
from pose.cli import main
real_step, steps = trainer.train_step, []
def step(net, batch, *args, **kwargs):
    out = real_step(net, batch, *args, **kwargs)
    model = net.module if isinstance(net, DistributedDataParallel) else net
    digest = hashlib.sha256()
    for value in model.state_dict().values():
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    steps.append({
        "world_size": dist.get_world_size() if dist.is_initialized() else 1,
        "ddp": isinstance(net, DistributedDataParallel),
        "persons": [int(i) for i in batch["meta"]["index"]],
        "weights": digest.hexdigest(),
    })
    return out
trainer.train_step = step
code = main(sys.argv[1:])
rank = os.environ.get("RANK", "0")
with open(os.path.join(os.environ["RECORD_DIR"], f"rank{rank}.json"), "w") as f:
    json.dump(steps, f)
sys.exit(code)
"""


def _recorded_steps(record_dir: Path) -> dict[int, list[dict]]:
    return {int(p.stem.removeprefix("rank")): json.loads(p.read_text())
            for p in sorted(record_dir.glob("rank*.json"))}


@pytest.mark.slow
def test_two_gloo_processes_each_train_half_the_batch_and_reach_the_weights_of_one(
        tiny_project: Path) -> None:
    # 18 training persons, total batch 6: 3 steps per epoch, 3 persons per rank per step;
    # GlobalBatchNorm makes the statistics those of the total batch, as in one process.
    # SGD with momentum: its update is linear in the gradient, so the comparison sees the
    # gradient sync itself. (Adam divides by the gradient's magnitude: on entries whose gradient
    # is ~0 it turns the last-bit differences of a reordered sum into lr-sized steps.)
    add_scale(tiny_project, "ddp", {"batch_size": 6, "epochs": 2, "sync_bn": True,
                                    "optimizer": {"type": "sgd", "lr": 0.01, "momentum": 0.9}},
              val_every=100, threads=1)
    reg = load_registry("params")
    exp = reg.resolve(EXPERIMENT, "ddp")
    from pose.data.coco import load_instances

    persons = load_instances(exp.dataset.path(exp.dataset.train.annotations),
                             exp.dataset.path(exp.dataset.train.images))
    assert len(persons) % 6 == 0, "the test needs whole total batches"

    driver = tiny_project / "record_steps.py"
    driver.write_text(RECORD_STEPS)
    records = {"single": tiny_project / "single_steps", "ddp": tiny_project / "ddp_steps"}
    for folder in records.values():
        folder.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = ["train", EXPERIMENT, "--scale", "ddp", "--no-progress"]
    single = subprocess.run([sys.executable, str(driver), *command],
                            env={**env, "RECORD_DIR": str(records["single"])},
                            capture_output=True, text=True, timeout=300)
    assert single.returncode == 0, single.stderr
    reference = _weights(exp.run_dir / "model.pth")
    (exp.run_dir / "model.pth").rename(tiny_project / "single.pth")
    (exp.run_dir / "checkpoints" / "last.pth").unlink()

    ddp = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
         str(driver), *command],
        env={**env, "RECORD_DIR": str(records["ddp"])}, capture_output=True, text=True,
        timeout=300,
    )
    assert ddp.returncode == 0, ddp.stderr[-4000:]

    # Two processes with half the batch each were in effect: each rank was one of a group of
    # two under DistributedDataParallel and trained 3 persons per step, the two halves making
    # the single process's batch of 6; and after every step both ranks held the same weights,
    # which only the gradients' all-reduce gives ranks that trained on different persons.
    steps = 2 * 3
    alone = _recorded_steps(records["single"])
    assert list(alone) == [0]
    assert [(s["world_size"], s["ddp"], len(s["persons"])) for s in alone[0]] == \
        [(1, False, 6)] * steps
    ranks = _recorded_steps(records["ddp"])
    assert list(ranks) == [0, 1]
    for rank in (0, 1):
        assert [(s["world_size"], s["ddp"], len(s["persons"])) for s in ranks[rank]] == \
            [(2, True, 3)] * steps, f"rank {rank}"
    for k, (whole, first, second) in enumerate(zip(alone[0], ranks[0], ranks[1], strict=True)):
        assert not set(first["persons"]) & set(second["persons"]), f"step {k}"
        assert sorted(first["persons"] + second["persons"]) == sorted(whole["persons"]), \
            f"step {k}"
        assert first["weights"] == second["weights"], f"step {k}: the ranks' weights differ"
    distributed = _weights(exp.run_dir / "model.pth")
    assert distributed.keys() == reference.keys()
    changed = 0
    for key, value in reference.items():
        if value.is_floating_point():
            torch.testing.assert_close(distributed[key], value, rtol=1e-5, atol=1e-6,
                                       msg=lambda m, k=key: f"{k}: {m}")
            changed += 1
        else:
            assert torch.equal(distributed[key], value), key
    assert changed > 0
    # the two runs did train: the weights moved away from the initialisation
    init = reg.resolve(EXPERIMENT, "ddp")
    from pose.models import build_model

    torch.manual_seed(init.seed)
    fresh = build_model(init.model_spec).state_dict()
    assert any(not torch.allclose(fresh[k], reference[k]) for k in reference
               if reference[k].is_floating_point())
