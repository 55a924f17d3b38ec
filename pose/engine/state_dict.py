"""Plain PyTorch state dicts from elsewhere (the published HRNet / SimpleBaseline model-zoo
files, any `torch.save(model.state_dict())`), loaded strictly by name into the project's model.

The project's own checkpoints carry the model's identity and are read by `checkpoint.py`. A file
from elsewhere has no identity: its key names and shapes are the check. It is unpickled with
`weights_only=True`, so a file holding anything but tensors and plain containers (an object whose
unpickling would run code) is refused before anything of it is used.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pose.errors import CheckpointError

DP_PREFIX = "module."  # what DataParallel / DistributedDataParallel put before every key
SHOWN = 5  # offending keys named per kind in an error


def _listed(keys: list[str]) -> str:
    more = f", ... (+{len(keys) - SHOWN} more)" if len(keys) > SHOWN else ""
    return f"{len(keys)}: " + ", ".join(keys[:SHOWN]) + more


def read_plain_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """{name: tensor} of a bare state dict, or of the `state_dict` entry of a dict holding one;
    a `module.` prefix (DataParallel) is removed. Anything else is a CheckpointError naming the
    file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: weights file not found")
    try:
        payload: Any = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a refused global, a corrupt zip, a truncated pickle, ...
        raise CheckpointError(
            f"{path}: not loadable as a plain PyTorch state dict with weights_only=True "
            f"(only tensors and plain containers are accepted): {err}"
        ) from err
    if isinstance(payload, Mapping) and isinstance(payload.get("state_dict"), Mapping):
        payload = payload["state_dict"]
    if not isinstance(payload, Mapping) or not payload or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in payload.items()
    ):
        raise CheckpointError(
            f"{path}: not a state dict (expected a mapping of parameter names to tensors, bare "
            "or under 'state_dict')"
        )
    return {k.removeprefix(DP_PREFIX): v for k, v in payload.items()}


def state_dict_mismatch(state: Mapping[str, torch.Tensor], model: nn.Module) -> list[str]:
    """The differences between `state` and the model's own state dict, each kind with its count
    and first few keys; empty when every name and shape agrees."""
    ours = model.state_dict()
    missing = [k for k in ours if k not in state]
    unexpected = [k for k in state if k not in ours]
    shapes = [f"{k} {tuple(state[k].shape)} (model {tuple(ours[k].shape)})"
              for k in ours if k in state and state[k].shape != ours[k].shape]
    return [f"{label} {_listed(keys)}" for label, keys in (
        ("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", shapes),
    ) if keys]


def load_plain_state_dict(path: str | Path, model: nn.Module, model_name: str) -> None:
    """Load the file's weights into `model` strictly; a file of another architecture is a
    CheckpointError naming the file, the model and the keys that differ."""
    state = read_plain_state_dict(path)
    problems = state_dict_mismatch(state, model)
    if problems:
        raise CheckpointError(
            f"{path}: does not match model {model_name!r} ({'; '.join(problems)})"
        )
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:  # names and shapes agree: a dtype or size torch refuses
        raise CheckpointError(f"{path}: weights do not load into {model_name!r} ({err})") from err
