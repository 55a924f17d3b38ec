"""The command-line interface: stable forms, and one clear message (exit 2) for bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml

from pose.cli import main
from pose.config import load_registry

ROOT = Path(__file__).resolve().parents[1]


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["--params", str(ROOT / "params"), *args] if "--params" not in args else args)
    out, err = capsys.readouterr()
    return code, out, err


def test_models_lists_one_name_per_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["models"], capsys)
    assert code == 0
    names = out.split()
    assert names[:3] == ["hrnet_w32", "hrnet_w48", "simplebaseline_r50"]
    assert out.endswith("\n") and len(out.splitlines()) == len(names)


# The zoo the papers need: every DNANet Table 1 row and DNANet W32/W48, RAM+GPR W32/W48 and its
# two module ablations, every Efficient HRNet Table I placement and its W48, and HRNet-W16.
PAPER_MODELS = [
    "hrnet_w32_channel_attention", "hrnet_w32_cdna", "hrnet_w32_spatial_attention",
    "hrnet_w32_sdna", "hrnet_w32_resolution_attention", "hrnet_w32_rdna", "hrnet_w32_cdna_sdna",
    "hrnet_w32_sdna_cdna", "hrnet_w32_cdna_sdna_rdna", "hrnet_w32_f2c", "hrnet_w32_regressor",
    "hrnet_w32_f2c_regressor", "dnanet_w32", "dnanet_w48",
    "ram_gpr_w32", "ram_gpr_w48", "ram_gpr_w32_no_ram_weights", "ram_gpr_w32_rescale_sum",
    "hrnet_w32_am_sub1", "hrnet_w32_am_sub12", "hrnet_w32_am_sub123", "hrnet_w32_am_all",
    "hrnet_w32_am_stage1", "hrnet_w32_am_stage12", "hrnet_am_w32", "hrnet_am_w48",
    "hrnet_w16",
    "danet_72", "danet_88", "danet_98", "danet_102", "danet_102_baseline1",
    "danet_102_baseline2", "danet_102_cau", "danet_102_mau", "danet_102_sfu",
    "danet_102_cau_mau", "danet_102_oab_variant1", "danet_102_oab_variant2", "danet_102_xunit",
    "danet_102_mau_variant1", "danet_102_mau_variant2", "pyramid_res18", "pyramid_res18_sfu",
    "pyramid_res34", "pyramid_res50", "pyramid_dense98", "pyramid_dense121", "pyramid_dense169",
    "simplebaseline_r18", "simplebaseline_r34",
    "frsbn_r34_plain", "frsbn_r34_gcb", "frsbn_r34_gcb_skip", "frsbn_r34", "frsbn_r50",
    "frsbn_r101", "frsbn_r152",
]


def test_models_lists_the_papers_variants(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["models"], capsys)
    assert code == 0
    missing = sorted(set(PAPER_MODELS) - set(out.split()))
    assert not missing


def test_complexity_json_form(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["complexity", "simplebaseline_r50", "--input", "256x192",
                        "--format", "json"], capsys)
    assert code == 0
    record = json.loads(out)
    assert set(record) == {"model", "input", "params", "gflops_paper", "gmacs"}
    assert record["model"] == "simplebaseline_r50" and record["input"] == "256x192"
    assert record["params"] == 33_999_697
    assert record["gflops_paper"] == pytest.approx(8.99, abs=0.02)


def test_unknown_model_is_one_clear_message(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["complexity", "hrnet_w99", "--format", "json"], capsys)
    assert code == 2 and out == ""
    assert "unknown model 'hrnet_w99'" in err and "hrnet_w32" in err
    assert "Traceback" not in err


def test_bad_params_file_names_file_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    params = tmp_path / "params"
    shutil.copytree(ROOT / "params", params)
    scales = yaml.safe_load((params / "scales.yaml").read_text())
    scales["smoke"]["threads"] = "two"
    (params / "scales.yaml").write_text(yaml.safe_dump(scales))
    code, _, err = run(["--params", str(params), "models"], capsys)
    assert code == 2
    assert "scales.yaml: smoke.threads" in err and "'two'" in err


def test_missing_annotation_file_names_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "person_keypoints_val.json"
    code, _, err = run(["evaluate", "--oracle", "--annotations", str(missing),
                        "--images", str(tmp_path)], capsys)
    assert code == 2 and str(missing) in err
    code, _, err = run(["evaluate", "--ground-truth", "--annotations", str(missing)], capsys)
    assert code == 2 and str(missing) in err


def test_evaluate_needs_an_experiment_or_a_diagnostic(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["evaluate"], capsys)
    assert code == 2 and "EXPERIMENT" in err


def test_synth_refuses_to_replace_a_foreign_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    precious = tmp_path / "coco"
    (precious / "train2017").mkdir(parents=True)
    (precious / "train2017" / "x.jpg").write_bytes(b"jpeg")
    code, _, err = run(["synth", "--out", str(precious)], capsys)
    assert code == 2 and "not a synthetic dataset" in err
    assert (precious / "train2017" / "x.jpg").read_bytes() == b"jpeg"


def test_oracle_defaults_to_the_pipeline_dataset(
    tiny_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(["--params", "params", "evaluate", "--oracle", "--no-progress"], capsys)
    assert code == 0
    record = json.loads(out)
    assert record["annotations"].endswith("person_keypoints_val.json")
    assert record["AP"] > 0.9


def test_use_scale_rewrites_pipeline_and_a_stale_one_stops_commands_at_its_scale(
    tiny_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from conftest import TINY_TRAIN

    pipeline = tiny_project / "params/pipeline.yaml"
    assert list(yaml.safe_load(pipeline.read_text())["train"]) == TINY_TRAIN
    scales_file = tiny_project / "params/scales.yaml"
    scales = yaml.safe_load(scales_file.read_text())
    scales["tiny"]["train"] = TINY_TRAIN[:1]
    scales_file.write_text(yaml.safe_dump(scales, sort_keys=False))

    code, _, err = run(["--params", "params", "table", "baselines"], capsys)
    assert code == 2 and "`pose use-scale tiny`" in err
    code, _, err = run(["--params", "params", "report", "--scale", "tiny"], capsys)
    assert code == 2 and "`pose use-scale tiny`" in err
    # Commands at another scale, or without one, do not use the file.
    code, _, _ = run(["--params", "params", "experiments"], capsys)
    assert code == 0
    code, _, _ = run(["--params", "params", "table", "baselines", "--scale", "full"], capsys)
    assert code == 0

    code, out, _ = run(["--params", "params", "use-scale", "tiny"], capsys)
    assert code == 0 and "pipeline.yaml" in out
    written = yaml.safe_load(pipeline.read_text())
    train = {TINY_TRAIN[0]: {
        "model": "hrnet_w32", "recipe": "hrnet", "init": "pose/models/pretrained.py",
        "train_hash": load_registry(Path("params")).resolve(TINY_TRAIN[0], "tiny").train_hash,
    }}
    assert written == {
        "scale": "tiny",
        "dataset": "synthetic",
        "data": {"synthetic": {"out": "data/synthetic"}},
        "train": train,
        # one training each (tiny asks for no further seeds), curves over their logs
        "runs": {e: {**v, "experiment": e} for e, v in train.items()},
        "curves": written["curves"],
        "speed": {},
    }
    assert set(written["curves"]["loss"]["training loss per epoch"]["y"]) == {
        f"runs/tiny/{TINY_TRAIN[0]}/train_log.csv"}
    code, _, _ = run(["--params", "params", "table", "baselines"], capsys)
    assert code == 0
    code, _, err = run(["--params", "params", "use-scale", "huge"], capsys)
    assert code == 2 and "unknown scale 'huge'" in err


def test_fetch_names_a_file_to_place_by_hand(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The repo's detection-file source in an empty folder: exit 2, the file's path, where to
    get it and that it is checked by content; an unknown name lists what exists."""
    monkeypatch.chdir(tmp_path)
    code, out, err = run(["fetch", "coco_detections"], capsys)
    assert code == 2 and out == ""
    assert ("data/coco/person_detection_results/COCO_val2017_detections_AP_H_56_person.json: "
            "missing") in err
    assert "deep-high-resolution-net.pytorch" in err and "checked by content" in err
    assert not (tmp_path / "data/coco/person_detection_results").exists()
    code, _, err = run(["fetch", "imagenet_resnet50"], capsys)
    assert code == 2 and "neither a source" in err and "imagenet_resnet" in err


def test_fetch_generates_the_synthetic_source(
    tiny_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.rmtree(tiny_project / "data/synthetic")
    code, out, _ = run(["--params", "params", "--no-progress", "fetch", "synthetic"], capsys)
    assert code == 0 and out.startswith("synthetic: generated data/synthetic")
    assert (tiny_project / "data/synthetic/annotations/person_keypoints_val.json").is_file()


# ---- issue 15, item 10: conflicting evaluate flags are rejected, not silently resolved
@pytest.mark.parametrize(("flags", "message"), [
    (["--oracle", "--ground-truth"], "argument --ground-truth: not allowed with argument --oracle"),
    (["x", "--untrained", "--checkpoint", "m.pth"],
     "argument --checkpoint: not allowed with argument --untrained"),
    (["x", "--weights", "w.pth", "--checkpoint", "m.pth"],
     "argument --checkpoint: not allowed with argument --weights"),
    (["x", "--untrained", "--weights", "w.pth"],
     "argument --weights: not allowed with argument --untrained"),
])
def test_conflicting_evaluate_flags_are_mutually_exclusive(
        flags: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["evaluate", *flags])
    assert exit_.value.code == 2
    assert f"pose evaluate: error: {message}" in capsys.readouterr().err


def test_conflicting_evaluate_flags_a_diagnostic_with_a_model(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["evaluate", "--oracle", "--untrained"], capsys)
    assert code == 2 and err == ("pose evaluate: error: --oracle/--ground-truth evaluate no "
                                 "model: give them without --checkpoint, --weights or "
                                 "--untrained\n")


# ---- issue 15, item 11: a data error in a loader worker prints its message alone
class _BadSample(torch.utils.data.Dataset):
    def __len__(self) -> int:
        return 1

    def __getitem__(self, i: int) -> None:
        from pose.errors import DataError

        raise DataError("data/x/img.jpg: truncated JPEG")


def test_data_error_in_a_loader_worker_prints_the_message_alone(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from pose.preflight import error_line

    caught: list[BaseException] = []

    def load(args: object) -> None:
        try:
            next(iter(torch.utils.data.DataLoader(_BadSample(), num_workers=1)))
        except Exception as err:
            caught.append(err)
            raise

    monkeypatch.setattr("pose.cli.cmd_models", load)
    code, _, err = run(["models"], capsys)
    assert "Original Traceback" in str(caught[0])  # torch wraps it with the worker's traceback
    assert code == 2 and err == "pose models: error: data/x/img.jpg: truncated JPEG\n"
    assert error_line(caught[0]) == "DataError: data/x/img.jpg: truncated JPEG"
