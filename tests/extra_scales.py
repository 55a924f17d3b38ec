"""Extra scales for engine tests, added to a tiny project's params/scales.yaml."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml
from conftest import TINY_SCALE


def add_scale(project: Path, name: str, recipe: dict, **settings: object) -> None:
    """The tiny scale with `recipe` merged into its recipe overrides and `settings` replaced."""
    path = project / "params" / "scales.yaml"
    scales = yaml.safe_load(path.read_text())
    scale = copy.deepcopy(TINY_SCALE)
    scale["recipe"] = {**scale["recipe"], **recipe}
    scale.update(settings)
    scales[name] = scale
    path.write_text(yaml.safe_dump(scales, sort_keys=False))
