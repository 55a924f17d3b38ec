"""Does each paper's claimed gain survive reproduction, beyond seed noise?

A claim (params/claims.yaml) says a variant beats a baseline by `paper_delta`. The reproduced
difference is the difference of the two experiments' means over their seeds (results frame).
Its uncertainty comes from the seed-to-seed standard deviation sigma of one training's figure:
pooled over every experiment the scale trained with several seeds (the scale's own noise), or,
where none did, the figure params/claims.yaml assumes, with its source. The difference of two
means of n_e and n_b seeds then has the standard error sigma * sqrt(1/n_e + 1/n_b), and the
interval is the difference +- 2 standard errors (about 95%).

Verdicts, for a claimed gain (paper_delta != 0):
- reproduced: the interval lies on the paper's side of zero (the gain is there, beyond noise);
- not reproduced: the interval lies on the other side, or it holds zero but excludes the
  paper's difference (a gain of the paper's size would have shown);
- inconclusive: the interval holds both zero and the paper's difference (within noise).
A claimed equality (paper_delta == 0) is reproduced when the interval holds zero, and not
reproduced otherwise. Each claim is checked as published (against the baseline the paper
compares with) and, where its variant's recipe differs, recipe-matched (against the baseline's
model trained with the variant's recipe: the module's effect alone).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pose.config import Registry
from pose.report.results_frame import METRIC_COLUMNS, seed_summary

REPRODUCED = "reproduced"
NOT_REPRODUCED = "not reproduced"
INCONCLUSIVE = "inconclusive"
NOT_TRAINED = "not trained at this scale"
INTERVAL_SE = 2.0  # half-width of the interval in standard errors (about 95%)


@dataclass(frozen=True)
class Noise:
    """The seed-to-seed standard deviation of one training's figure, and where it comes from."""

    std: float
    source: str
    pooled_from: list[str]  # the experiments with several seeds it was measured on ([]: assumed)
    dof: int = 0  # degrees of freedom of the pooled estimate


def pooled_noise(frame: pd.DataFrame, column: str) -> Noise | None:
    """The pooled within-experiment standard deviation of `column` over the experiments with two
    or more seeds: sqrt(sum (n_i - 1) s_i^2 / sum (n_i - 1)); None when no experiment has."""
    summary = seed_summary(frame, column)
    several = summary[summary["count"] >= 2]
    if several.empty:
        return None
    dof = int((several["count"] - 1).sum())
    variance = float(((several["count"] - 1) * several["std"] ** 2).sum()) / dof
    names = list(several.index)
    return Noise(math.sqrt(variance), f"pooled over the seeds of {', '.join(names)} at this "
                 f"scale ({dof} degree{'s' if dof != 1 else ''} of freedom)", names, dof)


def scale_noise(registry: Registry, frame: pd.DataFrame, metric: str) -> Noise:
    """The scale's own seed noise of `metric` where it trained several seeds, else the figure
    params/claims.yaml assumes."""
    measured = pooled_noise(frame, METRIC_COLUMNS[metric])
    if measured is not None:
        return measured
    assumed = registry.claims.noise[metric]
    return Noise(assumed.std, f"assumed (params/claims.yaml noise.{metric}): {assumed.source}",
                 [])


def verdict(delta: float, half_width: float, paper_delta: float) -> str:
    """The verdict on a reproduced difference `delta` +- `half_width` (module docstring)."""
    low, high = delta - half_width, delta + half_width
    holds_zero = low <= 0 <= high
    if paper_delta == 0:
        return REPRODUCED if holds_zero else NOT_REPRODUCED
    if not holds_zero:
        return REPRODUCED if (low > 0) == (paper_delta > 0) else NOT_REPRODUCED
    return INCONCLUSIVE if low <= paper_delta <= high else NOT_REPRODUCED


def comparison(summary: pd.DataFrame, experiment: str, baseline: str, paper_delta: float,
               noise: Noise) -> dict:
    """One comparison of a claim: the reproduced difference with its interval and verdict."""
    missing = [e for e in (experiment, baseline) if e not in summary.index]
    if missing:
        return {"baseline": baseline, "verdict": NOT_TRAINED, "missing": missing}
    e, b = summary.loc[experiment], summary.loc[baseline]
    delta = float(e["mean"] - b["mean"])
    se = noise.std * math.sqrt(1 / e["count"] + 1 / b["count"])
    half = INTERVAL_SE * se
    return {"baseline": baseline, "experiment_mean": round(float(e["mean"]), 4),
            "baseline_mean": round(float(b["mean"]), 4),
            "seeds": [int(e["count"]), int(b["count"])],
            "delta": round(delta, 4), "standard_error": round(se, 4),
            "interval": [round(delta - half, 4), round(delta + half, 4)],
            "verdict": verdict(delta, half, paper_delta)}


def check_claims(registry: Registry, frame: pd.DataFrame, scale: str) -> dict:
    """Every claim of params/claims.yaml checked on the scale's runs (claims.json's content)."""
    registered = registry.claims.claims.values() if registry.claims is not None else []
    noises = {m: scale_noise(registry, frame, m) for m in sorted({c.metric for c in registered})}
    summaries = {m: seed_summary(frame, METRIC_COLUMNS[m]) for m in noises}
    claims = []
    for claim in registered:
        noise, summary = noises[claim.metric], summaries[claim.metric]
        row = {"id": claim.id, "paper": claim.paper, "table": claim.table,
               "claim": claim.claim, "source": claim.source, "metric": claim.metric,
               "experiment": claim.experiment, "paper_delta": claim.paper_delta,
               "as_published": comparison(summary, claim.experiment, claim.baseline,
                                          claim.paper_delta, noise)}
        if claim.unmatched_reason:
            row["unmatched_reason"] = claim.unmatched_reason
        if claim.matched_baseline:
            row["recipe_matched"] = comparison(summary, claim.experiment, claim.matched_baseline,
                                               claim.paper_delta, noise)
        claims.append(row)
    datasets = sorted(frame["dataset"].dropna().unique().tolist())
    return {"scale": scale, "datasets": datasets,
            "synthetic": any(registry.dataset(d).source == "synthetic" for d in datasets),
            "interval": f"difference +- {INTERVAL_SE:g} standard errors",
            "noise": {m: {"std": round(n.std, 4), "source": n.source, "dof": n.dof,
                          "pooled_from": n.pooled_from} for m, n in noises.items()},
            "claims": claims}


def verdict_counts(result: dict) -> dict[str, int]:
    """How many comparisons got each verdict (both comparisons of a claim count)."""
    counts: dict[str, int] = {}
    for claim in result["claims"]:
        for key in ("as_published", "recipe_matched"):
            if key in claim:
                v = claim[key]["verdict"]
                counts[v] = counts.get(v, 0) + 1
    return counts


def claims_path(reports_dir: Path) -> tuple[Path, Path]:
    return reports_dir / "claims.md", reports_dir / "claims.json"
