"""Faults met while evaluating (issue 15: case 1, a diverged model is never scored; case 5, a
read-only run folder is found before the evaluation runs)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from fault_helpers import read_only

import pose.experiment_data as experiment_data
from pose.cli import main
from pose.config import load_registry
from pose.engine.checkpoint import model_identity, save_checkpoint
from pose.errors import DataError, DivergedError
from pose.evaluate.coco_eval import coco_keypoint_eval, keypoint_results
from pose.models import build_model

EXPERIMENT = "hrnet_w32_256x192"


def _pred(image_id: int, index: int, value: float = 50.0, box_score: float = 0.9) -> dict:
    kpts = np.full((17, 3), value)
    kpts[:, 2] = 0.8
    return {"image_id": image_id, "index": index, "keypoints": kpts, "box_score": box_score,
            "area": 4000.0}


def test_case1_nonfinite_keypoints_or_scores_never_reach_cocoeval(
        coco_fixture: SimpleNamespace) -> None:
    nan_joint = _pred(2, 5)
    nan_joint["keypoints"][3, 0] = math.nan
    with pytest.raises(DivergedError, match=r"model predictions: image 2, instance 5: keypoints "
                       r"hold 1 non-finite values; the model's weights hold NaN"):
        keypoint_results([_pred(1, 4), nan_joint])
    with pytest.raises(DivergedError, match=r"image 1, instance 4: box score is inf"):
        keypoint_results([_pred(1, 4, box_score=math.inf)])
    with pytest.raises(DivergedError, match=r"image 3, instance 6: keypoints hold 34"):
        keypoint_results([_pred(3, 6, value=math.nan)])

    # a results list or file (json writes and reads NaN) that COCOeval would score
    results = [{"image_id": 1, "category_id": 1, "keypoints": [math.nan] * 51, "score": 0.9}]
    with pytest.raises(DataError, match=r"keypoint results: result 0 \(image 1\) has non-finite "
                       r"keypoints or score"):
        coco_keypoint_eval(coco_fixture.ann_file, results)
    path = coco_fixture.ann_file.parent / "results.json"
    path.write_text(json.dumps([{**results[0], "keypoints": [10.0] * 51, "score": math.nan}]))
    with pytest.raises(DataError, match=rf"{path}: result 0 \(image 1\) has non-finite"):
        coco_keypoint_eval(coco_fixture.ann_file, path)


def _write_model(exp, fill: float | None = None) -> None:
    """A model.pth of the experiment's freshly built model (its weights NaN with `fill`)."""
    model = build_model(exp.model_spec)
    state = model.state_dict()
    if fill is not None:
        state = {k: v.fill_(fill) if v.is_floating_point() else v for k, v in state.items()}
    save_checkpoint(exp.run_dir / "model.pth",
                    {**model_identity(exp.model_name, exp.model_spec), "epochs": 2,
                     "state_dict": state})


def test_case1_a_model_with_nan_weights_is_not_scored(
        tiny_project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    exp = load_registry("params").resolve(EXPERIMENT, "tiny")
    _write_model(exp, fill=math.nan)
    code = main(["evaluate", EXPERIMENT, "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("pose evaluate: error: model predictions: image ")
    assert ", instance 0: keypoints hold 51 non-finite values" in err, err
    assert not (exp.run_dir / "eval.json").exists()
    assert not (exp.run_dir / "results.json").exists()


def test_case5_a_read_only_run_folder_is_refused_before_the_evaluation_runs(
        tiny_project: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    exp = load_registry("params").resolve(EXPERIMENT, "tiny")
    _write_model(exp)

    def never(*args, **kwargs):
        raise AssertionError("the evaluation ran although its outputs cannot be written")

    monkeypatch.setattr(experiment_data, "predict_protocol", never)
    with read_only(exp.run_dir):
        code = main(["evaluate", EXPERIMENT, "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert err == (f"pose evaluate: error: {exp.run_dir.absolute()}: cannot write there "
                   "(Permission denied); evaluation writes eval.json and results.json into "
                   f"it: make {exp.run_dir.absolute()} writable and run again\n")

    out_dir = tiny_project / "records"
    with read_only(out_dir):
        code = main(["evaluate", EXPERIMENT, "--untrained", "--out", str(out_dir / "e.json"),
                     "--no-progress"])
    assert code == 2
    assert f"{out_dir}: cannot write there (Permission denied); evaluation writes e.json " \
        "into it" in capsys.readouterr().err
    assert torch.load(exp.run_dir / "model.pth", weights_only=True)  # still there, readable
