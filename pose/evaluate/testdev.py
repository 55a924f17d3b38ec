"""COCO test-dev predictions in the form the COCO evaluation server takes.

Test-dev has no public ground truth: the trained model runs the recipe's test protocol (flip test,
rescoring, OKS-NMS, as `pose evaluate` does) on the test-dev images with the dataset's person
detections, and the results are written as `person_keypoints_test-dev2017_<alg>_results.json`
and zipped alone into `<same stem>.zip` for upload. `submission.json` beside them records what
was submitted, so the stats the server sends back (pose.evaluate.server_stats) carry it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import zipfile
from pathlib import Path
from typing import Any

from pose.config import ResolvedExperiment, SplitSpec, format_input
from pose.data.coco import PERSON_CATEGORY, read_image_info
from pose.data.keypoints import NUM_JOINTS
from pose.errors import ConfigError, DataError
from pose.evaluate.server_stats import SUBMISSION_RECORD, TEST_DEV, test_dev_dir
from pose.io import atomic_path, write_json, write_text

log = logging.getLogger(__name__)

RESULT_KEYS = ("image_id", "category_id", "keypoints", "score")
# Zip members get a fixed timestamp, so the same results always give the same zip (and sha256).
ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def submission_stem(experiment: str) -> str:
    """The server's file name pattern `[type]_[testset]_[alg]_results`; the algorithm name keeps
    letters, digits and hyphens only (underscores separate the pattern's fields)."""
    alg = re.sub(r"[^A-Za-z0-9-]+", "-", experiment).strip("-")
    return f"person_keypoints_test-dev2017_{alg}_results"


def test_dev_split(exp: ResolvedExperiment) -> SplitSpec:
    """The dataset's test-dev split, which must name its person detections (no GT boxes)."""
    split = exp.dataset.test_dev
    if split is None:
        raise ConfigError(
            f"dataset {exp.dataset_name!r} has no test_dev split; set test_dev (annotations: the "
            "image-info file, images, detections) in params/datasets.yaml"
        )
    if split.detections is None:
        raise ConfigError(
            f"params/datasets.yaml: {exp.dataset_name}.test_dev.detections: missing; test-dev "
            "has no ground-truth boxes, so its person detections are needed"
        )
    return split


def _finite(value: Any) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value))


def check_submission(results: Any, image_ids: set[int], where: str) -> list[dict]:
    """What the server accepts: a non-empty list of {image_id of a test-dev image, category_id 1,
    51 finite keypoint values, finite score}."""
    if not isinstance(results, list) or not results:
        raise DataError(f"{where}: no keypoint results to submit")
    for r in results:
        if not isinstance(r, dict) or set(r) != set(RESULT_KEYS):
            raise DataError(f"{where}: result {r!r:.80} should hold exactly {RESULT_KEYS}")
        if not isinstance(r["image_id"], int) or r["image_id"] not in image_ids:
            raise DataError(f"{where}: result for image_id {r['image_id']!r}, which is not a "
                            "test-dev image")
        if r["category_id"] != PERSON_CATEGORY:
            raise DataError(f"{where}: result for image {r['image_id']} has category_id "
                            f"{r['category_id']!r}, expected {PERSON_CATEGORY}")
        kpts = r["keypoints"]
        if not isinstance(kpts, list) or len(kpts) != 3 * NUM_JOINTS:
            raise DataError(f"{where}: result for image {r['image_id']} has "
                            f"{len(kpts) if isinstance(kpts, list) else kpts!r} keypoint "
                            f"values, expected {3 * NUM_JOINTS}")
        if not all(_finite(v) for v in kpts) or not _finite(r["score"]):
            raise DataError(f"{where}: result for image {r['image_id']} holds a value that is "
                            "not a finite number")
    return results


def write_submission(results: list[dict], out_dir: Path, stem: str) -> tuple[Path, str]:
    """`<stem>.json` and `<stem>.zip` (that JSON alone, at the zip root), each written
    atomically; returns the zip and its sha256."""
    text = json.dumps(results, separators=(",", ":"))
    write_text(out_dir / f"{stem}.json", text)
    zip_path = out_dir / f"{stem}.zip"
    with atomic_path(zip_path) as tmp:
        member = zipfile.ZipInfo(f"{stem}.json", date_time=ZIP_DATE)
        member.compress_type = zipfile.ZIP_DEFLATED
        member.external_attr = 0o644 << 16
        with zipfile.ZipFile(tmp, "w") as zf:
            zf.writestr(member, text)
    return zip_path, hashlib.sha256(zip_path.read_bytes()).hexdigest()


def _drop_stale_stats(out_dir: Path, zip_sha256: str) -> None:
    """Server stats imported for another submission no longer describe this one."""
    stats = out_dir / "eval.json"
    if not stats.is_file():
        return
    try:
        answered = json.loads(stats.read_text(encoding="utf-8")).get("submission_sha256")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        answered = None
    if answered != zip_sha256:
        log.warning("%s: server stats of an earlier submission removed; upload the new zip and "
                    "import its stats", stats)
        stats.unlink()


def predict_test_dev(exp: ResolvedExperiment, progress: bool) -> Path:
    """Run the trained model (runs/<scale>/<exp>/model.pth) on test-dev with the recipe's test
    protocol and write the server's zip under runs/<scale>/<exp>/test-dev/; returns the zip."""
    import torch

    from pose.data.coco import load_instances
    from pose.data.dataset import TopDownDataset
    from pose.evaluate.pipeline import keypoint_results
    from pose.experiment_data import build_codec, load_model, predict_protocol, trained_epochs

    split = test_dev_split(exp)
    info_file = exp.dataset.path(split.annotations)
    det_file = exp.dataset.path(split.detections)
    image_ids = {int(img["id"]) for img in read_image_info(info_file)["images"]}
    (h, w), test = exp.input_hw, exp.recipe.test
    instances = load_instances(info_file, exp.dataset.path(split.images), boxes=det_file,
                               aspect_ratio=w / h, det_score_thresh=test.det_score_thresh)
    if not instances:
        raise DataError(f"{det_file}: no person detection of a test-dev image scores at least "
                        f"{test.det_score_thresh} (test.det_score_thresh): nothing to submit")

    checkpoint = exp.run_dir / "model.pth"
    model, payload = load_model(exp, checkpoint)
    dataset = TopDownDataset(instances, build_codec(exp), train=False)
    with torch.no_grad():
        preds = predict_protocol(model, exp, dataset, progress)
    results = keypoint_results(preds, in_vis_thre=test.in_vis_thre, oks_thre=test.oks_thre)

    out_dir = test_dev_dir(Path("runs"), exp.scale, exp.name)
    stem = submission_stem(exp.name)
    check_submission(results, image_ids, f"{out_dir / stem}.json")
    zip_path, zip_sha256 = write_submission(results, out_dir, stem)
    _drop_stale_stats(out_dir, zip_sha256)
    write_json(out_dir / SUBMISSION_RECORD, {
        "experiment": exp.name,
        "scale": exp.scale,
        "split": TEST_DEV,
        "dataset": exp.dataset_name,
        "boxes": "detections",
        "input": format_input(exp.input_hw),
        "flip_test": test.flip_test,
        "epochs": trained_epochs(payload),
        "checkpoint": str(checkpoint),
        "image_info": str(info_file),
        "detections": str(det_file),
        "images": len(image_ids),
        "images_with_results": len({r["image_id"] for r in results}),
        "results_count": len(results),
        "results": f"{stem}.json",
        "zip": zip_path.name,
        "zip_sha256": zip_sha256,
    })
    return zip_path
