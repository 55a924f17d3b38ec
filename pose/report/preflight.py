"""The report's Preflight section: one row per experiment of a check scale, ran or failed, with
the resources its full-scale run will need and whether one step fits the site's GPUs.

The site's GPU memory is declared in the Slurm profile (`slurm/config.yaml`, `site:
gpu_memory_gb`); without one, DEFAULT_GPU_MEMORY_GB is assumed and the section says so.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from pose.config import Registry
from pose.engine.memory import FIT_MARGIN, FIT_RESERVE_GB, fits
from pose.errors import ConfigError
from pose.io import write_json
from pose.preflight import RESOURCES, read_resources

DEFAULT_GPU_MEMORY_GB = 80.0
PROFILE = Path("slurm") / "config.yaml"
PREFLIGHT_JSON = "preflight.json"  # beside the index: the section's numbers


def site_gpu_memory_gb(profile: Path) -> tuple[float, str]:
    """The GPU memory the site declares, and where the figure comes from."""
    if not profile.is_file():
        return DEFAULT_GPU_MEMORY_GB, f"default ({profile} not found)"
    try:
        data = yaml.safe_load(profile.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"{profile}: not readable YAML ({err})") from err
    site = data.get("site") if isinstance(data, dict) else None
    value = site.get("gpu_memory_gb") if isinstance(site, dict) else None
    if value is None:
        return DEFAULT_GPU_MEMORY_GB, f"default ({profile} sets no site.gpu_memory_gb)"
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigError(f"{profile}: site.gpu_memory_gb should be a positive number of GB, "
                          f"got {value!r}")
    return float(value), f"{profile} site.gpu_memory_gb"


def preflight_rows(registry: Registry, scale: str, runs_dir: Path, gpu_memory_gb: float
                   ) -> list[dict]:
    rows = []
    for name in registry.trained_experiments(scale, _any_stand_in(registry, scale)):
        data = read_resources(Path(runs_dir) / scale / name / RESOURCES)
        memory = (data or {}).get("gpu_memory") or {}
        total = memory.get("total_gb")
        rows.append({
            "experiment": name,
            "status": "not run" if data is None else data["status"],
            "failed_stage": (data or {}).get("failed_stage"),
            "error": (data or {}).get("error"),
            "dataset": (data or {}).get("dataset"),
            "processes": (data or {}).get("processes"),
            "pretrained": ((data or {}).get("pretrained") or {}).get("status"),
            "steps": (data or {}).get("steps"),
            "mean_step_seconds": (data or {}).get("mean_step_seconds"),
            "peak_host_gb": None if data is None else data.get("peak_host_mb", 0) / 1024,
            "per_gpu_batch": memory.get("per_gpu_batch"),
            "gpus": memory.get("gpus"),
            "gpu_memory_gb": total,
            "fits": None if total is None else fits(total, gpu_memory_gb),
        })
    return rows


def _any_stand_in(registry: Registry, scale: str) -> str | None:
    """Every experiment is listed whatever the dataset (a stand-in selects them all)."""
    stand_ins = registry.scale(scale).stand_ins
    return stand_ins[0] if stand_ins else None


def _num(value: float | None, digits: int) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _status_cell(row: dict) -> str:
    if row["status"] == "failed":
        error = (row["error"] or "").replace("|", "\\|")
        return f"**failed** in {row['failed_stage']}: {error}"
    return row["status"]


def _init_cell(row: dict) -> str:
    return {"loaded": "loaded", "not present": "skipped (file not present)",
            "none": "none (from scratch)"}.get(row["pretrained"] or "", "—")


def _fits_cell(row: dict) -> str:
    return "—" if row["fits"] is None else ("yes" if row["fits"] else "**no**")


def render_preflight(rows: list[dict], gpu_memory_gb: float, source: str, numbers: str,
                     plot: str | None = None) -> str:
    ran = sum(r["status"] == "ran" for r in rows)
    failed = [r["experiment"] for r in rows if r["status"] == "failed"]
    not_run = [r["experiment"] for r in rows if r["status"] == "not run"]
    too_big = [r["experiment"] for r in rows if r["fits"] is False]
    lines = [
        "## Preflight",
        "",
        f"{ran} of {len(rows)} experiments ran at paper size (model, input, recipe and test "
        "protocol) for a few optimiser steps and were evaluated"
        + (f"; **failed: {', '.join(f'`{e}`' for e in failed)}**." if failed
           else "; none failed.")
        + (f" Not run yet (another dataset's run, or stopped): "
           f"{', '.join(f'`{e}`' for e in not_run)}." if not_run else ""),
        f"Estimated GPU memory of one training step at the paper's per-GPU batch (the recipe's "
        f"total batch over the experiment's GPUs): parameters, gradients and optimiser state "
        f"after a real step, plus the activations saved for backward measured on the CPU "
        f"(`torch.autograd.graph.saved_tensors_hooks`, one count per storage) scaled from the "
        f"measured batch, plus DistributedDataParallel's gradient buckets on several GPUs. "
        f"It fits when the estimate plus {FIT_MARGIN:.0%} and {FIT_RESERVE_GB:g} GB (CUDA "
        f"context, cuDNN workspaces, fragmentation) is within the site's {gpu_memory_gb:g} GB "
        f"per GPU ({source})"
        + (f"; **does not fit: {', '.join(f'`{e}`' for e in too_big)}**." if too_big else "."),
        "",
        *([f"![Estimated GPU memory per experiment against the site's]({plot})", ""] if plot
          else []),
        "| Experiment | Preflight | Processes | ImageNet init | Steps | s / step | Peak host GB "
        "| GPUs × batch | Est. GPU GB | Fits |",
        "|:--|:--|--:|:--|--:|--:|--:|--:|--:|:--|",
    ]
    for r in rows:
        batch = "—" if r["per_gpu_batch"] is None else f"{r['gpus']} × {r['per_gpu_batch']}"
        lines.append(
            f"| `{r['experiment']}` | {_status_cell(r)} | {r['processes'] or '—'} | "
            f"{_init_cell(r)} | {r['steps'] if r['steps'] is not None else '—'} | "
            f"{_num(r['mean_step_seconds'], 2)} | {_num(r['peak_host_gb'], 2)} | {batch} | "
            f"{_num(r['gpu_memory_gb'], 1)} | {_fits_cell(r)} |")
    lines += ["", f"Numbers: [{numbers}]({numbers})", ""]
    return "\n".join(lines)


def preflight_section(registry: Registry, scale: str, runs_dir: Path, out: Path,
                      profile: Path, plots_dir: Path) -> str:
    """Write preflight.json beside the index and the memory plot; return the section's
    Markdown."""
    from pose.report.preflight_plot import plot_memory

    gpu_memory_gb, source = site_gpu_memory_gb(profile)
    rows = preflight_rows(registry, scale, runs_dir, gpu_memory_gb)
    write_json(out.parent / PREFLIGHT_JSON, {"scale": scale, "gpu_memory_gb": gpu_memory_gb,
                                             "gpu_memory_source": source, "rows": rows})
    png = plot_memory(rows, gpu_memory_gb, plots_dir)[0]
    plot = Path(os.path.relpath(png, out.parent)).as_posix()
    return render_preflight(rows, gpu_memory_gb, source, PREFLIGHT_JSON, plot)
