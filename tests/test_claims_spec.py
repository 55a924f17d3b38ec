"""params/claims.yaml: every paper's claims load, and a claim that disagrees with the registry is
named with its file, field and what was expected."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest
import yaml

from pose.config import load_registry
from pose.errors import ConfigError
from pose.report.papers import paper_groups

ROOT = Path(__file__).resolve().parents[1]
PAPERS = {"baselines", "dnanet", "ram_gpr", "hrnet_am", "frsbn", "danet"}
# The ablation tables the papers' claims come from: each has claims
ABLATIONS = {"dnanet_ablation", "ram_gpr_ablation", "hrnet_am_placement", "frsbn_ablation",
             "danet_components", "danet_oab_variants", "danet_spatial_attention", "danet_fusion",
             "danet_single_pyramid"}


@pytest.fixture(scope="module")
def registry():
    return load_registry(ROOT / "params", check_pipeline=False)


def test_every_paper_and_ablation_table_has_claims_and_one_headline(registry) -> None:
    claims = list(registry.claims.claims.values())
    assert {c.paper for c in claims} == PAPERS
    assert {c.table for c in claims} >= ABLATIONS
    headlines = Counter(c.paper for c in claims if c.headline)
    assert set(headlines) == PAPERS and set(headlines.values()) == {1}


def test_claims_across_recipes_are_matched_or_say_why(registry) -> None:
    for c in registry.claims.claims.values():
        variant, baseline = (registry.experiments[e] for e in (c.experiment, c.baseline))
        if variant.recipe == baseline.recipe:
            assert c.matched_baseline is None, c.id
            continue
        assert c.matched_baseline or c.unmatched_reason, c.id
        if c.matched_baseline:
            matched = registry.experiments[c.matched_baseline]
            assert (matched.model, matched.recipe) == (baseline.model, variant.recipe), c.id
    # the module's effect alone: DNANet's headline against HRNet-W32 under DNANet's recipe
    headline = registry.claims.claims["dnanet_w32_over_hrnet_w32"]
    assert registry.experiments[headline.matched_baseline].recipe == "dnanet"


def test_matched_baselines_are_their_papers_experiments(registry) -> None:
    """A recipe-matched baseline is trained, planned and seeded with its paper's experiments."""
    groups = {g.key: g for g in paper_groups(registry)}
    assert "hrnet_w32_dnanet_recipe_256x192" in groups["dnanet"].experiments
    assert "hrnet_w32_dnanet_recipe_256x192" in registry.paper_experiments("dnanet")
    assert "hrnet_w32_dnanet_recipe_256x192" not in groups["hrnet_am"].experiments


def _params(tmp_path: Path) -> Path:
    params = tmp_path / "params"
    shutil.copytree(ROOT / "params", params)
    return params


def _edit(params: Path, claim: str, **changes) -> None:
    path = params / "claims.yaml"
    data = yaml.safe_load(path.read_text())
    for key, value in changes.items():
        if value is None:
            data["claims"][claim].pop(key, None)
        else:
            data["claims"][claim][key] = value
    path.write_text(yaml.safe_dump(data, sort_keys=False))


@pytest.mark.parametrize("changes, message", [
    ({"experiment": "dnanet_w33_256x192"}, r"claims\.dnanet_cdna_over_channel_attention\."
                                           r"experiment: unknown experiment 'dnanet_w33"),
    ({"table": "dnanet_ablations"}, r"\.table: unknown table 'dnanet_ablations'"),
    ({"paper": "danet"}, r"\.paper: table 'dnanet_ablation' belongs to paper 'dnanet'"),
    ({"paper_delta": 0.4}, r"\.paper_delta: 0.4 but table 'dnanet_ablation' gives "
                           r"75.0 - 74.8 = 0.20"),
    ({"baseline": "hrnet_w48_256x192"}, r"\.baseline: 'hrnet_w48_256x192' is no row of table "
                                        r"'dnanet_ablation'"),
    ({"metric": "pckh"}, r"\.metric: 'pckh' is not what table 'dnanet_ablation' prints"),
    ({"colour": "red"}, r"claims\.dnanet_cdna_over_channel_attention: unknown key\(s\) "
                        r"\['colour'\]"),
    ({"matched_baseline": "hrnet_w32_dnanet_recipe_256x192"}, r"share recipe 'dnanet'"),
])
def test_a_claim_that_disagrees_with_the_registry_is_named(tmp_path: Path, changes: dict,
                                                           message: str) -> None:
    params = _params(tmp_path)
    _edit(params, "dnanet_cdna_over_channel_attention", **changes)
    with pytest.raises(ConfigError, match=message) as err:
        load_registry(params, check_pipeline=False)
    assert "claims.yaml" in str(err.value)


def test_a_claim_across_recipes_needs_a_matched_baseline(tmp_path: Path) -> None:
    params = _params(tmp_path)
    _edit(params, "dnanet_w32_over_hrnet_w32", matched_baseline=None)
    with pytest.raises(ConfigError, match=r"recipe 'dnanet' and 'hrnet_w32_256x192' with "
                                          r"'hrnet': name a matched_baseline"):
        load_registry(params, check_pipeline=False)
    _edit(params, "dnanet_w32_over_hrnet_w32", matched_baseline="hrnet_w48_256x192")
    with pytest.raises(ConfigError, match=r"matched_baseline: its model is 'hrnet_w48', "
                                          r"expected 'hrnet_w32'"):
        load_registry(params, check_pipeline=False)


def test_two_headlines_and_repeated_comparisons_are_refused(tmp_path: Path) -> None:
    params = _params(tmp_path)
    _edit(params, "dnanet_cdna_over_channel_attention", headline=True)
    with pytest.raises(ConfigError, match="both paper 'dnanet''s headline"):
        load_registry(params, check_pipeline=False)
    params = _params(tmp_path / "again")
    _edit(params, "dnanet_sdna_over_spatial_attention", experiment="hrnet_w32_cdna_256x192",
          baseline="hrnet_w32_channel_attention_256x192")
    with pytest.raises(ConfigError, match="compares what claims.dnanet_cdna_over_channel_"
                                          "attention compares"):
        load_registry(params, check_pipeline=False)


def test_noise_must_be_positive_and_cover_every_metric(tmp_path: Path) -> None:
    params = _params(tmp_path)
    path = params / "claims.yaml"
    data = yaml.safe_load(path.read_text())
    data["noise"]["ap"]["std"] = 0.0
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ConfigError, match=r"noise\.ap: .*must be > 0"):
        load_registry(params, check_pipeline=False)
    del data["noise"]["pckh"]
    data["noise"]["ap"]["std"] = 0.15
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ConfigError, match="metric 'pckh', which noise gives no assumed"):
        load_registry(params, check_pipeline=False)


def test_no_claims_file_is_no_claims(tmp_path: Path) -> None:
    params = _params(tmp_path)
    (params / "claims.yaml").unlink()
    assert load_registry(params, check_pipeline=False).claims is None
