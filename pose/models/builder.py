"""Entry points other stages use: validate a model spec, build it, load params/models.yaml."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml
from torch import nn

from pose.errors import ConfigError
from pose.models.classifier import DenseClassifier
from pose.models.danet import DANet
from pose.models.frsbn import FRSBN
from pose.models.hrnet import HRNet
from pose.models.simplebaseline import SimpleBaseline
from pose.models.spec import (
    ClassifierSpec,
    DANetSpec,
    FRSBNSpec,
    HRNetSpec,
    ModelSpec,
    SimpleBaselineSpec,
    parse_spec,
)

MODELS_YAML = Path("params/models.yaml")


def validate_spec(spec: Mapping[str, Any], where: str) -> None:
    """Raise ConfigError on a bad key, type or value, without allocating weights."""
    parse_spec(spec, where)


# Typed spec -> the network class it builds (one entry per family).
BUILDERS: dict[type, Callable[[Any], nn.Module]] = {
    HRNetSpec: HRNet,
    SimpleBaselineSpec: SimpleBaseline,
    FRSBNSpec: FRSBN,
    DANetSpec: DANet,
    ClassifierSpec: DenseClassifier,
}


def build_typed(spec: ModelSpec) -> nn.Module:
    """The nn.Module for an already validated spec."""
    builder = BUILDERS.get(type(spec))
    if builder is None:
        raise TypeError(f"no builder for {type(spec).__name__}")
    return builder(spec)


def output_stride(spec: Mapping[str, Any], where: str = "model") -> int:
    """Input pixels per heatmap pixel: 4 for most models, 1 for full-resolution decoders."""
    return parse_spec(spec, where).output_stride


def build_model(spec: Mapping[str, Any], where: str = "model") -> nn.Module:
    """(B,3,H,W) float -> (B,num_joints,H/s,W/s) heatmaps (s = `output_stride`), freshly
    initialised: a spec's `pretrained` file is not read here (pose.models.pretrained)."""
    return build_typed(parse_spec(spec, where))


def load_model_specs(path: Path = MODELS_YAML) -> dict[str, dict]:
    """Raw model mappings by name, each validated (as a typed spec, not built)."""
    from pose.config import DuplicateKeyError, load_yaml_text  # pose.config imports this module

    path = Path(path)
    try:
        data = load_yaml_text(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from exc
    except DuplicateKeyError as exc:
        raise ConfigError(exc.where(path)) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: expected a mapping of model name -> spec")
    specs: dict[str, dict] = {}
    for name, entry in data.items():
        validate_spec(entry, f"{path}:{name}")
        specs[str(name)] = dict(entry)
    return specs
