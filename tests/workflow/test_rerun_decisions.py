"""Rerun decisions: both engines re-train exactly when a param the weights depend on changes, from
one definition (ResolvedExperiment.train_hash), and Snakemake does so without its metadata."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import TINY_TRAIN, write_tiny_params
from workflow.test_workflow import ROOT, _env, _run, _workflow_copy

from pose.code_version import EVAL_CODE, TRAIN_CODE, code_hash
from pose.config import load_registry

EXP = "hrnet_w32_256x192"

# (file, path of keys, new value, does the training change?)
EDITS = [
    ("recipes.yaml", ["hrnet", "optimizer", "lr"], 0.5, True),
    ("recipes.yaml", ["hrnet", "optimizer", "weight_decay"], 1.0e-4, True),
    ("recipes.yaml", ["hrnet", "schedule", "gamma"], 0.5, True),
    # the tiny scale sets the batch itself: the recipe's no longer reaches the weights
    ("recipes.yaml", ["hrnet", "batch_size"], 64, False),
    ("scales.yaml", ["tiny", "recipe", "batch_size"], 4, True),
    ("recipes.yaml", ["hrnet", "augment", "rotation_factor"], 30, True),
    ("recipes.yaml", ["hrnet", "loss", "type"], "ohkm", True),
    ("recipes.yaml", ["hrnet", "sigma"], 3.0, True),
    ("recipes.yaml", ["hrnet", "precision"], "bf16", True),
    ("recipes.yaml", ["hrnet", "channels_last"], True, True),
    ("recipes.yaml", ["hrnet", "sync_bn"], True, True),
    ("recipes.yaml", ["hrnet", "test", "oks_thre"], 0.5, False),
    ("recipes.yaml", ["hrnet", "test", "flip_test"], False, False),
    ("models.yaml", ["hrnet_w32", "fusion"], "rdna", True),
    ("experiments.yaml", ["experiments", EXP, "seed"], 7, True),
    ("experiments.yaml", ["experiments", EXP, "gpus"], 8, False),
    ("scales.yaml", ["tiny", "recipe", "epochs"], 3, True),
    ("scales.yaml", ["tiny", "input"], "128x96", True),
    ("scales.yaml", ["tiny", "models", "hrnet", "width"], 12, True),
    ("scales.yaml", ["tiny", "subset"], {"train": 4, "val_images": 2}, True),
    # on the CPU one process trains; on the experiment's 4 GPUs BatchNorm sees a quarter batch
    ("scales.yaml", ["tiny", "device"], "cuda", True),
    ("scales.yaml", ["tiny", "eval_device"], "cuda", False),
    ("scales.yaml", ["tiny", "num_workers"], 2, False),
    ("scales.yaml", ["tiny", "threads"], 2, False),
    ("scales.yaml", ["tiny", "val_every"], 5, False),
    ("scales.yaml", ["tiny", "train"], [EXP], False),
]


def _edit(params: Path, file: str, keys: list[str], value: object) -> None:
    path = params / file
    data = yaml.safe_load(path.read_text())
    node = data
    for key in keys[:-1]:
        node = node[key]
    node[keys[-1]] = copy.deepcopy(value)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


@pytest.mark.parametrize(("file", "keys", "value", "retrains"), EDITS,
                         ids=[".".join(e[1][-2:]) for e in EDITS])
def test_each_key_retrains_exactly_when_the_weights_depend_on_it(
        tmp_path: Path, file: str, keys: list[str], value: object, retrains: bool) -> None:
    params = write_tiny_params(tmp_path)
    before = load_registry(params).resolve(EXP, "tiny").train_hash
    _edit(params, file, keys, value)
    if keys[-1] == "sync_bn":  # the preflight must then list every experiment of the recipe
        scales = yaml.safe_load((params / "scales.yaml").read_text())
        scales["preflight"]["cpu_ddp"]["experiments"] = list(
            yaml.safe_load((params / "experiments.yaml").read_text())["experiments"])
        (params / "scales.yaml").write_text(yaml.safe_dump(scales, sort_keys=False))
    registry = load_registry(params, check_pipeline=False)
    assert (registry.resolve(EXP, "tiny").train_hash != before) is retrains


@pytest.mark.parametrize(("sync_bn", "retrains"), [(False, True), (True, False)])
def test_gpus_retrain_through_each_gpus_batchnorm_batch(tmp_path: Path, sync_bn: bool,
                                                        retrains: bool) -> None:
    """Per-GPU BatchNorm normalises over each GPU's share of the batch: the same total batch on
    more GPUs trains other weights, unless sync_bn normalises over the total; documentation
    (`assumptions`) changes nothing."""
    params = write_tiny_params(tmp_path)
    _edit(params, "scales.yaml", ["tiny", "device"], "cuda")
    _edit(params, "recipes.yaml", ["hrnet", "sync_bn"], sync_bn)
    scales = yaml.safe_load((params / "scales.yaml").read_text())
    scales["preflight"]["cpu_ddp"]["experiments"] = list(
        yaml.safe_load((params / "experiments.yaml").read_text())["experiments"])
    (params / "scales.yaml").write_text(yaml.safe_dump(scales, sort_keys=False))
    before = load_registry(params, check_pipeline=False).resolve(EXP, "tiny")
    _edit(params, "recipes.yaml", ["hrnet", "assumptions"], ["a note"])
    assert load_registry(params, check_pipeline=False).resolve(
        EXP, "tiny").train_hash == before.train_hash
    _edit(params, "experiments.yaml", ["experiments", EXP, "gpus"], before.gpus * 2)
    after = load_registry(params, check_pipeline=False).resolve(EXP, "tiny")
    assert (after.train_hash != before.train_hash) is retrains


def test_both_engines_take_the_train_trigger_from_the_same_hash() -> None:
    """dvc.yaml's train stage (one per run: each experiment's seeds) has one params trigger,
    pipeline.yaml's train_hash, which `pose use-scale` derives with the code the Snakemake train
    rule's params trigger calls."""
    stage = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["train"]
    assert stage["foreach"] == "${runs}"
    assert stage["do"]["params"] == [{"params/pipeline.yaml": ["runs.${key}.train_hash"]}]
    registry = load_registry(ROOT / "params")
    for name, entry in registry.pipeline["runs"].items():
        assert entry["train_hash"] == registry.resolve(name, registry.default_scale).train_hash
    for name, entry in registry.pipeline["train"].items():  # an experiment's own run: the same
        assert registry.pipeline["runs"][name]["train_hash"] == entry["train_hash"]
    rule = (ROOT / "workflow/rules/train.smk").read_text()
    assert "train_hash=train_hash" in rule and "train_params_stamp" in rule


@pytest.mark.slow
def test_snakemake_retrains_outputs_made_with_other_params_without_its_metadata(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """After a run, .snakemake/ removed (as in a fresh clone): nothing is planned while params/
    is unchanged; an edited test protocol plans every evaluation and no training; an edited
    experiment plans its training only. After an edit of the trainer's code, a dry run names the
    outputs made with other code and keeps them (`code_changes=warn`), refuses to run
    (`code_changes=stop`) or plans their training (`code_changes=rerun`)."""
    work = _workflow_copy(tmp_path, tiny=True)
    monkeypatch.setenv("PYTHONPATH", str(work))  # the `pose` commands run the copy's code too
    _run(["snakemake", "--cores", "2"], work)
    for run in TINY_TRAIN:
        recorded = yaml.safe_load((work / f"runs/tiny/{run}/config.yaml").read_text())
        assert recorded["train_hash"] == load_registry(work / "params").resolve(
            run, "tiny").train_hash
        assert recorded["train_code"] == code_hash(TRAIN_CODE, work)
        evaluated = json.loads((work / f"runs/tiny/{run}/eval.json").read_text())
        assert evaluated["eval_code"] == code_hash(EVAL_CODE, work)

    shutil.rmtree(work / ".snakemake")
    assert "Nothing to be done" in _run(["snakemake", "-n", "--cores", "2"], work)

    # the test protocol: every evaluation again, no training
    _edit(work / "params", "recipes.yaml", ["hrnet", "test", "oks_thre"], 0.5)
    shutil.rmtree(work / ".snakemake")
    plan = _run(["snakemake", "-n", "--cores", "2"], work)
    for run in TINY_TRAIN:
        assert f"output: runs/tiny/{run}/eval.json" in plan
        assert f"output: runs/tiny/{run}/model.pth" not in plan
    _edit(work / "params", "recipes.yaml", ["hrnet", "test", "oks_thre"], 0.9)
    shutil.rmtree(work / ".snakemake")
    assert "Nothing to be done" in _run(["snakemake", "-n", "--cores", "2"], work)

    seed = yaml.safe_load((work / "params/experiments.yaml").read_text())[
        "experiments"][EXP]["seed"]
    _edit(work / "params", "experiments.yaml", ["experiments", EXP, "seed"], 5)
    stale = subprocess.run(["snakemake", "-n", "--cores", "2"], cwd=work, env=_env(),
                           capture_output=True, text=True)
    assert stale.returncode != 0 and "pose use-scale tiny" in stale.stderr + stale.stdout
    _run(["pose", "use-scale", "tiny"], work)
    shutil.rmtree(work / ".snakemake")
    plan = _run(["snakemake", "-n", "--cores", "2"], work)
    assert f"output: runs/tiny/{EXP}/model.pth" in plan
    assert "output: runs/tiny/hrnet_w48_256x192/model.pth" not in plan

    # code: the trainer's code edited after the run (recorded hashes now differ)
    shutil.rmtree(work / ".snakemake")
    _edit(work / "params", "experiments.yaml", ["experiments", EXP, "seed"], seed)
    _run(["pose", "use-scale", "tiny"], work)
    trainer = work / "pose/engine/trainer.py"
    trainer.write_text(trainer.read_text() + "\n# an edit\n")
    kept = _run(["snakemake", "-n", "--cores", "2"], work)
    assert "Nothing to be done" in kept
    for run in TINY_TRAIN:
        assert f"{run}: model.pth made with code" in kept
    stop = subprocess.run(["snakemake", "-n", "--cores", "2", "--config", "code_changes=stop"],
                          cwd=work, env=_env(), capture_output=True, text=True)
    assert stop.returncode != 0 and "stopping (--config code_changes=stop)" in (
        stop.stdout + stop.stderr)
    rerun = _run(["snakemake", "-n", "--cores", "2", "--config", "code_changes=rerun"], work)
    for run in TINY_TRAIN:
        assert f"output: runs/tiny/{run}/model.pth" in rerun
