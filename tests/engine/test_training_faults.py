"""Faults met while training, each one clear message and nothing half-written (issue 15: cases
1 divergence, 2 pickled objects in checkpoints, 5 read-only folder and full disk, 6 no CUDA and
config.yaml with model.pth, 9 temporaries of a killed write)."""

from __future__ import annotations

import errno
import gc
import os
import re
import subprocess
import sys
import weakref
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import yaml
from extra_scales import add_scale
from fault_helpers import assert_plant_is_live, plant_checkpoint, read_only
from torch.nn.parallel import DistributedDataParallel

from pose.cli import main
from pose.config import load_registry
from pose.engine import trainer
from pose.engine.checkpoint import read_checkpoint
from pose.engine.distributed import DistContext
from pose.engine.launch import check_devices
from pose.errors import DeviceError
from pose.stages import use_scale_stage

EXPERIMENT = "hrnet_w32_256x192"
ROOT = Path(__file__).resolve().parents[2]
DIVERGED = (r"experiment 'hrnet_w32_256x192' diverged: the training loss is (nan|inf) at "
            r"epoch 1/2 step \d+ \(last finite loss \S+ at epoch 1 step \d+\); training "
            r"stopped and no model.pth was written")


def _train(scale: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["train", EXPERIMENT, "--scale", scale, "--no-progress"])
    return code, capsys.readouterr().err


def _run_dir(project: Path, scale: str) -> Path:
    return project / "runs" / scale / EXPERIMENT


def test_case1_a_diverged_training_stops_at_the_first_nonfinite_loss(
        tiny_project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    add_scale(tiny_project, "diverge", {"optimizer": {"lr": 1.0e8}})
    code, err = _train("diverge", capsys)
    assert code == 2
    assert err.startswith("pose train: error: ")
    assert re.search(DIVERGED, err), err
    run = _run_dir(tiny_project, "diverge")
    assert not (run / "model.pth").exists()
    assert not (run / "config.yaml").exists()
    assert not (run / "checkpoints" / "last.pth").exists()  # nothing of the NaN weights


# Under torchrun: rank 1 alone sees a NaN loss at its second step; both ranks must stop there
# together (a rank that went on would wait for the other in the next all-reduce).
NAN_ON_RANK_1 = """
import math, os, sys
import pose.engine.trainer as trainer
from pose.cli import main
real_step, calls = trainer.train_step, [0]
def step(*args, **kwargs):
    calls[0] += 1
    loss, n = real_step(*args, **kwargs)
    if os.environ["RANK"] == "1" and calls[0] == 2:
        loss = loss * math.nan
    return loss, n
trainer.train_step = step
sys.exit(main(sys.argv[1:]))
"""


def test_case1_under_ddp_every_rank_stops_at_a_nonfinite_loss_on_one(tiny_project: Path) -> None:
    add_scale(tiny_project, "ddp_nan", {"batch_size": 4}, val_every=100)
    driver = tiny_project / "nan_on_rank_1.py"
    driver.write_text(NAN_ON_RANK_1)
    ran = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
         str(driver), "train", EXPERIMENT, "--scale", "ddp_nan", "--no-progress"],
        env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True,
        timeout=120)
    assert ran.returncode != 0
    assert "the training loss is nan at epoch 1/2 step 2" in ran.stderr, ran.stderr[-3000:]
    assert "the training loss is not finite on another process (here " in ran.stderr, \
        ran.stderr[-3000:]
    assert ran.stderr.count("pose train: error: experiment 'hrnet_w32_256x192' diverged") == 2
    assert not (_run_dir(tiny_project, "ddp_nan") / "model.pth").exists()


def test_closing_a_trainer_frees_its_ddp_wrapper_before_the_process_group_goes(
        tiny_project: Path, tmp_path: Path) -> None:
    """The DDP Reducer must never be the last holder of the gloo group: freed after
    destroy_process_group (a diverged run's traceback keeps the trainer alive), it destroys the
    group holding the GIL and can deadlock with gloo's workers at exit."""
    exp = load_registry("params").resolve(EXPERIMENT, "tiny")
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0,
                            world_size=1)
    try:
        run = trainer.Trainer(exp, DistContext(), progress=False)
        run.net = DistributedDataParallel(run.model)
        wrapper = weakref.ref(run.net)
        gc.collect()
        assert wrapper() is not None  # alive while the trainer holds it
        run.close()
        assert wrapper() is None
        assert run.net is run.model  # the trainer goes on with the plain model
    finally:
        dist.destroy_process_group()


def test_case6_a_failed_training_leaves_config_yaml_with_its_model_pth(
        tiny_project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = _run_dir(tiny_project, "tiny")
    assert _train("tiny", capsys)[0] == 0
    config, model = (run / "config.yaml").read_text(), (run / "model.pth").read_bytes()
    assert yaml.safe_load(config)["recipe"]["optimizer"]["lr"] == 1.0e-3
    scales = tiny_project / "params" / "scales.yaml"
    edited = yaml.safe_load(scales.read_text())
    edited["tiny"]["recipe"]["optimizer"] = {"lr": 1.0e8}  # the same run folder, other params
    scales.write_text(yaml.safe_dump(edited, sort_keys=False))
    use_scale_stage(tiny_project / "params", "tiny")  # pipeline.yaml records the new train_hash
    code, err = _train("tiny", capsys)
    assert code == 2 and "diverged" in err
    assert (run / "config.yaml").read_text() == config  # still the params of model.pth
    assert (run / "model.pth").read_bytes() == model


def test_what_training_saves_loads_with_weights_only(
        tiny_project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = _run_dir(tiny_project, "tiny")
    assert _train("tiny", capsys)[0] == 0
    for path in (run / "model.pth", run / "checkpoints" / "last.pth"):
        payload = torch.load(path, map_location="cpu", weights_only=True)
        assert read_checkpoint(path).keys() == payload.keys()  # the loader's own route too
    last = torch.load(run / "checkpoints" / "last.pth", weights_only=True)
    assert [r["epoch"] for r in last["history"]] == [1, 2]
    assert last["optimizer"]["param_groups"] and last["scheduler"]["milestones"]


def test_case2_a_pickled_object_planted_in_last_pth_is_refused_at_resume(
        tiny_project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    exp = load_registry("params").resolve(EXPERIMENT, "tiny")
    planted = exp.run_dir / "checkpoints" / "last.pth"
    marker = tiny_project / "planted-object-ran"
    plant_checkpoint(planted, marker, config_hash=exp.train_hash, epoch=1, step=0, history=[])
    code, err = _train("tiny", capsys)
    assert code == 2
    assert f"pose train: error: {planted}: refused: it holds a " \
        "pickled Python object (exec)" in err, err
    assert "nothing of it was run" in err
    assert not marker.exists()
    assert not (exp.run_dir / "model.pth").exists()
    assert_plant_is_live(planted, marker)


def test_case2_a_pickled_object_planted_in_a_checkpoint_option_is_refused(
        tiny_project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    planted = tiny_project / "downloaded.pth"
    marker = tiny_project / "planted-object-ran"
    plant_checkpoint(planted, marker, model_name="hrnet_w32")
    code = main(["evaluate", EXPERIMENT, "--checkpoint", str(planted), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert f"pose evaluate: error: {planted}: refused: it holds a pickled Python object" in err
    assert not marker.exists()
    assert_plant_is_live(planted, marker)


def test_case9_temporaries_of_a_killed_checkpoint_write_are_swept_when_training_starts(
        tiny_project: Path, capsys: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture) -> None:
    run = _run_dir(tiny_project, "tiny")
    (run / "checkpoints").mkdir(parents=True)
    stale = [run / "checkpoints" / ".last.pth.k1ll3d.tmp", run / ".model.pth.x8f2q1.tmp",
             run / ".train_log.csv.a1b2c3.tmp"]
    others = [run / "checkpoints" / "notes.tmp", run / ".eval.json.q9w8e7.tmp"]
    for path in stale + others:
        path.write_bytes(b"\0" * 64)  # a partial write
    code, err = _train("tiny", capsys)
    assert code == 0, err
    assert [p for p in stale if p.exists()] == []
    assert all(p.exists() for p in others)  # not training's: left alone
    assert "removed runs/tiny/hrnet_w32_256x192/checkpoints/.last.pth.k1ll3d.tmp, left by an " \
        "interrupted write" in caplog.text  # a warning on stderr
    assert (run / "model.pth").is_file() and (run / "config.yaml").is_file()


def test_case5_a_full_disk_while_saving_a_checkpoint_names_it_and_keeps_nothing_partial(
        tiny_project: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    real_save = torch.save

    def full_disk(obj, f, *args, **kwargs):
        real_save({"part": torch.zeros(8)}, f)  # some bytes went out, then the disk filled
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(torch, "save", full_disk)
    code, err = _train("tiny", capsys)
    assert code == 2
    run = _run_dir(tiny_project, "tiny")
    assert "pose train: error: runs/tiny/hrnet_w32_256x192/checkpoints/last.pth: disk full " \
        "while writing it (No space left on device); nothing was written" in err, err
    assert list((run / "checkpoints").iterdir()) == []  # no last.pth, no temporary
    assert not (run / "model.pth").exists() and not (run / "config.yaml").exists()


def test_case5_a_read_only_run_folder_stops_training_before_it_starts(
        tiny_project: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    def never(*args, **kwargs):
        raise AssertionError("training started in a read-only run folder")

    monkeypatch.setattr(trainer, "Trainer", never)
    run = _run_dir(tiny_project, "tiny")
    with read_only(run):
        code, err = _train("tiny", capsys)
    assert code == 2
    assert "pose train: error: " in err and "cannot write there (Permission denied)" in err, err
    assert str(run) in err


def test_case6_full_scale_without_cuda_fails_before_starting_torchrun(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    import pose.engine.launch as launch

    started: list[list[str]] = []
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(launch.os, "execvp", lambda prog, argv: started.append(argv))
    for var in ("LOCAL_RANK", "WORLD_SIZE", "CUDA_VISIBLE_DEVICES"):
        monkeypatch.delenv(var, raising=False)
    code = main(["--params", str(ROOT / "params"), "train", "dnanet_w32_256x192",
                 "--scale", "full"])
    err = capsys.readouterr().err
    assert code == 2 and started == []
    assert err == ("pose train: error: experiment 'dnanet_w32_256x192' trains on 8 GPUs at "
                   "scale 'full', but this machine has no usable CUDA device; run it on a GPU "
                   "node (snakemake --profile slurm) or use the smoke scale\n")
    assert not (tmp_path / "runs").exists()  # no config.yaml left behind


def test_case6_fewer_gpus_than_the_experiment_trains_on_fail_before_torchrun(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("LOCAL_RANK", "WORLD_SIZE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    exp = load_registry(ROOT / "params").resolve("dnanet_w32_256x192", "full")
    with pytest.raises(DeviceError, match=r"trains on 8 GPUs at scale 'full' \(one process "
                       r"each\), but this machine shows 2 \(CUDA_VISIBLE_DEVICES='0,1'\)"):
        check_devices(exp, cuda_available=lambda: True, device_count=lambda: 2)
    check_devices(exp, cuda_available=lambda: True, device_count=lambda: 8)
    one = replace(exp, gpus=1, processes=1)
    with pytest.raises(DeviceError, match="trains on 1 GPU at scale 'full'"):
        check_devices(one, cuda_available=lambda: False, device_count=lambda: 0)
