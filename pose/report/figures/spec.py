"""params/figures.yaml: which experiments each regenerated paper figure draws, checked against
the registry when it is read."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from pose.config import Registry, _mapping, read_yaml, unknown_name
from pose.errors import ConfigError
from pose.spec import from_dict

FIGURES_FILE = "figures.yaml"


@dataclass(frozen=True)
class TradeoffSpec:
    paper: str
    table: str  # every row is a point
    speed_table: str  # the speed protocol and the paper's speed figures


@dataclass(frozen=True)
class DenseWeightsSpec:
    paper: str
    experiments: dict[str, str]  # panel title -> experiment


@dataclass(frozen=True)
class SkeletonsSpec:
    images: int = 4
    score_threshold: float = 0.2

    def __post_init__(self) -> None:
        if isinstance(self.images, bool) or self.images < 1:
            raise ConfigError(f"images: expected a positive count, got {self.images!r}")
        if not 0.0 <= self.score_threshold <= 1.0:
            raise ConfigError(f"score_threshold: expected a score in [0, 1], got "
                              f"{self.score_threshold!r}")


@dataclass(frozen=True)
class FiguresSpec:
    tradeoff: TradeoffSpec | None = None
    dense_weights: DenseWeightsSpec | None = None
    skeletons: SkeletonsSpec = field(default_factory=SkeletonsSpec)

    def __post_init__(self) -> None:
        # from_dict builds nested dataclasses of required fields only; build the optional ones
        for name, kind in (("tradeoff", TradeoffSpec), ("dense_weights", DenseWeightsSpec)):
            value = getattr(self, name)
            if isinstance(value, dict):
                object.__setattr__(self, name, from_dict(kind, value, name))


def load_figures_spec(params_dir: Path | str | Registry) -> FiguresSpec:
    """params/figures.yaml of `params_dir` (or of a loaded registry's params dir), checked
    against the registry: every table, experiment and paper it names must exist. An absent
    file: no figure."""
    if isinstance(params_dir, Registry):
        registry = params_dir
    else:
        from pose.config import load_registry

        registry = load_registry(Path(params_dir), check_pipeline=False)
    path = registry.params_dir / FIGURES_FILE
    if not path.is_file():
        return FiguresSpec()
    data = _mapping(read_yaml(path), str(path))
    try:
        spec = from_dict(FiguresSpec, data, str(path))
    except ConfigError as e:
        message = str(e)
        raise ConfigError(message if message.startswith(str(path)) else f"{path}: {message}"
                          ) from None
    from pose.report.papers import paper_groups

    # An entry for a paper the registry holds no table of is left out (a registry cut down to
    # some papers, as the workflow tests use); within a paper it holds, every name must exist.
    papers = [g.key for g in paper_groups(registry)]
    spec = replace(
        spec,
        tradeoff=spec.tradeoff if spec.tradeoff and spec.tradeoff.paper in papers else None,
        dense_weights=(spec.dense_weights if spec.dense_weights
                       and spec.dense_weights.paper in papers else None))
    if spec.tradeoff is not None:
        for key in ("table", "speed_table"):
            name = getattr(spec.tradeoff, key)
            if name not in registry.tables:
                raise ConfigError(f"{path}: tradeoff.{key}: "
                                  f"{unknown_name('table', name, registry.tables)}")
    if spec.dense_weights is not None:
        for title, experiment in spec.dense_weights.experiments.items():
            if experiment not in registry.experiments:
                raise ConfigError(f"{path}: dense_weights.experiments.{title}: "
                                  f"{unknown_name('experiment', experiment, registry.experiments)}")
    return spec


def figures_path(registry: Registry) -> Path:
    return registry.params_dir / FIGURES_FILE
