"""reports/claims.md: each paper's claims with the reproduced difference and its verdict."""

from __future__ import annotations

from pose.report.claims import NOT_TRAINED, verdict_counts
from pose.report.tables import escape_cell, markdown_table

UNITS = {"ap": "AP", "pckh": "PCKh", "top1_error": "top-1 err %"}
COLUMNS = (("Claim", "l"), ("Where", "l"), ("Paper Δ", "r"),
           ("Reproduced Δ [interval], as published", "l"), ("Verdict", "l"),
           ("Reproduced Δ [interval], recipe-matched", "l"), ("Verdict", "l"))


def synthetic_notice(result: dict) -> str:
    """Said first when the verdicts come from the synthetic stand-in data."""
    if not result["synthetic"]:
        return ""
    return (f"**Computed on synthetic data at the {result['scale']} scale**: these verdicts "
            "exercise the check end to end and say nothing about the papers' claims.")


def _difference_cell(comparison: dict | None, unmatched_reason: str | None = None) -> str:
    if comparison is None:
        return (f"recipes differ, none trained: {escape_cell(unmatched_reason)}" if unmatched_reason
                else "same recipe")
    if comparison["verdict"] == NOT_TRAINED:
        return f"not trained: {', '.join(comparison['missing'])}"
    low, high = comparison["interval"]
    n_e, n_b = comparison["seeds"]
    return (f"{comparison['delta']:+.2f} [{low:+.2f}, {high:+.2f}] "
            f"({n_e} vs {n_b} seed{'s' if n_b > 1 else ''}; vs {comparison['baseline']})")


def _verdict_cell(comparison: dict | None) -> str:
    if comparison is None:
        return ""
    return "—" if comparison["verdict"] == NOT_TRAINED else f"**{comparison['verdict']}**"


def noise_lines(result: dict) -> list[str]:
    lines = [f"The interval is the {result['interval']}; the standard error of a difference "
             "of means over n_e and n_b seeds is sigma * sqrt(1/n_e + 1/n_b), with sigma the "
             "seed-to-seed standard deviation of one training:", ""]
    for metric, noise in result["noise"].items():
        lines.append(f"- {UNITS[metric]}: sigma = {noise['std']:.2f}, {noise['source']}")
    return lines


def claims_markdown(result: dict, paper_names: dict[str, str], plots: dict[str, str],
                    heading: str = "#") -> list[str]:
    """The claims section: notice, noise, counts, then one table (and forest plot) per paper.
    `plots` maps a paper key to its forest plot's path relative to the page."""
    counts = verdict_counts(result)
    lines = [f"{heading} Claims", ""]
    notice = synthetic_notice(result)
    if notice:
        lines += [notice, ""]
    lines += noise_lines(result) + [""]
    lines.append("Comparisons: " + ", ".join(f"{n} {v}" for v, n in sorted(counts.items()))
                 + f" ({len(result['claims'])} claims).")
    lines.append("")
    for paper, name in paper_names.items():
        claims = [c for c in result["claims"] if c["paper"] == paper]
        if not claims:
            continue
        lines += [f"{heading}# {name}", ""]
        if paper in plots:
            lines += [f"![{name}: paper against reproduced differences]({plots[paper]})", ""]
        rows = [[escape_cell(c["claim"]), escape_cell(c["source"]),
                 f"{c['paper_delta']:+g} {UNITS[c['metric']]}",
                 _difference_cell(c["as_published"]), _verdict_cell(c["as_published"]),
                 _difference_cell(c.get("recipe_matched"), c.get("unmatched_reason")),
                 _verdict_cell(c.get("recipe_matched"))] for c in claims]
        lines += markdown_table(COLUMNS, rows) + [""]
    return lines
