from pose.report.claims_plot import forest_stem, scatter_stem
from pose.report.figures import planned_figures
from pose.report.papers import paper_groups
from pose.report.tables import speed_command, speed_jobs, speed_rows

# `snakemake --report report.html` holds every table and figure, grouped by paper, each with
# the caption in workflow/report/ (Jinja over the job's params and wildcards).
report: "../report/workflow.rst"

PAPERS = paper_groups(REGISTRY)
PAPER_OF_TABLE = {t: g.name for g in PAPERS for t in g.tables}
CLAIM_PAPERS = sorted({c.paper for c in REGISTRY.claims.claims.values()}) \
    if REGISTRY.claims is not None else []
PAPER_NAMES = {g.key: g.name for g in PAPERS}

# Each speed column a paper prints gets a `pose speed` record per row, timed as the paper did
# (1000 persons one at a time: minutes per model on a few cores), for the experiments a scale
# on the papers' own data trains; a GPU protocol only where the scale runs on GPUs. Elsewhere
# (smoke, a check scale) the cells read "not run" unless a record is made by hand. The same
# selection is DVC's speed stage (pipeline.yaml `speed`).
SPEED = speed_jobs(REGISTRY, SCALE, DATASET)


rule speed:
    """Persons per second of the experiment's paper-size model at the paper's input, timed as
    the paper that prints its speed did (device, threads, batch, persons)."""
    wildcard_constraints:
        experiment="|".join(sorted({e for e, _ in SPEED})) or "^$",
        protocol="|".join(sorted({p for _, p in SPEED})) or "^$",
    output:
        "runs/speed/{experiment}/{protocol}.json",
    params:
        command=lambda w, output: speed_command(REGISTRY, w.experiment, w.protocol, output[0]),
    log:
        "logs/speed_{experiment}_{protocol}.log",
    threads: lambda w: SPEED[(w.experiment, w.protocol)].threads or 1
    resources:
        gpu=lambda w: int(SPEED[(w.experiment, w.protocol)].device == "cuda"),
    shell:
        "{params.command} > {log} 2>&1"


rule table:
    """One paper table: the paper's figures beside the reproduced ones."""
    localrule: True  # seconds of work: not worth a queue wait
    input:
        table_inputs,
        # the `pose speed` records of the rows whose paper gives a speed
        lambda w: [f"runs/speed/{e}/{c.protocol}.json" for e, c in speed_rows(REGISTRY, w.table)
                   if (e, c.protocol) in SPEED],
        spec="params/papers/{table}.yaml",
    output:
        md=report("reports/tables/{table}.md", caption="../report/table.rst",
                  category=lambda w: PAPER_OF_TABLE[w.table], subcategory="Tables"),
        json="reports/tables/{table}.json",
    params:
        scale=SCALE,
        trained=table_trained,
        title=lambda w: REGISTRY.table(w.table).title,
        caption=lambda w: " ".join(REGISTRY.table(w.table).caption.split()),
    log:
        f"logs/{SCALE}/table_{{table}}.log",
    resources:
        gpu=0,
    shell:
        "pose table {wildcards.table} --scale {params.scale} > {log} 2>&1"


REPORT_OUTPUTS = (
    ["reports/preflight.json",
     *_figure("preflight", "preflight", "Preflight")]
    if PREFLIGHT
    else ["reports/gpu_hours.json",
          *_figure("training", "training", "Training"),
          *_figure("gpu_hours", "gpu_hours", "Training"),
          *[report("reports/results.csv", caption="../report/results.rst", category="Results")],
          "reports/metrics.json",
          *([report("reports/claims.md", caption="../report/claims.rst", category="Claims"),
             "reports/claims.json"] if REGISTRY.claims is not None else []),
          *[f for g in PAPERS for f in _figure(scatter_stem(g.key), "scatter", g.name)],
          *[f for p in CLAIM_PAPERS
            for f in _figure(forest_stem(p), "forest", PAPER_NAMES[p], "Claims")],
          # the papers' own figures regenerated (params/figures.yaml), each with its caption
          *[f for fig in planned_figures(REGISTRY, SCALE)
            for f in (report(f"reports/plots/{fig.name}.png", caption="../report/paper_figure.rst",
                             category=PAPER_NAMES.get(fig.paper, fig.paper),
                             subcategory="Figures",
                             labels={"figure": fig.name, "description": fig.caption}),
                      f"reports/plots/{fig.name}.svg")]]
)


rule report:
    """reports/index.md: every table, the training cost, the training curves, assumptions and
    provenance."""
    localrule: True
    input:
        expand("reports/tables/{table}.md", table=TABLES),
        # the training curves and throughput (the estimated device-hours per paper); at a check
        # scale each experiment's preflight record
        expand(f"{RUNS}/{{experiment}}/{{record}}", experiment=TRAINED,
               record=["resources.json"] if PREFLIGHT else ["train_log.csv", "bench.json"]),
        # complexity of every experiment, trained at this scale or not (as dvc.yaml measures it)
        expand("runs/complexity/{experiment}.json", experiment=EXPERIMENTS),
        # every training's predictions and weights: the papers' figures draw them (skeletons on
        # val images, DANet Fig. 6's weight norms)
        [] if PREFLIGHT else expand(f"{RUNS}/{{run}}/{{record}}", run=TRAINED_RUNS,
                                    record=["results.json", "model.pth"]),
        "params/figures.yaml",
    output:
        "reports/index.md",
        "reports/provenance.json",
        # the training curves and the cost per paper; at a check scale the preflight's numbers
        # and its GPU-memory plot (no throughput is measured there)
        REPORT_OUTPUTS,
    params:
        scale=SCALE,
        trained=",".join(TRAINED),
    log:
        f"logs/{SCALE}/report.log",
    resources:
        gpu=0,
    shell:
        "pose report --scale {params.scale} > {log} 2>&1"
