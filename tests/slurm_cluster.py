"""Find the one-node Slurm cluster that ``.ci/slurm-up`` starts, for tests that submit real jobs (via submitit).

``.ci/slurm-up`` (root, Debian) installs Slurm, slurmdbd, munge and MariaDB when missing, starts them with all state in
``$STILTS_SLURM_DIR`` (default ``/tmp/stilts-slurm``) and prints ``export SLURM_CONF=...``; ``.ci/slurm-down`` stops
it. The cluster has one partition, :data:`PARTITION`, with job accounting, so ``sacct`` and submitit's ``job.state``
report real states.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

PARTITION = "debug"
"""The partition ``.ci/slurm-up`` configures (the default one, no time limit)."""

DEFAULT_STATE_DIR = Path(os.environ.get("STILTS_SLURM_DIR", "/tmp/stilts-slurm"))
"""Where ``.ci/slurm-up`` writes its config, state and logs."""

_READY_STATES = {"idle", "mix", "mixed", "alloc", "allocated"}


def _candidate_conf() -> Path | None:
    """``$SLURM_CONF`` when it names a file, else the default state folder's ``slurm.conf`` when it exists."""
    env = os.environ.get("SLURM_CONF")
    if env and Path(env).is_file():
        return Path(env)
    default = DEFAULT_STATE_DIR / "slurm.conf"
    return default if default.is_file() else None


def slurm_conf(timeout: float = 5.0) -> Path | None:
    """The ``SLURM_CONF`` of a reachable cluster with a usable node, or ``None``.

    A cluster counts as reachable when a config is found (``$SLURM_CONF``, else ``$STILTS_SLURM_DIR/slurm.conf``) and
    ``sinfo -h -o %t`` answers within ``timeout`` seconds with a node that is idle, mixed or allocated.
    """
    conf = _candidate_conf()
    if conf is None or shutil.which("sinfo") is None:
        return None
    try:
        out = subprocess.run(
            ["sinfo", "-h", "-o", "%t"],
            env={**os.environ, "SLURM_CONF": str(conf)},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    states = {line.strip().rstrip("*~#$@^-") for line in out.stdout.splitlines()}
    return conf if states & _READY_STATES else None


def require_slurm() -> Path:
    """Skip the calling test unless a Slurm cluster is reachable; otherwise export ``SLURM_CONF`` and return it."""
    conf = slurm_conf()
    if conf is None:
        pytest.skip(
            "no reachable Slurm cluster (SLURM_CONF unset or its node not idle): run .ci/slurm-up (as root) to start "
            "a one-node Slurm cluster with accounting, then export the SLURM_CONF it prints"
        )
    os.environ["SLURM_CONF"] = str(conf)
    return conf
