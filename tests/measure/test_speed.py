"""Inference speed (persons per second), DANet Sec. IV-B: the record, its units, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from pose.cli import main
from pose.errors import ConfigError
from pose.measure.speed import measure_speed, speed_lines
from pose.models import load_model_specs

ROOT = Path(__file__).resolve().parents[2]
SPECS = load_model_specs(ROOT / "params" / "models.yaml")
FIELDS = {"model", "input", "device", "threads", "cpu_count", "cpu", "torch", "persons", "batches"}


def test_record_fields_units_and_threads() -> None:
    before = torch.get_num_threads()
    record = measure_speed(SPECS["hrnet_w16"], "hrnet_w16", (64, 48), threads=1, batch=3,
                           persons=4, warmup=1)
    assert set(record) >= FIELDS
    assert record["threads"] == 1 and record["device"] == "cpu" and record["input"] == "64x48"
    assert torch.get_num_threads() == before  # the caller's thread count is restored
    assert [run["batch"] for run in record["batches"]] == [1, 3]
    # whole batches: 4 persons at batch 3 take 2 batches, 6 crops
    assert [run["persons_timed"] for run in record["batches"]] == [4, 6]
    for run in record["batches"]:
        assert run["persons_per_s"] > 0
        assert run["ms_per_person"] == pytest.approx(1000.0 / run["persons_per_s"])
        assert run["seconds"] == pytest.approx(run["persons_timed"] / run["persons_per_s"])
    lines = speed_lines(record)
    assert len(lines) == 2 and "batch 3" in lines[1] and "persons/s" in lines[1]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown without CUDA")
def test_cuda_without_cuda_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="CUDA is not available"):
        measure_speed(SPECS["hrnet_w16"], "hrnet_w16", (64, 48), device="cuda", persons=1)


def test_bad_counts_are_clear_errors() -> None:
    for kwargs, key in (({"threads": 0}, "--threads"), ({"batch": 0}, "--batch"),
                        ({"persons": 0}, "--persons"), ({"warmup": -1}, "--warmup")):
        with pytest.raises(ConfigError, match=key):
            measure_speed(SPECS["hrnet_w16"], "hrnet_w16", (64, 48), **kwargs)


def _cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["--params", str(ROOT / "params"), "speed", "hrnet_w16", "--no-progress", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_json_and_out_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_file = tmp_path / "speed" / "hrnet_w16.json"
    code, out, _ = _cli(["--input", "64x48", "--threads", "1", "--persons", "2", "--warmup", "0",
                         "--format", "json", "--out", str(out_file)], capsys)
    assert code == 0
    record = json.loads(out)
    assert record == json.loads(out_file.read_text())
    assert record["model"] == "hrnet_w16" and record["threads"] == 1
    assert record["batches"][0]["persons_timed"] == 2


def test_cli_errors(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _cli(["--input", "64"], capsys)
    assert code == 2 and out == "" and "--input" in err and "'64'" in err
    if not torch.cuda.is_available():
        code, out, err = _cli(["--device", "cuda", "--input", "64x48"], capsys)
        assert code == 2 and out == "" and "CUDA is not available" in err
    assert "Traceback" not in err
