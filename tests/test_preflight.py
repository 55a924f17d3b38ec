"""The preflight scale: every experiment at paper size for a few steps, its failures recorded
instead of stopping the others, and the resources a full-scale step needs."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from conftest import ROOT
from extra_scales import add_scale

from pose.cli import main
from pose.config import load_registry
from pose.data.coco import Instance
from pose.engine.memory import GB, StepMeter, estimate_gpu_memory, fits
from pose.errors import ConfigError
from pose.experiment_data import first_images, subset_instances
from pose.report.preflight import DEFAULT_GPU_MEMORY_GB, site_gpu_memory_gb

SHRUNK_ONLY = ("epochs", "batch_size")  # what the preflight may change in a recipe


def test_preflight_runs_every_experiment_at_paper_size_and_shrinks_only_the_work() -> None:
    registry = load_registry(ROOT / "params")
    assert registry.trained_experiments("preflight", "synthetic") == list(registry.experiments)
    for name in registry.experiments:
        check = registry.resolve(name, "preflight")
        full = registry.resolve(name, "full")
        assert check.model_spec == full.model_spec, name
        assert check.input_hw == full.input_hw == full.paper_input, name
        assert replace(check.recipe, epochs=1, batch_size=1) == \
            replace(full.recipe, epochs=1, batch_size=1), name
        assert check.dataset_name == full.dataset_name  # the user's real COCO / MPII
        assert check.subset is not None and check.pretrained_optional and check.preflight
        stand_in = registry.resolve(name, "preflight", "synthetic")
        assert stand_in.dataset_name == "synthetic"
        if stand_in.task == "classification":  # DANet Table X: the stand-in's classes
            classes = stand_in.dataset.classification.num_classes
            assert stand_in.model_spec["num_classes"] == classes, name
        else:
            assert stand_in.model_spec["num_joints"] == 17
    # a training scale ignores a dataset it does not take as a stand-in
    assert registry.resolve("danet_72_mpii_256x256", "full", "synthetic").dataset_name == "mpii"


def test_preflight_data_needs_no_imagenet_fetch() -> None:
    registry = load_registry(ROOT / "params")
    assert registry.data_sources("preflight", "synthetic") == {"synthetic": "data/synthetic"}
    assert "imagenet_hrnet" not in registry.data_sources("preflight", "coco")
    assert "imagenet_hrnet" in registry.data_sources("full", "coco")


def _params_copy(tmp_path: Path) -> Path:
    params = tmp_path / "params"
    shutil.copytree(ROOT / "params", params)
    return params


def test_the_ddp_list_must_cover_every_model_family(tmp_path: Path) -> None:
    params = _params_copy(tmp_path)
    scales = yaml.safe_load((params / "scales.yaml").read_text())
    scales["preflight"]["cpu_ddp"]["experiments"].remove("frsbn_r34_256x192")
    (params / "scales.yaml").write_text(yaml.safe_dump(scales, sort_keys=False))
    with pytest.raises(ConfigError, match=r"cpu_ddp.experiments.*missing: \['frsbn'\]"):
        load_registry(params)


def test_a_bad_subset_names_the_field(tmp_path: Path) -> None:
    params = _params_copy(tmp_path)
    scales = yaml.safe_load((params / "scales.yaml").read_text())
    scales["preflight"]["subset"]["train"] = 0
    (params / "scales.yaml").write_text(yaml.safe_dump(scales, sort_keys=False))
    with pytest.raises(ConfigError, match=r"scales.yaml: preflight.*subset.train.*positive"):
        load_registry(params)


def _instance(image_id: int) -> Instance:
    zero = np.zeros(2)
    return Instance(image_id, Path(f"{image_id}.jpg"), zero, zero, np.zeros((17, 3)), 1.0, 0.0)


def test_the_subset_is_the_first_persons_and_every_box_of_the_first_images() -> None:
    persons = [_instance(i) for i in (7, 3, 7, 9, 3, 1)]
    assert [i.image_id for i in first_images(persons, 2)] == [7, 3, 7, 3]
    exp = replace(load_registry(ROOT / "params").resolve("hrnet_w32_256x192", "preflight"))
    assert subset_instances(exp, "train", persons) == persons[: exp.subset.train]
    assert len({i.image_id for i in subset_instances(exp, "val", persons)}) == \
        exp.subset.val_images
    assert subset_instances(replace(exp, subset=None), "val", persons) == persons


def _step(model: torch.nn.Module, meter: StepMeter, batch: int) -> None:
    optimizer = torch.optim.Adam(model.parameters())
    with meter.step(model, batch):
        out = model(torch.randn(batch, 3, 32, 24))
        optimizer.zero_grad(set_to_none=True)
        out.square().mean().backward()
        optimizer.step()
    meter.record_optimizer(optimizer)


def test_the_step_meter_measures_what_a_gpu_would_hold() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.BatchNorm2d(8),
                                torch.nn.ReLU(), torch.nn.Conv2d(8, 4, 3, padding=1))
    weights = sum(p.numel() for p in model.parameters()) * 4
    small, large = StepMeter(), StepMeter()
    _step(model, small, 2)
    _step(model, large, 4)
    assert small.param_bytes == small.grad_bytes == weights
    # Adam: two moments per weight (and one step counter per tensor)
    assert 2 * weights <= small.optimizer_bytes <= 2 * weights + 8 * 4 * 2
    assert small.saved_bytes > 0 and large.saved_bytes == pytest.approx(2 * small.saved_bytes,
                                                                        rel=0.01)
    record = small.to_dict()
    estimate = estimate_gpu_memory(record, per_gpu_batch=8, distributed=True)
    parts = estimate["parts_gb"]
    assert parts["activations"] == pytest.approx(4 * small.saved_bytes / GB)
    assert parts["ddp_buckets"] == parts["gradients"] == weights / GB
    assert estimate["total_gb"] == pytest.approx(sum(parts.values()))
    assert fits(10.0, 80.0) and not fits(79.0, 80.0)
    # only the first step is measured; every step is timed
    _step(model, small, 4)
    assert small.batch == 2 and len(small.step_seconds) == 2


def test_the_site_gpu_memory_comes_from_the_profile(tmp_path: Path) -> None:
    assert site_gpu_memory_gb(ROOT / "slurm/config.yaml")[0] == 80.0
    assert site_gpu_memory_gb(tmp_path / "none.yaml")[0] == DEFAULT_GPU_MEMORY_GB
    profile = tmp_path / "config.yaml"
    profile.write_text("site:\n  gpu_memory_gb: 24\n")
    assert site_gpu_memory_gb(profile) == (24.0, f"{profile} site.gpu_memory_gb")
    profile.write_text("site:\n  gpu_memory_gb: lots\n")
    with pytest.raises(ConfigError, match="site.gpu_memory_gb"):
        site_gpu_memory_gb(profile)


CHECK = {"preflight": True, "stand_ins": ["synthetic"], "subset": {"train": 4, "val_images": 2},
         "pretrained_optional": True, "num_workers": 1}


def test_a_failed_experiment_is_recorded_listed_and_fails_the_check(
        tiny_project: Path, capsys: pytest.CaptureFixture) -> None:
    """The first experiment runs; the second cannot read its images: its job still succeeds,
    records the error's first line, the report lists it, and preflight-check fails naming it."""
    add_scale(tiny_project, "check", {"epochs": 1, "batch_size": 2}, **CHECK)
    ok, broken = "hrnet_w32_256x192", "hrnet_w48_256x192"
    args = ["--no-progress", "preflight", ok, "--scale", "check", "--dataset", "synthetic"]
    assert main(args) == 0
    ran = json.loads((tiny_project / f"runs/check/{ok}/resources.json").read_text())
    assert (ran["status"], ran["steps"], ran["processes"]) == ("ran", 2, 1)
    assert ran["pretrained"]["status"] == "none"  # the tiny scale trains from scratch
    assert ran["gpu_memory"]["per_gpu_batch"] == 32  # HRNet's 128 over 4 GPUs
    assert ran["gpu_memory"]["total_gb"] > 0 and ran["peak_host_mb"] > 0
    assert (tiny_project / f"runs/check/{ok}/eval.json").is_file()
    # the checkpoints' sizes are kept, the files are not (80 paper-size runs: tens of GB)
    assert set(ran["checkpoint_mb"]) == {"model", "last"}
    assert not (tiny_project / f"runs/check/{ok}/model.pth").exists()
    assert not (tiny_project / f"runs/check/{ok}/checkpoints/last.pth").exists()

    for image in (tiny_project / "data/synthetic/images/train").iterdir():
        image.unlink()
    assert main(["--no-progress", "preflight", broken, "--scale", "check"]) == 0
    failed = json.loads((tiny_project / f"runs/check/{broken}/resources.json").read_text())
    assert (failed["status"], failed["failed_stage"]) == ("failed", "train")
    assert "images/train" in failed["error"] and "\n" not in failed["error"]
    assert not (tiny_project / f"runs/check/{broken}/eval.json").exists()

    capsys.readouterr()
    assert main(["preflight-check", "--scale", "check"]) == 2
    err = capsys.readouterr().err
    assert broken in err and f"{ok} (" not in err and "1 of 2 experiments failed" in err
    assert main(["table", "baselines", "--scale", "check"]) == 0
    assert main(["report", "--scale", "check"]) == 0
    index = (tiny_project / "reports/index.md").read_text()
    assert "## Preflight" in index and f"**failed: `{broken}`**" in index
    row = next(line for line in index.splitlines() if line.startswith(f"| `{broken}`"))
    assert "**failed** in train" in row
    numbers = json.loads((tiny_project / "reports/preflight.json").read_text())
    assert {r["experiment"]: r["status"] for r in numbers["rows"]} == {ok: "ran",
                                                                       broken: "failed"}


SAMPLE = ROOT.parent / "shared" / "coco_sample"


@pytest.mark.skipif(not (SAMPLE / "test_coco.json").is_file(),
                    reason=f"COCO val2017 sample not present at {SAMPLE}")
def test_preflight_on_real_coco_images_and_detections(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The real readers at paper size: the 4 val2017 images in COCO's layout (they stand in for
    train2017 too) with the 56.4-AP detector's boxes; SimpleBaseline-R50 through the
    DistributedDataParallel path in 2 CPU processes."""
    shutil.copytree(ROOT / "params", tmp_path / "params")
    coco = tmp_path / "data/coco"
    for split in ("train2017", "val2017"):
        (coco / split).mkdir(parents=True)
        for image in SAMPLE.glob("*.jpg"):
            shutil.copy(image, coco / split / image.name)
    (coco / "annotations").mkdir()
    for split in ("train2017", "val2017"):
        shutil.copy(SAMPLE / "test_coco.json",
                    coco / f"annotations/person_keypoints_{split}.json")
    (coco / "person_detection_results").mkdir()
    shutil.copy(SAMPLE / "test_coco_det_AP_H_56.json",
                coco / "person_detection_results/COCO_val2017_detections_AP_H_56_person.json")
    monkeypatch.chdir(tmp_path)
    experiment = "simplebaseline_r50_256x192"
    assert main(["--no-progress", "preflight", experiment, "--scale", "preflight",
                 "--dataset", "coco"]) == 0
    record = json.loads((tmp_path / f"runs/preflight/{experiment}/resources.json").read_text())
    assert (record["status"], record["dataset"], record["processes"]) == ("ran", "coco", 2)
    assert record["pretrained"]["status"] == "not present"
    evaluation = json.loads((tmp_path / f"runs/preflight/{experiment}/eval.json").read_text())
    assert (evaluation["dataset"], evaluation["boxes"]) == ("coco", "detections")
    assert np.isfinite(evaluation["AP"])
    results = json.loads((tmp_path / f"runs/preflight/{experiment}/results.json").read_text())
    assert 0 < len({r["image_id"] for r in results}) <= 2  # the subset's first 2 images
