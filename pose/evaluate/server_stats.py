"""The COCO evaluation server's keypoint stats for a test-dev submission, recorded as the run's
test-dev eval.json.

Test-dev has no public ground truth, so its AP only exists as what the server sends back. The
server's answer is accepted as a JSON object of the ten stats or as the summary pycocotools prints;
either is checked (all ten present, each in 0..1) before it is recorded, with the file's name and
sha256 and the protocol of the submission it answers (from `submission.json`, written by
`pose.evaluate.testdev.predict_test_dev`), so the table can say where the figure comes from.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from pathlib import Path
from typing import Any

from pose.errors import DataError
from pose.evaluate.coco_eval import STAT_NAMES
from pose.io import read_json_object, write_json

TEST_DEV = "test-dev"
SOURCE = "COCO evaluation server"
SUBMISSION_RECORD = "submission.json"
PROTOCOL_KEYS = ("dataset", "boxes", "input", "flip_test", "epochs")

# Spellings of each stat, compared after `_normalise` (lower case, only letters, digits and dots).
_ALIASES: dict[str, tuple[str, ...]] = {
    "AP": ("ap",),
    "AP50": ("ap50", "ap.5", "ap.50", "ap0.5", "ap0.50", "apiou0.5", "apiou0.50", "apiou50"),
    "AP75": ("ap75", "ap.75", "ap0.75", "apiou0.75", "apiou75"),
    "APM": ("apm", "apmedium"),
    "APL": ("apl", "aplarge"),
}
ALIASES = {
    **_ALIASES,
    **{"AR" + name[2:]: tuple("ar" + a[2:] for a in spellings)
       for name, spellings in _ALIASES.items()},
}
_BY_SPELLING = {a: name for name, spellings in ALIASES.items() for a in spellings}

# One line of pycocotools' summarize(): " Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all
# | maxDets= 20 ] = 0.750". The keypoint summary uses maxDets 20 and the areas all/medium/large.
_SUMMARY_LINE = re.compile(
    r"Average\s+(?:Precision|Recall)\s*\((?P<kind>AP|AR)\)\s*@\[\s*IoU=(?P<iou>[0-9.:]+)\s*\|"
    r"\s*area=\s*(?P<area>\w+)\s*\|\s*maxDets=\s*(?P<dets>\d+)\s*\]\s*=\s*(?P<value>\S+)"
)
_IOU_SUFFIX = {"0.50:0.95": "", "0.50": "50", "0.75": "75"}
_AREA_SUFFIX = {"all": "", "medium": "M", "large": "L"}
KEYPOINT_MAX_DETS = 20


def test_dev_dir(runs_dir: Path, scale: str, experiment: str) -> Path:
    """Where an experiment's test-dev submission and server stats live."""
    return Path(runs_dir) / scale / experiment / TEST_DEV


def test_dev_eval_path(runs_dir: Path, scale: str, experiment: str) -> Path:
    return test_dev_dir(runs_dir, scale, experiment) / "eval.json"


def _normalise(key: str) -> str:
    return re.sub(r"[^a-z0-9.]", "", key.lower())


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _from_json(data: Any, path: Path) -> dict[str, Any]:
    """The stats of a JSON object keyed by any spelling of their names (other keys ignored)."""
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object of the ten keypoint stats "
                        f"({', '.join(STAT_NAMES)}), got {type(data).__name__}")
    stats: dict[str, Any] = {}
    for key, value in data.items():
        name = _BY_SPELLING.get(_normalise(str(key)))
        if name is None:
            continue
        if name in stats:
            raise DataError(f"{path}: stat {name} given twice (keys spelled differently)")
        stats[name] = value
    return stats


def _from_summary(text: str, path: Path) -> dict[str, Any]:
    """The stats of pycocotools' printed keypoint summary (other lines ignored)."""
    stats: dict[str, Any] = {}
    for match in _SUMMARY_LINE.finditer(text):
        line = match.group(0)
        iou, area = match["iou"], match["area"].lower()
        if int(match["dets"]) != KEYPOINT_MAX_DETS:
            raise DataError(f"{path}: {line!r} has maxDets {match['dets']}: not the keypoint "
                            f"summary (maxDets {KEYPOINT_MAX_DETS}); bounding-box stats?")
        if iou not in _IOU_SUFFIX or area not in _AREA_SUFFIX:
            raise DataError(f"{path}: {line!r} is not a line of the keypoint summary (IoU "
                            f"{', '.join(_IOU_SUFFIX)}; area {', '.join(_AREA_SUFFIX)})")
        name = match["kind"] + _IOU_SUFFIX[iou] + _AREA_SUFFIX[area]
        if name not in STAT_NAMES:
            raise DataError(f"{path}: {line!r} is not one of the keypoint summary's ten stats")
        if name in stats:
            raise DataError(f"{path}: stat {name} appears twice in the summary")
        stats[name] = match["value"]
    return stats


def parse_server_stats(path: Path) -> dict[str, float]:
    """The ten keypoint stats (AP, AP50, ..., ARL as fractions in 0..1) of what the server sent
    back: a JSON object, or the text summary pycocotools prints."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: server stats file not found")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: cannot read the server stats as text ({err})") from err
    try:
        raw = _from_json(json.loads(text), path)
    except json.JSONDecodeError:
        raw = _from_summary(text, path)
        if not raw:
            raise DataError(
                f"{path}: neither a JSON object of the keypoint stats nor pycocotools' summary "
                "(lines like ' Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | "
                "maxDets= 20 ] = 0.750')"
            ) from None
    missing = [name for name in STAT_NAMES if name not in raw]
    if missing:
        raise DataError(f"{path}: missing stat(s) {', '.join(missing)}; found "
                        f"{', '.join(sorted(raw, key=STAT_NAMES.index)) or 'none'}")
    stats = {}
    for name in STAT_NAMES:
        value = _number(raw[name])
        if value is None or not math.isfinite(value) or not 0 <= value <= 1:
            hint = " (a percentage? give fractions)" if value is not None and value > 1 else ""
            raise DataError(f"{path}: stat {name} is {raw[name]!r}; expected a number in "
                            f"0..1{hint}")
        stats[name] = value
    return stats


def _submission(run: Path, experiment: str, scale: str) -> dict:
    """The record of the submission the stats answer: without it the figure has no provenance."""
    path = run / SUBMISSION_RECORD
    if not path.is_file():
        raise DataError(
            f"{path}: no test-dev submission record; run `pose predict-test-dev {experiment} "
            f"--scale {scale}` and upload its zip before importing the server's stats"
        )
    record = read_json_object(path) or {}  # the file exists (checked above)
    for key, want in (("experiment", experiment), ("scale", scale)):
        if record.get(key) != want:
            raise DataError(f"{path}: {key} is {record.get(key)!r}, expected {want!r}")
    lacking = [k for k in (*PROTOCOL_KEYS, "zip", "zip_sha256") if k not in record]
    if lacking:
        raise DataError(f"{path}: lacks {', '.join(lacking)}; re-run `pose predict-test-dev`")
    return record


def infer_experiment(file: Path, experiments: list[str], scale: str,
                     runs_dir: Path = Path("runs")) -> str:
    """Whose stats a file holds, when the command names no experiment: the file lies in a run's
    test-dev folder (runs/<scale>/<exp>/test-dev/), or its name carries a submission's name
    (person_keypoints_test-dev2017_<alg>_results, as the server names what it returns)."""
    from pose.evaluate.testdev import submission_stem

    resolved = Path(file).resolve()
    found = [e for e in experiments
             if resolved.parent == test_dev_dir(runs_dir, scale, e).resolve()]
    found = found or [e for e in experiments if submission_stem(e) in Path(file).name]
    if len(found) != 1:
        why = "matches several experiments" if found else "names no experiment"
        raise DataError(
            f"{file}: {why} (neither its folder runs/{scale}/<experiment>/test-dev/ nor its name "
            "person_keypoints_test-dev2017_<alg>_results... identifies one); name it with "
            "--experiment EXPERIMENT"
        )
    return found[0]


def import_server_stats(file: Path, experiment: str, scale: str,
                        runs_dir: Path = Path("runs")) -> Path:
    """Check the server's stats for `experiment`'s test-dev submission and record them in
    runs/<scale>/<experiment>/test-dev/eval.json (returned), with the stats file's name and
    sha256 and the submission's protocol."""
    file = Path(file)
    stats = parse_server_stats(file)
    run = test_dev_dir(runs_dir, scale, experiment)
    submission = _submission(run, experiment, scale)
    record = {
        "experiment": experiment,
        "scale": scale,
        "split": TEST_DEV,
        "source": SOURCE,
        **{key: submission[key] for key in PROTOCOL_KEYS},
        "submission": submission["zip"],
        "submission_sha256": submission["zip_sha256"],
        "stats_file": file.name,
        "stats_sha256": hashlib.sha256(file.read_bytes()).hexdigest(),
        **stats,
    }
    out = run / "eval.json"
    write_json(out, record)
    return out
