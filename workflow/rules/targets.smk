# Targets for part of the reproduction: `snakemake paper_dnanet` builds one paper's tables and
# `snakemake table_dnanet_sota` one table, training only the experiments their rows need. An
# experiment shared by several papers has one output path (runs/<scale>/<exp>/), so it is
# trained once and reused by the others. Papers are the table groups of pose.report.papers
# (the table-name prefix: baselines, dnanet, ram_gpr, ...), as `pose plan --paper` names them.

from pose.report.papers import paper_groups

for _paper in paper_groups(REGISTRY):

    rule:
        name:
            f"paper_{_paper.key}"
        localrule: True
        input:
            expand("reports/tables/{table}.md", table=_paper.tables),


for _table in TABLES:

    rule:
        name:
            f"table_{_table}"
        localrule: True
        input:
            f"reports/tables/{_table}.md",
