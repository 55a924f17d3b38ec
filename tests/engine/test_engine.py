"""Training engine: the loss, model-aware checkpoints, and resume after an interruption."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from pose.config import load_registry
from pose.engine import trainer
from pose.engine.checkpoint import load_weights, model_identity, save_checkpoint
from pose.engine.losses import JointsMSELoss
from pose.errors import CheckpointError
from pose.models import build_model


def test_loss_ignores_joints_with_zero_weight() -> None:
    target = torch.rand(2, 3, 8, 6)
    pred = target.clone()
    pred[:, 1] += 5.0  # wrong only on joint 1
    weight = torch.ones(2, 3, 1)
    weight[:, 1] = 0.0
    loss = JointsMSELoss(use_target_weight=True)
    assert loss(pred, target, weight).item() == 0.0
    weight[:, 1] = 1.0
    # official value: mean over joints of 0.5 * MSE -> 0.5 * 25 / 3 on one joint of three
    assert loss(pred, target, weight).item() == pytest.approx(0.5 * 25.0 / 3.0, rel=1e-5)


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


def test_checkpoint_of_another_model_is_refused(tmp_path: Path) -> None:
    reg = load_registry(Path(__file__).resolve().parents[2] / "params")
    spec32 = reg.model("hrnet_w32")
    spec48 = reg.model("hrnet_w48")
    path = tmp_path / "w48.pth"
    save_checkpoint(
        path, {**model_identity("hrnet_w48", spec48), "state_dict": {"x": torch.zeros(1)}}
    )
    model = build_model(spec32)
    with pytest.raises(CheckpointError, match=r"w48.pth.*'hrnet_w48'.*'hrnet_w32'"):
        load_weights(path, model, model_identity("hrnet_w32", spec32))


def test_corrupt_checkpoint_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.pth"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="broken.pth"):
        load_weights(path, torch.nn.Linear(1, 1), {"model_name": "x", "spec_hash": "y"})


def test_input_the_model_cannot_map_to_targets_is_a_config_error(tiny_project: Path) -> None:
    from dataclasses import replace

    from pose.errors import ConfigError
    from pose.experiment_data import check_output_size

    reg = load_registry("params")
    exp = replace(reg.resolve("simplebaseline_r50_256x192", "tiny"), input_hw=(96, 72))
    model = build_model(exp.model_spec)
    with pytest.raises(ConfigError, match="multiples of 32"):
        check_output_size(model, exp)


def test_a_finished_run_is_retrained_not_resumed(
    tiny_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A re-run (e.g. after a code change) must train again, not re-save the old weights."""
    exp = load_registry("params").resolve("hrnet_w32_256x192", "tiny")
    trainer.train_experiment(exp, progress=False)
    real_epoch = trainer.Trainer.run_epoch
    calls = {"n": 0}

    def counting(*args, **kwargs):
        calls["n"] += 1
        return real_epoch(*args, **kwargs)

    monkeypatch.setattr(trainer.Trainer, "run_epoch", counting)
    trainer.train_experiment(exp, progress=False)
    assert calls["n"] == exp.recipe.epochs


def test_loader_workers_see_each_epoch(tiny_project: Path) -> None:
    """Augmentation is seeded by (seed, epoch, index): with worker processes the weights must
    equal those of in-process loading, which they only do if workers see every new epoch."""
    from dataclasses import replace

    exp = load_registry("params").resolve("simplebaseline_r50_256x192", "tiny")
    in_process = _weights(trainer.train_experiment(exp, progress=False))
    with_workers = replace(exp, num_workers=1)
    import shutil

    shutil.rmtree(exp.run_dir)
    other = _weights(trainer.train_experiment(with_workers, progress=False))
    for key in in_process:
        torch.testing.assert_close(other[key], in_process[key], rtol=0, atol=1e-6)
