"""params/claims.yaml: what each paper claims, as comparisons between two experiments.

A claim says a variant differs from a baseline by the paper's `paper_delta` (variant minus
baseline, as the paper's table prints them). It is checked at load time against the registry:
both experiments exist and are rows of the claim's table, the metric is the table's, and the
paper's difference is what the table's rows give (a typo in either shows). Where the variant
is trained with another recipe than the baseline, the claim names a recipe-matched baseline
(the baseline's model trained with the variant's recipe, input and dataset: the module's effect
alone) or says why there is none. The verdicts are pose.report.claims'.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pose.errors import ConfigError
from pose.spec import from_dict

if TYPE_CHECKING:
    from pose.config import ExperimentSpec, Registry, TableRow

Metric = Literal["ap", "pckh", "top1_error"]
# The table metric (TableSpec.metric) each claim metric is read from
TABLE_METRIC = {"ap": "ap", "pckh": "pckh", "top1_error": "topk"}
# How far a claim's paper_delta may be from its rows' difference (the tables print 1 decimal,
# DNANet's first row 2)
DELTA_TOLERANCE = 0.051
CLAIMS_FILE = "claims.yaml"


@dataclass(frozen=True)
class NoiseSpec:
    """The assumed seed-to-seed standard deviation of one training's figure, used where a scale
    trains no experiment with several seeds."""

    std: float
    source: str

    def __post_init__(self) -> None:
        if not self.std > 0:
            raise ConfigError(f"noise std must be > 0, got {self.std!r}")


@dataclass(frozen=True)
class ClaimSpec:
    id: str
    paper: str  # the paper key: its tables' name prefix (pose.report.papers.paper_key)
    table: str
    experiment: str  # the variant
    baseline: str  # what the paper compares it with
    paper_delta: float  # variant minus baseline as the paper prints them
    claim: str  # the claim in a few words
    source: str  # where the paper makes it (table, section, sentence)
    metric: Metric = "ap"
    matched_baseline: str | None = None  # the baseline's model under the variant's recipe
    unmatched_reason: str | None = None  # why a claim across recipes has no matched baseline
    headline: bool = False  # the paper's main claim (one per paper at most)


@dataclass(frozen=True)
class ClaimsFile:
    noise: dict[str, NoiseSpec]
    claims: dict[str, ClaimSpec] = field(default_factory=dict)


def load_claims(registry: Registry) -> ClaimsFile | None:
    """params/claims.yaml checked against the registry; None where the file does not exist."""
    from pose.config import _mapping, read_yaml

    path = registry.params_dir / CLAIMS_FILE
    if not path.is_file():
        return None
    data = _mapping(read_yaml(path), str(path))
    unknown = sorted(set(data) - {"noise", "claims"})
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {unknown}; expected 'noise' and 'claims'")
    noise = {}
    for metric, spec in _mapping(data.get("noise") or {}, f"{path}: noise").items():
        if metric not in TABLE_METRIC:
            raise ConfigError(f"{path}: noise.{metric}: unknown metric; expected one of "
                              f"{sorted(TABLE_METRIC)}")
        try:
            noise[metric] = from_dict(NoiseSpec, spec, f"{path}: noise.{metric}")
        except ConfigError as e:
            raise ConfigError(f"{path}: noise.{metric}: {e}") from None
    claims = {}
    for key, spec in _mapping(data.get("claims") or {}, f"{path}: claims").items():
        where = f"{path}: claims.{key}"
        if not isinstance(spec, dict):
            raise ConfigError(f"{where}: expected a mapping, got {spec!r}")
        claim = from_dict(ClaimSpec, {"id": key, **spec}, where)
        check_claim(registry, claim, where)
        claims[key] = claim
    _check_claims_together(registry, claims, noise, path)
    return ClaimsFile(noise, claims)


def _row(registry: Registry, table: str, experiment: str, where: str, field_: str) -> TableRow:
    rows = registry.table(table).typed_rows(f"{registry.params_dir}/papers/{table}.yaml")
    for row in rows:
        if row.experiment == experiment:
            return row
    raise ConfigError(f"{where}.{field_}: {experiment!r} is no row of table {table!r}; its rows' "
                      f"experiments are {sorted({r.experiment for r in rows})}")


def paper_value(row: TableRow, metric: str) -> float | None:
    """The row's printed figure for a claim metric."""
    if metric == "pckh":
        return (row.paper.pckh or {}).get("Mean")
    return getattr(row.paper, metric)


def check_claim(registry: Registry, claim: ClaimSpec, where: str) -> None:
    """Everything one claim names exists and agrees with its table (module docstring)."""
    from pose.config import unknown_name
    from pose.report.papers import paper_key

    if claim.table not in registry.tables:
        raise ConfigError(f"{where}.table: {unknown_name('table', claim.table, registry.tables)}")
    names = list(registry.tables)
    if paper_key(claim.table, names) != claim.paper:
        raise ConfigError(f"{where}.paper: table {claim.table!r} belongs to paper "
                          f"{paper_key(claim.table, names)!r}, not {claim.paper!r}")
    for key in ("experiment", "baseline", "matched_baseline"):
        name = getattr(claim, key)
        if name is not None and name not in registry.experiments:
            raise ConfigError(f"{where}.{key}: "
                              f"{unknown_name('experiment', name, registry.experiments)}")
    if claim.experiment == claim.baseline:
        raise ConfigError(f"{where}: experiment and baseline are the same, {claim.experiment!r}")
    table = registry.table(claim.table)
    if table.metric != TABLE_METRIC[claim.metric]:
        raise ConfigError(f"{where}.metric: {claim.metric!r} is not what table {claim.table!r} "
                          f"prints (its metric is {table.metric!r})")
    rows = [_row(registry, claim.table, e, where, k)
            for k, e in (("experiment", claim.experiment), ("baseline", claim.baseline))]
    values = [paper_value(r, claim.metric) for r in rows]
    if None in values or any(r.paper.ap_split or r.paper.ap_input for r in rows):
        raise ConfigError(f"{where}: table {claim.table!r} prints no comparable {claim.metric} "
                          f"for both {claim.experiment!r} and {claim.baseline!r}")
    printed = values[0] - values[1]
    if abs(printed - claim.paper_delta) > DELTA_TOLERANCE:
        raise ConfigError(f"{where}.paper_delta: {claim.paper_delta} but table {claim.table!r} "
                          f"gives {values[0]} - {values[1]} = {printed:.2f}")
    _check_recipes(registry, claim, where)


def _check_recipes(registry: Registry, claim: ClaimSpec, where: str) -> None:
    """A claim across recipes has a recipe-matched baseline or says why not; a matched baseline
    is the baseline's model under the variant's recipe, input and dataset."""
    variant = registry.experiments[claim.experiment]
    baseline = registry.experiments[claim.baseline]
    if claim.matched_baseline is None:
        if variant.recipe != baseline.recipe and not claim.unmatched_reason:
            raise ConfigError(
                f"{where}: {claim.experiment!r} trains with recipe {variant.recipe!r} and "
                f"{claim.baseline!r} with {baseline.recipe!r}: name a matched_baseline (the "
                f"baseline's model under {variant.recipe!r}) or give unmatched_reason")
        return
    if claim.unmatched_reason:
        raise ConfigError(f"{where}: give matched_baseline or unmatched_reason, not both")
    if variant.recipe == baseline.recipe:
        raise ConfigError(f"{where}.matched_baseline: {claim.experiment!r} and "
                          f"{claim.baseline!r} share recipe {variant.recipe!r}; the comparison "
                          "as published is already recipe-matched")
    matched = registry.experiments[claim.matched_baseline]
    _same(matched, baseline, "model", where)
    for key in ("recipe", "input", "dataset"):
        _same(matched, variant, key, where)


def _same(matched: ExperimentSpec, other: ExperimentSpec, key: str, where: str) -> None:
    if getattr(matched, key) != getattr(other, key):
        raise ConfigError(f"{where}.matched_baseline: its {key} is {getattr(matched, key)!r}, "
                          f"expected {getattr(other, key)!r}")


def _check_claims_together(registry: Registry, claims: dict[str, ClaimSpec],
                           noise: dict[str, NoiseSpec], path: Path) -> None:
    seen: dict[tuple, str] = {}
    headlines: dict[str, str] = {}
    for key, c in claims.items():
        pair = (c.experiment, c.baseline, c.metric)
        if pair in seen:
            raise ConfigError(f"{path}: claims.{key} compares what claims.{seen[pair]} compares "
                              f"({c.experiment} against {c.baseline}); give it once")
        seen[pair] = key
        if c.headline:
            if c.paper in headlines:
                raise ConfigError(f"{path}: claims.{key} and claims.{headlines[c.paper]} are both "
                                  f"paper {c.paper!r}'s headline; at most one per paper")
            headlines[c.paper] = key
        if c.metric not in noise:
            raise ConfigError(f"{path}: claims.{key} uses metric {c.metric!r}, which noise "
                              f"gives no assumed seed noise for")
