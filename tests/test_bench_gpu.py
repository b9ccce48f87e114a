"""``bench/bench_gpu.py`` in its smoke mode on the CPU: both loops train, the figures are
consistent with each other, MFU follows the peak it is given, and no progress bar reaches the
output."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench" / "bench_gpu.py"


def bench_module():
    spec = importlib.util.spec_from_file_location("bench_gpu", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_gpu"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_model_flops_follow_kaplan_per_token_counts() -> None:
    bench = bench_module()
    shape = {"num_hidden_layers": 2, "hidden_size": 8}
    tokens, flops = bench.flops_of([[3, 5], [4]], parameters=100, shape=shape)
    assert tokens == 12
    # 6N per token plus 12 * layers * width * the batch's padded length per token
    assert flops == 8 * (600 + 12 * 2 * 8 * 5) + 4 * (600 + 12 * 2 * 8 * 4)


def test_the_xlmr_large_shape_is_560m_parameters() -> None:
    pytest.importorskip("transformers")
    from transformers import XLMRobertaConfig, XLMRobertaForSequenceClassification

    bench = bench_module()
    config = XLMRobertaConfig(vocab_size=250002, num_labels=3, **bench.XLMR_LARGE)
    with __import__("torch").device("meta"):
        model = XLMRobertaForSequenceClassification(config)
    total = sum(p.numel() for p in model.parameters())
    assert 559e6 < total < 561e6  # XLM-R Large: 560 M (Conneau et al. 2020, Table 7)


def test_smoke_mode_trains_both_loops_on_cpu_without_progress_bars() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--smoke", "--device", "cpu", "--peak-tflops", "2", "--json"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout)
    assert found["shape"] == "smoke" and found["attention"] == "sdpa"
    for loop in ("plain", "stilts"):
        row = found[loop]
        assert row["examples"] == 32 and row["examples_per_s"] > 0
        assert row["mfu"] == pytest.approx(row["model_tflops_per_s"] / 2)
    assert found["stilts_over_plain"] == pytest.approx(found["plain"]["seconds"] / found["stilts"]["seconds"])
    for text in (done.stdout, done.stderr):
        assert "it/s" not in text and "%|" not in text  # tqdm's bars
    table = subprocess.run(
        [sys.executable, str(BENCH), "--smoke", "--device", "cpu"], capture_output=True, text=True, timeout=600
    )
    assert table.returncode == 0, table.stderr[-3000:]
    assert "| stilts |" in table.stdout and "n/a" in table.stdout  # no peak known for a CPU: no MFU
