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


rule report:
    """reports/index.md: every table, the training cost, the training curves, assumptions and
    provenance."""
    input:
        expand("reports/tables/{table}.md", table=TABLES),
        expand(f"{RUNS}/{{experiment}}/train_log.csv", experiment=TRAINED),
        # training throughput: the estimated device-hours per paper
        expand(f"{RUNS}/{{experiment}}/bench.json", experiment=TRAINED),
        # complexity of every experiment, trained at this scale or not (as dvc.yaml measures it)
        expand("runs/complexity/{experiment}.json", experiment=EXPERIMENTS),
    output:
        index="reports/index.md",
        provenance="reports/provenance.json",
        plot_png="reports/plots/training.png",
        plot_svg="reports/plots/training.svg",
        cost="reports/gpu_hours.json",
        cost_png="reports/plots/gpu_hours.png",
        cost_svg="reports/plots/gpu_hours.svg",
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
