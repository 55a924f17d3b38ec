"""Checkpoints that know which model they hold.

A checkpoint records the model name and a hash of its spec, so loading one into another model
(or another variant of the same model) fails with a message instead of a silent partial load.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pose.config import stable_hash
from pose.errors import CheckpointError
from pose.io import atomic_path


def model_identity(model_name: str, model_spec: dict) -> dict[str, str]:
    return {"model_name": model_name, "spec_hash": stable_hash(model_spec)}


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """torch.save through a temporary file: a kill mid-write never leaves a truncated checkpoint,
    and a full disk is an OutputError naming `path` with nothing partial left behind. The payload
    holds tensors and plain values only (read_checkpoint loads it with weights_only=True)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        # through a Python file: a failed write raises OSError (ENOSPC), not torch's RuntimeError
        torch.save(payload, f)


def read_checkpoint(path: Path) -> dict[str, Any]:
    if not Path(path).is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        # weights_only: tensors and plain values; a pickled object is refused, never run
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for a corrupt file
        if "Weights only load failed" in str(err):
            found = re.search(r"GLOBAL (\S+)", str(err))
            what = f" ({found.group(1)})" if found else ""
            raise CheckpointError(
                f"{path}: refused: it holds a pickled Python object{what} besides tensors and "
                "plain values, which could run code when loaded (poserepro checkpoints never "
                "do); nothing of it was run: delete it, or retrain to write it again"
            ) from None
        raise CheckpointError(f"{path}: not a readable checkpoint ({err})") from err
    if not isinstance(payload, dict) or "state_dict" not in payload:
        raise CheckpointError(f"{path}: not a poserepro checkpoint (no 'state_dict')")
    return payload


def check_identity(path: Path, payload: dict[str, Any], expected: dict[str, str]) -> None:
    got = {k: payload.get(k) for k in expected}
    if got != expected:
        raise CheckpointError(
            f"{path}: checkpoint holds model {got.get('model_name')!r} "
            f"(spec {got.get('spec_hash')}), but {expected['model_name']!r} "
            f"(spec {expected['spec_hash']}) was expected"
        )


def load_weights(path: Path, model: nn.Module, expected: dict[str, str]) -> dict[str, Any]:
    """Load a checkpoint's weights strictly into `model` after checking it is the same model."""
    payload = read_checkpoint(path)
    check_identity(path, payload, expected)
    try:
        model.load_state_dict(payload["state_dict"], strict=True)
    except RuntimeError as err:
        raise CheckpointError(f"{path}: weights do not match the model ({err})") from err
    return payload
