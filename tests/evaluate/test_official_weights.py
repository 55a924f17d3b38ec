"""`pose evaluate EXPERIMENT --weights FILE` (plain state dicts from elsewhere) and `pose
verify-official` (the published weights beside their published AP), on the tiny project."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml

from pose.cli import main

EXP = "hrnet_w32_256x192"


def _pose(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["--no-progress", *args])
    out, err = capsys.readouterr()
    return code, out, err


def _record(out: str) -> dict:
    return json.loads(out[out.index("{"):])


def test_a_state_dict_evaluates_to_the_runs_own_ap(
    tiny_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _pose(["train", EXP, "--scale", "tiny"], capsys)[0] == 0
    assert _pose(["evaluate", EXP, "--scale", "tiny"], capsys)[0] == 0
    run = tiny_project / "runs" / "tiny" / EXP
    own = json.loads((run / "eval.json").read_text())
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    state = torch.load(run / "model.pth", map_location="cpu", weights_only=True)["state_dict"]
    torch.save(state, tiny_project / "bare.pth")
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}, "epoch": 2},
               tiny_project / "dataparallel.pth")
    for name in ("bare.pth", "dataparallel.pth"):
        out_file = tiny_project / "records" / f"{name}.json"
        code, out, err = _pose(["evaluate", EXP, "--scale", "tiny", "--weights", name,
                                "--out", str(out_file)], capsys)
        assert code == 0, err
        record = _record(out)
        assert record["AP"] == own["AP"] and record["weights"] == name
        assert json.loads(out_file.read_text()) == record
    # a diagnostic: the run's folder is as it was
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before


def test_weights_of_another_model_name_the_keys(
    tiny_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pose.config import load_registry
    from pose.models import build_model

    other = load_registry("params").resolve("simplebaseline_r50_256x192", "tiny")
    torch.save(build_model(other.model_spec).state_dict(), tiny_project / "r50.pth")
    code, out, err = _pose(["evaluate", EXP, "--scale", "tiny", "--weights", "r50.pth"], capsys)
    assert code == 2 and out == "" and "Traceback" not in err
    assert "r50.pth: does not match model 'hrnet_w32'" in err
    assert "missing keys 222: conv2.weight" in err  # HRNet's second stem conv, and a count
    assert "unexpected keys 120: layer1.1.conv1.weight" in err and "(+115 more)" in err
    assert "shape mismatches 3: conv1.weight (16, 3, 7, 7) (model (16, 3, 3, 3))" in err


class _RunsOnLoad:
    """Unpickling this calls open(path, "w"): a file that would run code when loaded."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self) -> tuple:
        return (open, (self.path, "w"))


def test_a_pickled_object_is_refused_unrun(
    tiny_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tiny_project / "ran.txt"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "hook": _RunsOnLoad(marker)},
               tiny_project / "evil.pth")
    code, _, err = _pose(["evaluate", EXP, "--scale", "tiny", "--weights", "evil.pth"], capsys)
    assert code == 2 and "Traceback" not in err
    assert "evil.pth: not loadable as a plain PyTorch state dict with weights_only=True" in err
    assert not marker.exists()


@pytest.mark.parametrize("content", ["missing", "text", "list"])
def test_bad_weights_files_name_the_file(
    tiny_project: Path, capsys: pytest.CaptureFixture[str], content: str
) -> None:
    path = tiny_project / "w.pth"
    if content == "text":
        path.write_text("not weights")
    elif content == "list":
        torch.save([torch.zeros(1)], path)
    code, out, err = _pose(["evaluate", EXP, "--scale", "tiny", "--weights", "w.pth"], capsys)
    assert code == 2 and out == "" and "Traceback" not in err and "w.pth" in err
    if content == "list":
        assert "not a state dict" in err


def test_other_val_files_need_a_box_source(
    tiny_project: Path, coco_fixture: SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    files = ["--annotations", str(coco_fixture.ann_file), "--images", str(coco_fixture.image_dir)]
    code, _, err = _pose(["evaluate", EXP, "--scale", "tiny", "--untrained", *files], capsys)
    assert code == 2 and "--detections FILE" in err
    code, out, err = _pose(["evaluate", EXP, "--scale", "tiny", "--untrained", *files,
                            "--detections", str(coco_fixture.det_file)], capsys)
    assert code == 0, err
    record = _record(out)
    assert record["boxes"] == "detections" and record["annotations"] == files[1]
    assert not (tiny_project / "runs").exists()  # writes nothing without --out


def _paper_size_scale(project: Path) -> None:
    """A scale that keeps the paper-size models and inputs, on the CPU without loader workers."""
    path = project / "params" / "scales.yaml"
    scales = yaml.safe_load(path.read_text())
    scales["cpu_paper"] = {**scales["full"], "device": "cpu", "eval_device": "cpu",
                           "num_workers": 0, "threads": 2, "train": [EXP]}
    path.write_text(yaml.safe_dump(scales, sort_keys=False))


def test_verify_official_writes_published_beside_measured(
    tiny_project: Path, coco_fixture: SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    from pose.config import load_registry
    from pose.models import build_model
    from pose.report.index import official_weights_table

    _paper_size_scale(tiny_project)
    registry = load_registry("params")
    folder = tiny_project / "data" / "pretrained" / "official"
    folder.mkdir(parents=True)
    torch.manual_seed(0)
    model = build_model({**registry.model("simplebaseline_r50"), "num_joints": 17})
    torch.save(model.state_dict(), folder / "pose_resnet_50_256x192.pth")

    code, out, err = _pose(["fetch", "official_pose_weights"], capsys)
    assert code == 0, err
    assert "not placed: pose_hrnet_w32_256x192.pth" in out

    code, out, err = _pose(["verify-official", "--scale", "cpu_paper",
                            "--annotations", str(coco_fixture.ann_file),
                            "--images", str(coco_fixture.image_dir),
                            "--detections", str(coco_fixture.det_file)], capsys)
    assert code == 0, err
    assert "1 of 10 official weights files evaluated" in out
    table = json.loads((tiny_project / "reports/tables/official_weights.json").read_text())
    rows = {r["file"]: r for r in table["rows"]}
    r50 = rows.pop("pose_resnet_50_256x192.pth")
    assert r50["placed"] and r50["published_ap"] == 70.4
    assert r50["delta"] == pytest.approx(r50["measured_ap"] - 70.4, abs=0.01)
    record = json.loads((tiny_project / "runs/official/pose_resnet_50_256x192/eval.json")
                        .read_text())
    assert record["weights"].endswith("pose_resnet_50_256x192.pth") and record["input"] == "256x192"
    assert round(100 * record["AP"], 2) == r50["measured_ap"]
    assert len(rows) == 9 and not any(r["placed"] for r in rows.values())
    md = (tiny_project / "reports/tables/official_weights.md").read_text()
    assert "## Official weights through this pipeline" in md
    assert "| pose_resnet_50_256x192.pth | `simplebaseline_r50` | 256x192 | 70.4 |" in md
    assert "| pose_hrnet_w48_384x288.pth | `hrnet_w48` | 384x288 | 76.3 | not placed |" in md
    assert "folder pytorch/pose_coco" in md
    index = tiny_project / "reports" / "index.md"
    [(text, link)] = official_weights_table(tiny_project / "reports/tables", index)
    assert text == md.strip() and link == "tables/official_weights.json"


def test_verify_official_refuses_a_shrinking_scale(
    tiny_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tiny_project / "data" / "pretrained" / "official"
    folder.mkdir(parents=True)
    torch.save({"w": torch.zeros(1)}, folder / "pose_hrnet_w32_256x192.pth")
    code, _, err = _pose(["verify-official", "--scale", "tiny", "--boxes", "gt"], capsys)
    assert code == 2 and "fit only the paper-size model" in err and "Traceback" not in err


def test_official_weights_file_errors_name_file_and_field(tiny_project: Path) -> None:
    from pose.config import load_registry
    from pose.errors import ConfigError

    path = tiny_project / "params" / "official_weights.yaml"
    data = yaml.safe_load(path.read_text())
    data["weights"]["pose_hrnet_w32_256x192.pth"]["model"] = "hrnet_w33"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=r"official_weights.yaml: weights\.pose_hrnet_w32_256x192"
                                          r"\.pth\.model: unknown model 'hrnet_w33'"):
        load_registry("params")
    data["weights"]["pose_hrnet_w32_256x192.pth"] = {"model": "hrnet_w32", "input": "256x192",
                                                     "recipe": "hrnet", "ap": "high"}
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=r"pose_hrnet_w32_256x192\.pth\.ap: expected float"):
        load_registry("params")
