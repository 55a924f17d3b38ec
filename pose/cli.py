"""`pose`: one subcommand per pipeline stage. The workflow engines call only this."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from pose import stages
from pose.config import Registry, check_pipeline_file, load_registry, parse_input
from pose.errors import PoseError, error_message


def _registry(args: argparse.Namespace) -> Registry:
    """The registry; pipeline.yaml is checked where a command runs at its scale (a stale file
    stops `dvc repro`), not where it runs at another (`--scale full`) or takes no scale."""
    takes_scale = hasattr(args, "scale")
    registry = load_registry(args.params, check_pipeline=takes_scale and args.scale is None)
    if takes_scale and args.scale is not None and args.scale == registry.default_scale:
        check_pipeline_file(registry)
    return registry


def _scale(args: argparse.Namespace, registry: Registry) -> str:
    scale = args.scale or registry.default_scale
    registry.scale(scale)
    return scale


def _resolve(args: argparse.Namespace, registry: Registry, training: bool = False):
    """The experiment at the command's scale; `--dataset` replaces its dataset where the scale
    takes stand-ins (preflight on the synthetic set). In a Slurm job its loader workers follow
    the job's CPUs (`training`: over the job's GPU processes)."""
    from pose.engine.launch import job_loader_workers

    exp = registry.resolve(args.experiment, _scale(args, registry),
                           getattr(args, "dataset", None))
    return job_loader_workers(exp, training)


def _progress(args: argparse.Namespace) -> bool:
    return not args.no_progress


def cmd_models(args: argparse.Namespace) -> None:
    for name in _registry(args).models:
        print(name)


def cmd_experiments(args: argparse.Namespace) -> None:
    for name in _registry(args).experiments:
        print(name)


def cmd_synth(args: argparse.Namespace) -> None:
    root = stages.synth_stage(_registry(args), args.dataset, args.out, _progress(args))
    print(f"synthetic dataset written to {root}")


def cmd_fetch(args: argparse.Namespace) -> None:
    registry = _registry(args)
    def emit(line: str) -> None:
        print(line, flush=True)  # each source as it is done, before a later one fails

    for name in args.names:
        stages.fetch_stage(registry, name, _progress(args), emit)


def cmd_train(args: argparse.Namespace) -> None:
    from pose.engine.launch import check_devices, distributed_command, exec_distributed

    registry = _registry(args)
    exp = _resolve(args, registry, training=True)
    check_devices(exp)  # before torchrun starts a process per GPU
    command = distributed_command(exp, args.argv)
    if command is not None:  # several GPUs: one process each, under torchrun
        exec_distributed(command)
    path = stages.train_stage(exp, _progress(args))
    print(f"trained weights: {path}")


def cmd_evaluate(args: argparse.Namespace) -> None:
    if args.oracle or args.ground_truth:
        if args.experiment:
            raise PoseError("--oracle/--ground-truth evaluate annotation files, not an experiment")
        if args.checkpoint or args.weights or args.untrained:
            raise PoseError("--oracle/--ground-truth evaluate no model: give them without "
                            "--checkpoint, --weights or --untrained")
        if not args.annotations:
            # Default: the val split of the dataset the pipeline's scale uses.
            registry = _registry(args)
            spec = registry.datasets[registry.datasets_for_scale(_scale(args, registry))[0]]
            args.annotations = spec.path(spec.val.annotations)
            args.images = args.images or spec.path(spec.val.images)
        if args.ground_truth:
            record = stages.ground_truth_stage(args.annotations, args.out)
        else:
            record = stages.oracle_stage(
                args.annotations,
                args.images or args.annotations.parent,
                parse_input(args.input, "--input"),
                args.sigma,
                args.out,
                _progress(args),
            )
    else:
        if not args.experiment:
            raise PoseError("name an EXPERIMENT (see `pose experiments`), or use --oracle")
        registry = _registry(args)
        exp = _resolve(args, registry)
        record = stages.evaluate_stage(
            exp, args.checkpoint, args.boxes, _progress(args), untrained=args.untrained,
            weights=args.weights, out=args.out, annotations=args.annotations,
            images=args.images, detections=args.detections,
        )
    print(json.dumps(record, indent=2))


def cmd_verify_official(args: argparse.Namespace) -> None:
    registry = _registry(args)
    overrides = {"annotations": args.annotations, "images": args.images,
                 "detections": args.detections, "boxes": args.boxes}
    result = stages.verify_official_stage(
        registry, args.scale, _progress(args), weights_dir=args.weights_dir,
        runs_dir=args.runs, table=args.table, overrides=overrides,
        emit=lambda line: print(line, file=sys.stderr, flush=True),
    )
    placed = sum(r["placed"] for r in result["rows"])
    print(f"{args.table}.md: {placed} of {len(result['rows'])} official weights files evaluated")


def cmd_preflight(args: argparse.Namespace) -> None:
    from pose.preflight import run_preflight

    registry = _registry(args)
    record = run_preflight(registry, _resolve(args, registry), args.dataset, _progress(args))
    line = (f"{record['experiment']}: preflight {record['status']}"
            + (f" in {record['failed_stage']}: {record['error']}" if record["error"] else ""))
    print(line, file=sys.stderr if record["error"] else sys.stdout)


def cmd_preflight_check(args: argparse.Namespace) -> None:
    from pose.io import write_text
    from pose.preflight import failures, summary_json

    registry = _registry(args)
    scale = _scale(args, registry)
    experiments = registry.trained_experiments(scale, args.dataset)
    text = summary_json(Path("runs"), scale, experiments)
    print(text)
    failed = failures(Path("runs"), scale, experiments)
    if failed:
        raise PoseError(f"{len(failed)} of {len(experiments)} experiments failed preflight at "
                        f"scale {scale!r}: " + "; ".join(f"{k} ({v})" for k, v in failed.items())
                        + " (reports/index.md, section Preflight)")
    if args.out:
        write_text(args.out, text + "\n")


def cmd_predict_test_dev(args: argparse.Namespace) -> None:
    from pose.evaluate.testdev import predict_test_dev

    registry = _registry(args)
    path = predict_test_dev(_resolve(args, registry), _progress(args))
    print(f"test-dev submission: {path} (upload it to the COCO keypoint evaluation server, then "
          f"`pose import-server-stats FILE --experiment {args.experiment}`)")


def cmd_predict_mpii_test(args: argparse.Namespace) -> None:
    from pose.evaluate.mpii_test import predict_mpii_test

    registry = _registry(args)
    path = predict_mpii_test(_resolve(args, registry), _progress(args))
    print(f"MPII test-set predictions: {path} (the evaluation toolkit's `pred` format; the "
          "benchmark's authors score the test set)")


def cmd_import_server_stats(args: argparse.Namespace) -> None:
    from pose.evaluate.server_stats import import_server_stats, infer_experiment

    registry = _registry(args)
    scale = _scale(args, registry)
    experiment = args.experiment or infer_experiment(args.file, list(registry.experiments), scale)
    path = import_server_stats(args.file, experiment, scale)
    print(f"test-dev stats of {experiment} recorded in {path}")


def cmd_pckh(args: argparse.Namespace) -> None:
    from pose.data.mpii import read_mpii_gt
    from pose.evaluate.mpii_predictions import read_pred_mat
    from pose.evaluate.pckh import evaluate_mpii

    table = evaluate_mpii(read_pred_mat(args.predictions), read_mpii_gt(args.annotations),
                          threshold=args.threshold)
    if args.format == "json":
        print(json.dumps(table))
    else:
        print(" | ".join(f"{k} {v:.1f}" for k, v in table.items()))


def cmd_complexity(args: argparse.Namespace) -> None:
    from pose.io import write_json

    record = stages.complexity_stage(_registry(args), args.model, args.input)
    if args.out:
        write_json(args.out, record)
    if args.format == "json":
        print(json.dumps(record))
    else:
        print(
            f"{record['model']} @ {record['input']}: {record['params']:,} params, "
            f"{record['gflops_paper']:.2f} GFLOPs (paper convention), "
            f"{record['gmacs']:.2f} GMACs"
        )


def _emit_record(args: argparse.Namespace, record: dict,
                 lines: Callable[[dict], list[str]]) -> None:
    """A measurement: to `--out` as JSON, and printed as JSON or as readable lines."""
    from pose.io import write_json

    if args.out:
        write_json(args.out, record)
    if args.format == "json":
        print(json.dumps(record))
    else:
        print("\n".join(lines(record)))


def cmd_speed(args: argparse.Namespace) -> None:
    from pose.measure.speed import measure_speed, speed_lines

    record = measure_speed(
        _registry(args).model(args.model),
        args.model,
        parse_input(args.input, "--input"),
        device=args.device,
        threads=args.threads,
        batch=args.batch,
        persons=args.persons,
        warmup=args.warmup,
        log=(lambda line: print(line, file=sys.stderr)) if _progress(args) else None,
    )
    _emit_record(args, record, speed_lines)


def cmd_bench_train(args: argparse.Namespace) -> None:
    from pose.measure.train_bench import bench_lines, bench_train, parse_bench_input

    registry = _registry(args)
    record = bench_train(
        registry, args.name, _scale(args, registry),
        input_hw=parse_bench_input(args.input), batch=args.batch, workers=args.workers,
        device=args.device, precision=args.precision, channels_last=args.channels_last,
        steps=args.steps, warmup=args.warmup,
        log=(lambda line: print(line, file=sys.stderr)) if _progress(args) else None,
    )
    _emit_record(args, record, bench_lines)


def cmd_bench_data(args: argparse.Namespace) -> None:
    from pose.measure.data_bench import bench_data, data_bench_lines
    from pose.measure.train_bench import parse_bench_input

    registry = _registry(args)
    record = bench_data(
        args.name, _scale(args, registry), registry.params_dir,
        input_hw=parse_bench_input(args.input), workers=args.workers, samples=args.samples,
        batch=args.batch, repeat=args.repeat, images=args.images, annotations=args.annotations,
        decode_cache=args.decode_cache,
        compare_with=args.compare_with,
        log=(lambda line: print(line, file=sys.stderr)) if _progress(args) else None,
    )
    _emit_record(args, record, data_bench_lines)


def cmd_table(args: argparse.Namespace) -> None:
    registry = _registry(args)
    stages.table_stage(registry, args.table, _scale(args, registry))


def cmd_use_scale(args: argparse.Namespace) -> None:
    path = stages.use_scale_stage(args.params, args.name, args.dataset)
    print(f"{path}: scale {args.name!r}; `dvc repro` and `snakemake` now run it")


def cmd_restore_mtimes(args: argparse.Namespace) -> None:
    from pose.dvc_mtimes import restore_mtimes

    moved, changed = restore_mtimes(args.root)
    print(f"outputs of {len(moved)} up-to-date DVC stages dated after their dependencies")
    if changed:
        print(f"{len(changed)} stages changed (`dvc status`), their outputs left as they are: "
              + ", ".join(changed))


def cmd_report(args: argparse.Namespace) -> None:
    registry = _registry(args)
    stages.report_stage(registry, _scale(args, registry))
    print("report written to reports/index.md")


def cmd_figures(args: argparse.Namespace) -> None:
    from pose.report.figures import write_paper_figures

    registry = _registry(args)
    for figure in write_paper_figures(registry, _scale(args, registry)):
        print(f"{figure['files'][0]}: {figure['caption']}")


def cmd_plan(args: argparse.Namespace) -> None:
    from pose.plan import plan, plan_lines
    from pose.site import load_site

    registry = _registry(args)
    result = plan(registry, _scale(args, registry), load_site(args.site), args.runs,
                  paper=args.paper, gpus=args.gpus)
    print(json.dumps(result, indent=2) if args.format == "json"
          else "\n".join(plan_lines(result)))


def _common_options(parser: argparse.ArgumentParser, defaults: bool) -> None:
    def default(value: object) -> object:
        return value if defaults else argparse.SUPPRESS

    parser.add_argument(
        "--params", type=Path, default=default(Path("params")), help="registry directory"
    )
    parser.add_argument(
        "--no-progress", action="store_true", default=default(False), help="no progress bars"
    )
    parser.add_argument("-v", "--verbose", action="store_true", default=default(False))
    parser.add_argument(
        "--claim-gpus", type=int, metavar="G", default=default(0),
        help="take G of this machine's GPUs no other job holds (CUDA_VISIBLE_DEVICES), for "
             "`snakemake --resources gpu=K` without a scheduler; nothing under Slurm",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pose", description="Reproduce top-down pose estimation papers' tables."
    )
    _common_options(parser, defaults=True)
    # The same options after the subcommand (`pose train X --no-progress`); SUPPRESS keeps a
    # value given before the subcommand from being reset.
    common = argparse.ArgumentParser(add_help=False)
    _common_options(common, defaults=False)
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, help: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, parents=[common])

    def scale_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument("--scale", help="scale preset (default: params/pipeline.yaml)")

    def experiment_command(name: str, help: str,
                           func: Callable[[argparse.Namespace], None]) -> None:
        """A stage run on one experiment of a scale: `pose NAME EXPERIMENT [--scale S]`."""
        p = add(name, help=help)
        p.add_argument("experiment")
        scale_arg(p)
        p.set_defaults(func=func)

    p = add("models", help="list registered model names")
    p.set_defaults(func=cmd_models)
    p = add("experiments", help="list registered experiments")
    p.set_defaults(func=cmd_experiments)

    p = add("synth", help="generate the synthetic COCO-format dataset")
    p.add_argument("dataset", nargs="?", default="synthetic")
    p.add_argument("--out", type=Path, help="output root (default: the dataset's root)")
    p.set_defaults(func=cmd_synth)

    for name, text in (
        ("fetch", "fetch (or generate) sources or datasets; a re-run verifies, downloads nothing"),
        ("prepare", "the same as fetch: make a dataset or source ready"),
    ):
        p = add(name, help=text)
        p.add_argument("names", nargs="+", metavar="NAME",
                       help="a source of params/sources.yaml or a dataset of datasets.yaml")
        p.set_defaults(func=cmd_fetch)

    def dataset_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument("--dataset", help="the run's dataset, replacing the experiment's where "
                       "the scale takes it as a stand-in (preflight: synthetic)")

    p = add("train", help="train one experiment (resumes from its last checkpoint)")
    p.add_argument("experiment")
    scale_arg(p)
    dataset_arg(p)
    p.set_defaults(func=cmd_train)

    p = add("preflight", help="a check scale's run of one experiment: train a few steps, "
            "evaluate, record resources.json (ran or failed)")
    p.add_argument("experiment")
    scale_arg(p)
    dataset_arg(p)
    p.set_defaults(func=cmd_preflight)

    p = add("preflight-check", help="fail unless every experiment of the check scale ran")
    scale_arg(p)
    dataset_arg(p)
    p.add_argument("--out", type=Path, help="write the summary here when all ran")
    p.set_defaults(func=cmd_preflight_check)

    p = add("evaluate", help="COCO keypoint AP of an experiment, or a diagnostic")
    p.add_argument("experiment", nargs="?")
    scale_arg(p)
    dataset_arg(p)
    # One source of weights, and one diagnostic: argparse rejects two of either group.
    weights = p.add_mutually_exclusive_group()
    weights.add_argument("--checkpoint", type=Path,
                         help="weights (default: the run's model.pth)")
    weights.add_argument("--weights", type=Path,
                         help="a plain PyTorch state dict (bare, or under 'state_dict'; "
                              "'module.' prefixes allowed) loaded strictly into the "
                              "experiment's model, e.g. a published model-zoo file; writes "
                              "nothing but --out")
    weights.add_argument("--untrained", action="store_true",
                         help="evaluate the freshly initialised model (chance level); writes "
                              "nothing")
    p.add_argument("--boxes", choices=["detections", "gt"], help="override the recipe's boxes")
    diagnostic = p.add_mutually_exclusive_group()
    diagnostic.add_argument("--oracle", action="store_true",
                            help="evaluate heatmaps rendered from the ground truth (codec upper "
                                 "bound)")
    diagnostic.add_argument("--ground-truth", action="store_true",
                            help="evaluate the ground-truth keypoints as results (evaluator "
                                 "check)")
    p.add_argument("--annotations", type=Path,
                   help="COCO keypoints annotation file (default: the pipeline dataset's val); "
                        "with an EXPERIMENT it replaces the val split (a diagnostic: writes "
                        "nothing but --out) and needs --images, and --detections or --boxes gt")
    p.add_argument("--images", type=Path, help="image folder of --annotations")
    p.add_argument("--detections", type=Path,
                   help="person detections (COCO results format) for an EXPERIMENT's detection "
                        "boxes, instead of the dataset's val detections file")
    p.add_argument("--input", default="256x192", help="input size H x W for --oracle")
    p.add_argument("--sigma", type=float, default=2.0, help="heatmap sigma for --oracle")
    p.add_argument("--out", type=Path, help="also write the record to this JSON file")
    p.set_defaults(func=cmd_evaluate)

    p = add("verify-official", help="evaluate each placed official HRNet / SimpleBaseline COCO "
            "weights file (params/official_weights.yaml): published beside measured AP")
    p.add_argument("--scale", default="full",
                   help="devices and workers of this scale; it must keep the paper-size models "
                        "(default: full)")
    p.add_argument("--weights-dir", type=Path,
                   help="folder of the files (default: the source's, data/pretrained/official)")
    p.add_argument("--annotations", type=Path,
                   help="evaluate on this COCO keypoints file instead of the dataset's val "
                        "(needs --images, and --detections or --boxes gt)")
    p.add_argument("--images", type=Path, help="image folder of --annotations")
    p.add_argument("--detections", type=Path, help="person detections for detection boxes")
    p.add_argument("--boxes", choices=["detections", "gt"],
                   help="override official_weights.yaml's boxes (detections)")
    p.add_argument("--runs", type=Path, default=Path("runs/official"),
                   help="per-file records: RUNS/<file stem>/eval.json")
    p.add_argument("--table", type=Path, default=Path("reports/tables/official_weights"),
                   help="the table, written as TABLE.md and TABLE.json")
    p.set_defaults(func=cmd_verify_official)

    experiment_command("predict-test-dev",
                       "COCO test-dev results, zipped for the evaluation server",
                       cmd_predict_test_dev)

    experiment_command("predict-mpii-test", "MPII test-set predictions in the benchmark's format",
                       cmd_predict_mpii_test)

    p = add("import-server-stats", help="record the stats the COCO evaluation server returned")
    p.add_argument("file", type=Path, help="the server's stats (JSON, or pycocotools' summary)")
    p.add_argument("--experiment", help="whose submission the stats answer (default: from the "
                   "file's folder runs/<scale>/<exp>/test-dev/ or its submission name)")
    scale_arg(p)
    p.set_defaults(func=cmd_import_server_stats)

    p = add("pckh", help="MPII PCKh of a pred.mat against gt_valid.mat (DANet Table VIII)")
    p.add_argument("predictions", type=Path, help="pred.mat holding `preds` (N x 16 x 2)")
    p.add_argument("--annotations", type=Path, default=Path("data/mpii/annot/gt_valid.mat"))
    p.add_argument("--threshold", type=float, default=0.5)
    p.add_argument("--format", choices=["json", "text"], default="text")
    p.set_defaults(func=cmd_pckh)

    p = add("complexity", help="params and GFLOPs of a paper-size model")
    p.add_argument("model")
    p.add_argument("--input", default="256x192", help="H x W")
    p.add_argument("--format", choices=["json", "text"], default="text")
    p.add_argument("--out", type=Path, help="also write the JSON record to this file")
    p.set_defaults(func=cmd_complexity)

    p = add("speed", help="inference speed (persons per second) of a paper-size model")
    p.add_argument("model")
    p.add_argument("--input", default="256x192", help="H x W")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--threads", type=int, help="CPU threads (default: torch's)")
    p.add_argument("--batch", type=int, help="also time this batch size (batch 1 always)")
    p.add_argument("--persons", type=int, default=1000, help="persons timed per batch size")
    p.add_argument("--warmup", type=int, default=3, help="untimed batches first")
    p.add_argument("--format", choices=["json", "text"], default="text")
    p.add_argument("--out", type=Path, help="also write the JSON record to this file")
    p.set_defaults(func=cmd_speed)

    p = add("bench-train", help="training throughput (images/s) and data-wait fraction")
    p.add_argument("name", metavar="MODEL",
                   help="a model (paper size, its first experiment's recipe) or an experiment "
                        "(as it trains at the scale: model, input, per-GPU batch, recipe)")
    scale_arg(p)
    p.add_argument("--input", help="H x W (default: the experiment's or the paper's)")
    p.add_argument("--batch", type=int,
                   help="per-device batch (default: the recipe's total batch / the gpus)")
    p.add_argument("--workers", type=int, help="loader worker processes (default: the scale's)")
    p.add_argument("--device", choices=["cpu", "cuda"], help="default: the scale's")
    p.add_argument("--precision", choices=["fp32", "bf16"], help="default: the recipe's")
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction,
                   help="NHWC model and inputs (default: the recipe's)")
    p.add_argument("--steps", type=int, default=20, help="timed training steps")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps first")
    p.add_argument("--format", choices=["json", "text"], default="text")
    p.add_argument("--out", type=Path, help="also write the JSON record to this file")
    p.set_defaults(func=cmd_bench_train)

    p = add("bench-data", help="training data throughput (samples/s per core), no model")
    p.add_argument("name", metavar="EXPERIMENT_OR_RECIPE",
                   help="an experiment (its training set and input at the scale) or a recipe "
                        "(the first experiment using it, at its paper input size)")
    scale_arg(p)
    p.add_argument("--input", help="H x W (default: the experiment's)")
    p.add_argument("--workers", type=int, default=0,
                   help="loader worker processes (default 0: in this process, one thread); "
                        "per core = samples/s / max(workers, 1)")
    p.add_argument("--samples", type=int, default=512, help="timed samples per run")
    p.add_argument("--batch", type=int, help="collation batch (default: the recipe's per GPU)")
    p.add_argument("--repeat", type=int, default=3, help="runs; the median is reported")
    p.add_argument("--images", type=Path, help="COCO-format image folder instead of the "
                   "experiment's training set (with --annotations)")
    p.add_argument("--annotations", type=Path, help="its COCO keypoints annotation file")
    p.add_argument("--decode-cache", type=Path, metavar="DIR",
                   help="decode each image once into DIR (uncompressed, filled before the "
                        "timing: a training's state after its first epoch); same pixels")
    p.add_argument("--compare-with", metavar="REV",
                   help="also time this commit's implementation (a git worktree) on the same "
                        "samples, alternating; prints both, their ratio and the samples' "
                        "differences")
    p.add_argument("--format", choices=["json", "text"], default="text")
    p.add_argument("--out", type=Path, help="also write the JSON record to this file")
    p.set_defaults(func=cmd_bench_data)

    p = add("table", help="write one paper table (paper beside reproduced)")
    p.add_argument("table")
    scale_arg(p)
    p.set_defaults(func=cmd_table)

    p = add("report", help="write reports/index.md with plots and provenance")
    scale_arg(p)
    p.set_defaults(func=cmd_report)

    p = add("figures", help="redraw the papers' own figures (params/figures.yaml) from the runs "
            "into reports/plots/ (the report stage draws them too)")
    scale_arg(p)
    p.set_defaults(func=cmd_figures)

    p = add("plan", help="before submitting: GPU-hours per paper, the wall clock on the site's "
            "GPUs, and trainings longer than the time limit allows")
    p.add_argument("--scale", default="full", help="scale preset (default: full)")
    p.add_argument("--paper", help="one paper only (its tables' name prefix, e.g. dnanet)")
    p.add_argument("--gpus", type=int,
                   help="GPUs the wall clock is scheduled on (default: the GPU partition's per "
                        "node)")
    p.add_argument("--site", type=Path, default=Path("slurm/config.yaml"),
                   help="the Slurm profile holding the site block")
    p.add_argument("--runs", type=Path, default=Path("runs"),
                   help="where bench.json and the complexity records are read")
    p.add_argument("--format", choices=["json", "text"], default="text")
    p.set_defaults(func=cmd_plan)

    p = add("use-scale", help="rewrite params/pipeline.yaml for a scale (what dvc repro runs)")
    p.add_argument("name", metavar="SCALE", help="scale preset in params/scales.yaml")
    p.add_argument("--dataset", help="which of the scale's datasets the run covers (full: coco, "
                   "the default, or mpii)")
    p.set_defaults(func=cmd_use_scale)

    p = add("restore-mtimes", help="after `dvc pull` / `dvc checkout`: date each up-to-date DVC "
            "stage's outputs after its dependencies, so Snakemake re-runs only what changed")
    p.add_argument("--root", type=Path, default=Path(), help="the DVC project (default: here)")
    p.set_defaults(func=cmd_restore_mtimes)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from pose.engine.preemption import TrainingPreempted

    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv  # re-used by a command that starts itself again (torchrun)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        if args.claim_gpus:
            from pose.engine.gpu_claim import claim_gpus

            claim_gpus(args.claim_gpus)
        args.func(args)
    except PoseError as err:  # one raised in a loader worker: its message, not its traceback
        print(f"pose {args.command}: error: {error_message(err)}", file=sys.stderr)
        return 2
    except TrainingPreempted as stop:  # checkpoint written: the scheduler requeues the job
        print(f"pose {args.command}: {stop}", file=sys.stderr)
        return stop.exit_status
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
