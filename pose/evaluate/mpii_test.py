"""MPII test-set predictions for the benchmark: the test set's labels are not public, so the
trained model's predictions on annot/test.json are written in the evaluation toolkit's `pred`
format (pose.evaluate.mpii_predictions) for the benchmark's authors to score."""

from __future__ import annotations

from pathlib import Path

from pose.config import ResolvedExperiment
from pose.errors import ConfigError
from pose.io import write_json

PREDICTIONS_FILE = "pred_keypoints_mpii.mat"
RECORD_FILE = "submission.json"


def mpii_test_dir(exp: ResolvedExperiment) -> Path:
    return exp.run_dir / "mpii-test"


def predict_mpii_test(exp: ResolvedExperiment, progress: bool) -> Path:
    """Run the trained model on every person of annot/test.json (its annotated centre and scale,
    the recipe's test protocol) and write the toolkit's .mat file; returns its path."""
    import numpy as np
    import torch

    from pose.data.dataset import TopDownDataset
    from pose.data.mpii import mpii_instances, read_mpii_annotations, split_files
    from pose.evaluate.mpii_predictions import write_mpii_predictions
    from pose.experiment_data import (
        build_codec,
        load_model,
        predict_protocol,
        trained_epochs,
        uses_pckh,
    )

    if not uses_pckh(exp):
        raise ConfigError(f"experiment {exp.name!r} trains on {exp.dataset_name!r}, not MPII: "
                          "no MPII test predictions")
    (test_file,) = split_files(Path(exp.dataset.root), "test")  # the field's annot/test.json
    persons = read_mpii_annotations(test_file, need_joints=False)
    dataset = TopDownDataset(mpii_instances(persons, exp.dataset.path(exp.dataset.val.images)),
                             build_codec(exp), train=False, keypoints=exp.keypoints)
    checkpoint = exp.run_dir / "model.pth"
    model, payload = load_model(exp, checkpoint)
    with torch.no_grad():
        preds = sorted(predict_protocol(model, exp, dataset, progress), key=lambda p: p["index"])
    coords = np.array([np.asarray(p["keypoints"])[:, :2] for p in preds])
    out = mpii_test_dir(exp) / PREDICTIONS_FILE
    write_mpii_predictions(out, persons, coords)
    write_json(out.parent / RECORD_FILE, {
        "experiment": exp.name, "scale": exp.scale, "dataset": exp.dataset_name,
        "split": "test", "input": f"{exp.input_hw[0]}x{exp.input_hw[1]}",
        "flip_test": exp.recipe.test.flip_test, "epochs": trained_epochs(payload),
        "checkpoint": str(checkpoint), "annotations": str(test_file), "persons": len(persons),
        "predictions": out.name,
    })
    return out
