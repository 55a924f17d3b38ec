rule table:
    """One paper table: the paper's figures beside the reproduced ones."""
    input:
        table_inputs,
        spec="params/papers/{table}.yaml",
    output:
        md="reports/tables/{table}.md",
        json="reports/tables/{table}.json",
    params:
        scale=SCALE,
        trained=table_trained,
    log:
        f"logs/{SCALE}/table_{{table}}.log",
    resources:
        gpu=0,
    conda:
        "../../environment.yml"
    shell:
        "pose table {wildcards.table} --scale {params.scale} > {log} 2>&1"


REPORT_OUTPUTS = (
    ["reports/preflight.json", "reports/plots/preflight.png", "reports/plots/preflight.svg"]
    if PREFLIGHT
    else ["reports/gpu_hours.json"] + [f"reports/plots/{plot}.{ext}"
                                       for plot in ("training", "gpu_hours")
                                       for ext in ("png", "svg")]
)


rule report:
    """reports/index.md: every table, the training cost, the training curves, assumptions and
    provenance."""
    input:
        expand("reports/tables/{table}.md", table=TABLES),
        # the training curves and throughput (the estimated device-hours per paper); at a check
        # scale each experiment's preflight record
        expand(f"{RUNS}/{{experiment}}/{{record}}", experiment=TRAINED,
               record=["resources.json"] if PREFLIGHT else ["train_log.csv", "bench.json"]),
        # complexity of every experiment, trained at this scale or not (as dvc.yaml measures it)
        expand("runs/complexity/{experiment}.json", experiment=EXPERIMENTS),
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
    conda:
        "../../environment.yml"
    shell:
        "pose report --scale {params.scale} > {log} 2>&1"
