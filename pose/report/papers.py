"""Which paper each table of params/papers/ belongs to, for figures summed per paper.

The registry names a paper's tables `<paper>_<table>` (dnanet_ablation, dnanet_sota; ram_gpr,
ram_gpr_ablation): a table belongs to the longest `_`-separated prefix of its name that another
table's name shares; a table sharing none (baselines) is a group of its own. The group's name is
what its tables' titles begin with, up to the word "Table" ("DNANet Table 1 (...)" -> "DNANet").
"""

from __future__ import annotations

from dataclasses import dataclass

from pose.config import Registry
from pose.report.tables import table_order


@dataclass(frozen=True)
class PaperGroup:
    key: str  # the shared table-name prefix
    name: str  # for the reader ("DNANet", "RAM + GPR", "Baselines")
    tables: list[str]
    # every row's experiment, each once, in table and row order, then the recipe-matched
    # baselines of the paper's claims
    experiments: list[str]


def _has_prefix(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + "_")


def paper_key(table: str, tables: list[str]) -> str:
    """The longest `_`-prefix of `table` that another table's name starts with, else `table`."""
    parts = table.split("_")
    others = [t for t in tables if t != table]
    for n in range(len(parts), 0, -1):
        prefix = "_".join(parts[:n])
        if any(_has_prefix(other, prefix) for other in others):
            return prefix
    return table


def _group_name(titles: list[str], key: str) -> str:
    words = [title.split() for title in titles]
    common = []
    for column in zip(*words, strict=False):
        if any(w != column[0] for w in column):
            break
        common.append(column[0])
    if "Table" in common:
        common = common[: common.index("Table")]
    return " ".join(common) or key


def matched_baselines(registry: Registry, paper: str) -> list[str]:
    """The recipe-matched baselines the paper's claims add (params/claims.yaml): trained for
    the paper though no table row shows them."""
    claims = registry.claims.claims.values() if registry.claims is not None else []
    return list(dict.fromkeys(c.matched_baseline for c in claims
                              if c.paper == paper and c.matched_baseline))


def paper_groups(registry: Registry) -> list[PaperGroup]:
    """The papers' table groups in report order (baselines first)."""
    order = table_order(registry)
    keys = {t: paper_key(t, order) for t in order}
    groups = []
    for key in dict.fromkeys(keys.values()):
        tables = [t for t in order if keys[t] == key]
        experiments = {
            row.experiment: None
            for t in tables
            for row in registry.table(t).typed_rows(f"{registry.params_dir}/papers/{t}.yaml")
        }
        experiments.update(dict.fromkeys(matched_baselines(registry, key)))
        name = _group_name([registry.table(t).title for t in tables], key)
        groups.append(PaperGroup(key, name, tables, list(experiments)))
    return groups
