"""The code hash a run's record holds: what changes it, and that it covers exactly the code dvc.yaml
makes the train and evaluate stages depend on."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from pose.code_version import (
    EVAL_CODE,
    TRAIN_CODE,
    CodeStatus,
    code_change_message,
    code_hash,
    code_statuses,
    current_code,
)

ROOT = Path(__file__).resolve().parent.parent


def _package_copy(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "pose", tmp_path / "pose",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def test_code_lists_are_dvc_yaml_stage_deps() -> None:
    """One list per stage: the `pose/` deps of dvc.yaml's train and evaluate stages."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    for stage, paths in (("train", TRAIN_CODE), ("evaluate", EVAL_CODE)):
        deps = [d for d in stages[stage]["do"]["deps"] if d.startswith("pose")]
        assert tuple(deps) == paths, stage


def test_hash_follows_edits_additions_and_renames_not_caches(tmp_path: Path) -> None:
    root = _package_copy(tmp_path)
    before = code_hash(TRAIN_CODE, root)
    assert before == code_hash(TRAIN_CODE, ROOT)  # where the package lies does not count
    cache = root / "pose/engine/__pycache__"
    cache.mkdir()
    (cache / "trainer.cpython-312.pyc").write_bytes(b"\0")
    assert code_hash(TRAIN_CODE, root) == before

    trainer = root / "pose/engine/trainer.py"
    trainer.write_text(trainer.read_text() + "\n# edited\n")
    edited = code_hash(TRAIN_CODE, root)
    assert edited != before
    trainer.rename(root / "pose/engine/trainer2.py")
    assert code_hash(TRAIN_CODE, root) not in (before, edited)

    # the report code is in neither list: editing it leaves both hashes as they were
    evaluated = code_hash(EVAL_CODE, root)
    (root / "pose/report/extra.py").write_text("X = 1\n")
    assert code_hash(EVAL_CODE, root) == evaluated


def test_missing_source_path_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="pose/nowhere.py"):
        code_hash(("pose/nowhere.py",), tmp_path)


def test_statuses_read_the_records(tmp_path: Path) -> None:
    now = current_code()
    same, other, old = (tmp_path / n for n in ("same", "other", "old"))
    for run in (same, other, old):
        run.mkdir()
    (same / "config.yaml").write_text(yaml.safe_dump({"train_code": now["train_code"]}))
    (other / "config.yaml").write_text(yaml.safe_dump({"train_code": "0123456789abcdef"}))
    (other / "eval.json").write_text(json.dumps({"eval_code": now["eval_code"]}))
    (old / "config.yaml").write_text(yaml.safe_dump({"seed": 1}))  # predates the record
    statuses = code_statuses({"same": same, "other": other, "old": old})
    changed = [(s.experiment, s.key) for s in statuses if s.changed]
    assert changed == [("other", "train_code")]
    assert {(s.experiment, s.key) for s in statuses} == {
        ("same", "train_code"), ("other", "train_code"), ("other", "eval_code"),
        ("old", "train_code")}
    assert [s.recorded for s in statuses if s.experiment == "old"] == [None]


@pytest.mark.parametrize(("mode", "says"), [("warn", "they are kept"),
                                             ("rerun", "re-made in this run"),
                                             ("stop", "stopping")])
def test_message_names_each_output_and_the_choice(mode: str, says: str) -> None:
    status = CodeStatus("exp_a", "train_code", "aaaa", "bbbb")
    message = code_change_message([status], mode)
    assert "exp_a: model.pth made with code aaaa, the code is now bbbb" in message
    assert says in message


def test_report_provenance_names_runs_of_other_code(tmp_path: Path) -> None:
    from pose.code_version import code_note, code_provenance

    same, other, old = (tmp_path / n for n in ("same", "other", "old"))
    for run in (same, other, old):
        run.mkdir()
    now = current_code()
    (same / "config.yaml").write_text(yaml.safe_dump({"train_code": now["train_code"]}))
    (other / "eval.json").write_text('{"eval_code": "0123456789abcdef"}')
    (old / "config.yaml").write_text(yaml.safe_dump({"seed": 1}))
    code = code_provenance({"same": same, "other": other, "old": old, "absent": tmp_path / "x"})
    assert code["train_code"] == now["train_code"]
    assert code["made_with_other_code"] == ["other/eval.json"]
    assert code["code_not_recorded"] == ["old/config.yaml"]
    assert code_note(code) == ("1 run output(s) were made with other code than this report's "
                               "(`made_with_other_code`); 1 predate the code record "
                               "(`code_not_recorded`).")
    assert code_note({**code, "made_with_other_code": [], "code_not_recorded": []}) is None
