"""A full disk ends a run with one line naming the path and the cause: no traceback (not even
logging's own), exit 2, and nothing half-written counted as done. On a real 1 MiB tmpfs where this
machine allows mounting one (root), and with an injected error everywhere."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture
def small_disk(tmp_path: Path):
    folder = tmp_path / "small-disk"
    folder.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=False)


def test_a_run_on_a_full_disk_says_so_in_one_line(small_disk: Path, tiny_experiment: Path, tmp_path: Path) -> None:
    stilts = str(Path(sys.executable).parent / "stilts")
    runs = small_disk / "runs"
    env = {**os.environ, "STILTS_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run(
        [stilts, "run", str(tiny_experiment), "--runs-dir", str(runs), "--results-dir", str(tmp_path / "results")],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "disk is full" in errors[0], done.stderr
    assert "Traceback" not in done.stderr and "Logging error" not in done.stderr
    assert not list(runs.glob("*/*/stage.json"))  # nothing half-written counts as done


def test_an_injected_disk_full_error_is_one_line_with_path_and_cause(monkeypatch, capsys) -> None:
    import harness.cli as cli

    def full(*args: object, **kwargs: object) -> None:
        try:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/data/runs/target/abc/model/model.safetensors")
        except OSError as exc:
            raise RuntimeError("saving the model failed") from exc

    monkeypatch.setattr(cli, "app", full)
    monkeypatch.delenv("STILTS_TRACEBACK", raising=False)
    with pytest.raises(SystemExit) as info:
        cli.main()
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "the disk is full writing /data/runs/target/abc/model/model.safetensors" in err.replace("\n", "")
    assert "No space left on device" in err and "Traceback" not in err
