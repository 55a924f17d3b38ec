"""The claims check: pooled seed noise, intervals and verdicts, its Markdown and figures."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from pose.claims import ClaimSpec
from pose.report.claims import (
    INCONCLUSIVE,
    NOT_REPRODUCED,
    NOT_TRAINED,
    REPRODUCED,
    check_claims,
    pooled_noise,
    verdict,
)
from pose.report.claims_render import claims_markdown


@pytest.mark.parametrize("delta, half, paper, expected", [
    (1.5, 0.5, 1.7, REPRODUCED),        # on the paper's side of zero, beyond noise
    (0.6, 0.5, 1.7, REPRODUCED),        # smaller than the paper's, still beyond noise
    (-1.0, 0.5, 1.7, NOT_REPRODUCED),   # the other way, beyond noise
    (0.1, 0.5, 1.7, NOT_REPRODUCED),    # holds zero, but a gain of 1.7 would have shown
    (0.3, 0.5, 0.4, INCONCLUSIVE),      # holds both zero and the paper's 0.4: within noise
    (-0.3, 0.5, -0.5, INCONCLUSIVE),    # a claimed drop (top-1 error) within noise
    (-1.2, 0.5, -0.9, REPRODUCED),      # a claimed drop, reproduced
    (0.2, 0.5, 0.0, REPRODUCED),        # a claimed equality holds
    (1.2, 0.5, 0.0, NOT_REPRODUCED),
])
def test_verdicts(delta: float, half: float, paper: float, expected: str) -> None:
    assert verdict(delta, half, paper) == expected


def _frame(rows: list[tuple[str, float]]) -> pd.DataFrame:
    return pd.DataFrame([{"experiment": e, "AP": ap, "dataset": "synthetic"} for e, ap in rows])


def test_pooled_noise_weights_each_experiment_by_its_degrees_of_freedom() -> None:
    frame = _frame([("a", 30.0), ("a", 32.0), ("b", 20.0), ("b", 21.0), ("b", 22.0),
                    ("c", 50.0)])
    noise = pooled_noise(frame, "AP")
    # a: var 2 (1 dof); b: var 1 (2 dof); c: one seed, no information
    assert noise.dof == 3 and noise.pooled_from == ["a", "b"]
    assert noise.std == pytest.approx(math.sqrt((2 + 2 * 1) / 3))
    assert pooled_noise(_frame([("a", 1.0), ("b", 2.0)]), "AP") is None


def _registry(claims: list[SimpleNamespace], assumed_std: float = 0.2) -> SimpleNamespace:
    noise = {"ap": SimpleNamespace(std=assumed_std, source="an assumption")}
    return SimpleNamespace(
        claims=SimpleNamespace(noise=noise, claims={c.id: c for c in claims}),
        dataset=lambda name: SimpleNamespace(source="synthetic" if name == "synthetic"
                                             else "coco"),
    )


def _claim(id: str, experiment: str, baseline: str, paper_delta: float,
           matched: str | None = None, unmatched_reason: str | None = None) -> ClaimSpec:
    return ClaimSpec(id=id, paper="dnanet", table="dnanet_ablation", claim=f"{id} claim",
                     source="Table 1", metric="ap", experiment=experiment, baseline=baseline,
                     paper_delta=paper_delta, matched_baseline=matched,
                     unmatched_reason=unmatched_reason)


def test_check_claims_uses_the_scales_own_noise_and_both_comparisons() -> None:
    frame = _frame([("v", 40.0), ("v", 41.0), ("b", 35.0), ("b", 36.0),
                    ("m", 40.3), ("m", 40.7)])
    registry = _registry([_claim("gain", "v", "b", 1.7, matched="m"),
                          _claim("absent", "v", "x", 0.5)])
    result = check_claims(registry, frame, "smoke")
    sigma = math.sqrt((0.5 + 0.5 + 0.08) / 3)
    assert result["noise"]["ap"]["std"] == pytest.approx(sigma, abs=1e-4)
    assert result["noise"]["ap"]["dof"] == 3 and result["synthetic"]
    gain = result["claims"][0]
    published, matched = gain["as_published"], gain["recipe_matched"]
    assert published["delta"] == pytest.approx(5.0) and published["seeds"] == [2, 2]
    half = 2 * sigma * math.sqrt(1 / 2 + 1 / 2)
    assert published["interval"] == pytest.approx([5.0 - half, 5.0 + half], abs=1e-4)
    assert published["verdict"] == REPRODUCED
    # [-1.2, 1.2]: holds zero, and a gain of 1.7 would have shown
    assert matched["delta"] == pytest.approx(0.0) and matched["verdict"] == NOT_REPRODUCED
    absent = result["claims"][1]["as_published"]
    assert absent["verdict"] == NOT_TRAINED and absent["missing"] == ["x"]


def test_one_seed_everywhere_falls_back_to_the_assumed_noise() -> None:
    frame = _frame([("v", 40.0), ("b", 39.9)])
    result = check_claims(_registry([_claim("gain", "v", "b", 0.2)], assumed_std=0.2),
                          frame, "full")
    assert result["noise"]["ap"]["std"] == 0.2
    assert result["noise"]["ap"]["source"].startswith("assumed")
    assert result["claims"][0]["as_published"]["verdict"] == INCONCLUSIVE


def test_markdown_says_the_verdicts_are_on_synthetic_data(tmp_path: Path) -> None:
    frame = _frame([("v", 40.0), ("v", 41.0), ("b", 35.0), ("b", 36.0)])
    result = check_claims(_registry([_claim("gain", "v", "b", 1.7),
                                     _claim("size", "v", "w", 0.5, unmatched_reason="a | why")]),
                          frame, "smoke")
    assert result["claims"][1]["unmatched_reason"] == "a | why"
    text = "\n".join(claims_markdown(result, {"dnanet": "DNANet"},
                                     {"dnanet": "plots/claims_dnanet.png"}))
    assert "Computed on synthetic data at the smoke scale" in text
    assert "![DNANet: paper against reproduced differences](plots/claims_dnanet.png)" in text
    assert "| gain claim | Table 1 | +1.7 AP | +5.00 [" in text and "**reproduced**" in text
    assert "| same recipe |" in text  # the gain's variant and baseline share a recipe
    assert "recipes differ, none trained: a \\| why" in text  # the reason, escaped
