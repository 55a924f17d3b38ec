"""Model zoo: every architecture is built from a params/models.yaml entry by `build_model`."""

from pose.models.builder import build_model, load_model_specs, validate_spec
from pose.models.spec import parse_spec

__all__ = ["build_model", "load_model_specs", "parse_spec", "validate_spec"]
