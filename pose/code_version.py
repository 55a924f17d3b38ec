"""Which version of the project's code made a run's outputs.

A run's record holds a hash of the source files its output depends on (config.yaml:
`train_code`, written with model.pth; eval.json: `eval_code`), so a fresh clone or a deleted
`.snakemake/` still tells results made with today's code from results made with other code.
The file lists are the `pose/` dependencies of dvc.yaml's train and evaluate stages, which DVC
hashes for the same purpose (a test keeps the two lists equal).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from pose.config import recorded_hash

# dvc.yaml train / evaluate stages: their `pose/...` deps, in the same order
TRAIN_CODE = ("pose/config.py", "pose/data", "pose/models", "pose/engine", "pose/evaluate",
              "pose/experiment_data.py", "pose/spec.py", "pose/io.py")
EVAL_CODE = ("pose/config.py", "pose/data", "pose/models", "pose/evaluate",
             "pose/engine/checkpoint.py", "pose/experiment_data.py")
# the record key of each: where it is kept, and which code it hashes
CODE_RECORDS = {"train_code": ("config.yaml", TRAIN_CODE), "eval_code": ("eval.json", EVAL_CODE)}
CODE_CHANGE_MODES = ("warn", "rerun", "stop")

_ROOT = Path(__file__).resolve().parent.parent


def source_files(paths: tuple[str, ...], root: Path = _ROOT) -> list[Path]:
    """The Python sources under `paths` (files or folders relative to `root`), sorted."""
    files: set[Path] = set()
    for rel in paths:
        path = root / rel
        if path.is_file():
            files.add(path)
        elif path.is_dir():
            files.update(p for p in path.rglob("*.py") if "__pycache__" not in p.parts)
        else:
            raise FileNotFoundError(f"{path}: a source path of the code hash is missing")
    return sorted(files)


def code_hash(paths: tuple[str, ...], root: Path = _ROOT) -> str:
    """16 hex digits of SHA-256 over each source's path (relative to `root`) and bytes: a
    renamed, added, removed or edited file changes it; bytecode caches and timestamps do not."""
    digest = hashlib.sha256()
    for path in source_files(paths, root):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def current_code(root: Path = _ROOT) -> dict[str, str]:
    """{record key: hash of today's code}: what a run made now records."""
    return {key: code_hash(paths, root) for key, (_, paths) in CODE_RECORDS.items()}


@dataclass(frozen=True)
class CodeStatus:
    """One run output against today's code: `recorded` is None when its record predates the
    code hash (or the output is absent)."""

    experiment: str
    key: str
    recorded: str | None
    current: str

    @property
    def changed(self) -> bool:
        return self.recorded is not None and self.recorded != self.current


def code_statuses(run_dirs: dict[str, Path], current: dict[str, str] | None = None
                  ) -> list[CodeStatus]:
    """The code status of each run's outputs that exist: model.pth (via config.yaml) and
    eval.json."""
    current = current_code() if current is None else current
    out = []
    for name, run_dir in run_dirs.items():
        for key, (record, _) in CODE_RECORDS.items():
            if (run_dir / record).is_file():
                out.append(CodeStatus(name, key, recorded_hash(run_dir / record, key),
                                      current[key]))
    return out


def code_change_message(changed: list[CodeStatus], mode: str) -> str:
    """What Snakemake prints about outputs made with other code, by `code_changes` mode."""
    what = {"train_code": "model.pth", "eval_code": "eval.json"}
    lines = [f"  {s.experiment}: {what[s.key]} made with code {s.recorded}, the code is now "
             f"{s.current}" for s in changed]
    head = f"{len(changed)} run output(s) were made with other code than pose/ holds now:"
    tail = {
        "warn": ("they are kept (a code change need not change results); `--config "
                 "code_changes=rerun` re-makes them, `code_changes=stop` refuses to run"),
        "rerun": "they are re-made in this run (--config code_changes=rerun)",
        "stop": ("stopping (--config code_changes=stop): re-make them with `--config "
                 "code_changes=rerun`, or keep them with `code_changes=warn`"),
    }[mode]
    return "\n".join([head, *lines, tail])


def code_provenance(run_dirs: dict[str, Path]) -> dict:
    """The report's provenance of the code: today's hashes, and which runs' outputs were made
    with other code or predate the record (their code is then unknown)."""
    current = current_code()
    statuses = code_statuses(run_dirs, current)
    what = {key: record for key, (record, _) in CODE_RECORDS.items()}
    return {
        **current,
        "made_with_other_code": [f"{s.experiment}/{what[s.key]}" for s in statuses if s.changed],
        "code_not_recorded": [f"{s.experiment}/{what[s.key]}" for s in statuses
                              if s.recorded is None],
    }


def code_note(code: dict) -> str | None:
    """One Markdown sentence on the runs made with other code, or None when there are none."""
    other = code.get("made_with_other_code", [])
    unknown = code.get("code_not_recorded", [])
    parts = []
    if other:
        parts.append(f"{len(other)} run output(s) were made with other code than this report's "
                     f"(`made_with_other_code`)")
    if unknown:
        parts.append(f"{len(unknown)} predate the code record (`code_not_recorded`)")
    return "; ".join(parts) + "." if parts else None
