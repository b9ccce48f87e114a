"""Importing harness, loading plugins and `stilts --help` must not import torch."""

from __future__ import annotations

import subprocess
import sys


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_import_harness_and_listing_tasks_does_not_import_torch() -> None:
    code = (
        "import sys, harness, harness.cli\n"
        "from harness.plugins import load_plugins\n"
        "from harness.registry import Catalog\n"
        "c = Catalog(load_plugins()); assert 'xnli' in c.tasks; c.task_type('retrieval'); c.metric('accuracy')\n"
        "heavy = [m for m in ('torch', 'transformers', 'datasets') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr


def test_cli_help_does_not_import_torch() -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from harness.cli import app\n"
        "r = CliRunner().invoke(app, ['--help'])\n"
        "assert r.exit_code == 0 and 'run' in r.output, r.output\n"
        "assert 'torch' not in sys.modules\n"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr
