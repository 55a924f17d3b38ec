# One fetch job per source the scale needs (the registry's data_sources: the dataset's sources
# and the checkpoints of the models it trains), as dvc.yaml's `data` stage. A job is never
# re-run because params changed: Snakemake would delete the folder first (19 GB of COCO).

for _source, _out in {**DATA, **TEST_DEV_DATA}.items():

    rule:
        name:
            f"fetch_{_source}"
        # on the submitting host: compute nodes often have no internet
        localrule: True
        output:
            directory(_out),
        params:
            source=_source,
            # regenerate the synthetic dataset when its settings change (generated sources only)
            spec=synthetic_spec(_source),
        log:
            f"logs/fetch_{_source}.log",
        resources:
            gpu=0,
        shell:
            "pose --no-progress fetch {params.source} 2> {log}"
