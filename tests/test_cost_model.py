"""The cost model's schedule (makespan on N devices, critical path) and its plan output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from harness.cost_model import critical_path, estimated_speed, list_schedule

STILTS = str(Path(sys.executable).parent / "stilts")


def test_a_chain_and_independent_stages_schedule_within_their_bounds() -> None:
    durations = {"i": 10.0, "t1": 5.0, "t2": 5.0, "e1": 1.0, "e2": 1.0, "x": 8.0}
    deps = {"i": [], "t1": ["i"], "t2": ["i"], "e1": ["t1"], "e2": ["t2"], "x": []}
    length, path = critical_path(durations, deps)
    assert length == 16.0 and path[0] == "i" and len(path) == 3
    assert list_schedule(durations, deps, 1) == sum(durations.values())
    two = list_schedule(durations, deps, 2)
    assert length <= two < sum(durations.values()) and two == 16.0
    assert list_schedule(durations, deps, 8) == length  # enough devices: the critical path


def test_estimates_scale_with_length_and_model_size() -> None:
    small = estimated_speed("h100", "pair_classification", 128, 100_000_000)
    large = estimated_speed("h100", "pair_classification", 256, 200_000_000)
    assert small is not None and large is not None and abs(small.train_per_s / large.train_per_s - 4) < 1e-9
    assert estimated_speed("some-tpu", "pair_classification", 128, 1) is None


def test_stilts_plan_prints_gpu_hours_makespan_and_critical_path(tmp_path: Path) -> None:
    done = subprocess.run(
        [STILTS, "plan", "--gpus", "2", "--device", "h100", "--runs-dir", str(tmp_path / "runs"), "--json"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    cost = json.loads(done.stdout)["cost"]
    assert cost["gpu_hours"] > 0 and cost["makespan_s"] >= cost["critical_path_s"] > 0
    assert not cost["stages_without_estimate"] and "estimate" in cost["speed_sources"][0]


def test_a_data_parallel_stage_takes_its_devices_while_it_runs() -> None:
    durations, deps = {"wide": 10.0, "b": 5.0, "c": 5.0}, {"wide": [], "b": [], "c": []}
    assert list_schedule(durations, deps, 2) == 10.0
    assert list_schedule(durations, deps, 2, {"wide": 2}) == 15.0  # b and c wait for both devices
    assert list_schedule(durations, deps, 3, {"wide": 2}) == 10.0  # one device stays free for b, then c
    assert list_schedule(durations, deps, 1, {"wide": 4}) == 20.0  # wider than the machine: all of it


def test_a_plan_whose_stages_are_all_blocked_says_its_cost_is_unknown(tmp_path: Path) -> None:
    empty = tmp_path / "no-data"
    empty.mkdir()
    done = subprocess.run(
        [STILTS, "plan", "examples/xstilts-mini.json", "--data-dir", str(empty), "--runs-dir", str(tmp_path / "runs"),
         "--device", "h100"],
        capture_output=True, text=True, timeout=300, cwd=Path(__file__).resolve().parents[1],
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    line = next(one for one in done.stdout.splitlines() if one.startswith("cost on"))
    assert "unknown" in line and "blocked stage(s) not costed" in line, line
    assert "GPU-hours" not in line  # never "0.0 GPU-hours" for a plan nothing of which can be costed
