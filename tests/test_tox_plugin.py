"""The tox plugin in toxfile.py: experiment cells as tox environments, checked through `tox l` and `tox c`
(configuration commands only: no environment is created)."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

tox = pytest.importorskip("tox", reason="tox is not installed (pip install 'tox>=4.29')")
if tuple(int(part) for part in tox.__version__.split(".")[:2]) < (4, 29):
    pytest.skip(f"toxfile.py needs tox>=4.29 (tox_extend_envs), found {tox.__version__}", allow_module_level=True)

ROOT = Path(__file__).resolve().parent.parent

TOX_INI = """\
[tox]
env_list = py
stilts_experiments = demo.json

[testenv]
skip_install = true
set_env = FROM_BASE = yes
commands = python -c pass

[testenv:leaderboard]
depends = {[tox]stilts_envs}
commands = stilts leaderboard build {toxinidir}/stilts-out/results -o {toxinidir}/stilts-out/site
"""

DEMO = {
    "name": "demo",
    "model": {"id": "some/model"},
    "intermediate": ["none", {"name": "multi+mlm", "tasks": ["mnli", "qqp"], "mlm": True}],
    "targets": ["xnli", {"task": "tatoeba", "languages": ["de"]}],
    "seeds": [1, 2],
}
DEMO_ENVS = [
    f"demo-{intermediate}-{target}-s{seed}"
    for seed in (1, 2)
    for intermediate in ("none", "multi_mlm")
    for target in ("xnli", "tatoeba")
]


def run_tox(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m tox ARGS` on project/tox.ini, isolated from the caller's tox settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOX_", "_TOX"))}
    env["TOX_USER_CONFIG_FILE"] = str(project / "no-user-config.ini")
    command = [sys.executable, "-m", "tox", *args[:1], "-c", str(project / "tox.ini")]
    command += ["--workdir", str(project / ".tox"), *args[1:]]
    return subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, timeout=120)


def tox_config(project: Path, env: str, *args: str) -> dict:
    """One environment's configuration, from `tox c --format json`."""
    done = run_tox(project, "c", "-e", env, "--format", "json", "-k", "commands", "depends", "labels", "set_env", *args)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)["env"][env]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "toxfile.py", tmp_path / "toxfile.py")
    (tmp_path / "tox.ini").write_text(TOX_INI)
    (tmp_path / "demo.json").write_text(json.dumps(DEMO))
    return tmp_path


def listed_envs(output: str) -> list[str]:
    return [line.split(" -> ")[0].strip() for line in output.splitlines() if " -> " in line]


def test_tox_l_lists_one_environment_per_cell(project: Path) -> None:
    done = run_tox(project, "l")
    assert done.returncode == 0, done.stdout + done.stderr
    assert listed_envs(done.stdout) == ["py", "leaderboard", *DEMO_ENVS]
    assert "demo-multi_mlm-tatoeba-s2 -> stilts cell of demo: multi+mlm -> tatoeba, seed 2" in done.stdout
    labelled = run_tox(project, "l", "-m", "demo")
    assert listed_envs(labelled.stdout) == DEMO_ENVS


def test_cell_runs_one_cell_and_inherits_testenv(project: Path) -> None:
    conf = tox_config(project, "demo-multi_mlm-tatoeba-s2", "skip_install", "--", "--device", "cpu")
    [command] = conf["commands"]
    assert shlex.split(command) == [
        "stilts", "run", str(project / "demo.json"), "--intermediate", "multi+mlm", "--target", "tatoeba",
        "--seed", "2", "--runs-dir", f"{project}/stilts-out/runs", "--results-dir", f"{project}/stilts-out/results",
        "--device", "cpu",
    ]  # fmt: skip
    assert conf["labels"] == ["demo"]
    assert conf["set_env"]["FROM_BASE"] == "yes"
    assert conf["skip_install"] is True


def test_stilts_run_args_replace_the_default_directories(project: Path) -> None:
    ini = TOX_INI.replace("[testenv]", "stilts_run_args = --runs-dir {toxinidir}/cache --offline\n\n[testenv]")
    (project / "tox.ini").write_text(ini)
    [command] = tox_config(project, "demo-none-xnli-s1")["commands"]
    assert shlex.split(command)[-5:] == ["--seed", "1", "--runs-dir", f"{project}/cache", "--offline"]


def test_leaderboard_depends_on_every_cell(project: Path) -> None:
    assert tox_config(project, "leaderboard")["depends"] == DEMO_ENVS


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"name": "demo", "targets": ["xnli"', "demo.json: not a JSON experiment file"),
        ('["xnli"]', "demo.json: an experiment file holds a JSON object, got list"),
        ('{"name": "demo"}', "demo.json: 'targets' is missing"),
        ('{"name": "demo", "targets": ["xnli", {"languages": ["de"]}]}', "demo.json: targets[1] must be a name"),
        ('{"name": "demo", "targets": ["xnli"], "seeds": ["1"]}', "demo.json: 'seeds' must be a non-empty list"),
        ('{"name": "demo", "intermediate": ["a+b", "a_b"], "targets": ["x"]}', "a_b -> x, seed 1 would be tox"),
        (None, "stilts_experiments: cannot read"),
    ],
)
def test_a_bad_experiment_file_is_a_one_line_error(project: Path, content: str | None, message: str) -> None:
    if content is None:
        (project / "demo.json").unlink()
    else:
        (project / "demo.json").write_text(content)
    done = run_tox(project, "l")
    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert message in output, output
    assert "Traceback" not in output


def test_repository_tox_ini_lists_the_local_and_paper_cells(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOX_", "_TOX"))}
    env["TOX_USER_CONFIG_FILE"] = str(tmp_path / "none.ini")
    command = [sys.executable, "-m", "tox", "l", "-c", str(ROOT / "tox.ini"), "--workdir", str(tmp_path)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    names = listed_envs(done.stdout)
    cells = [f"{i}-{t}-s1" for i in ("none", "mnli") for t in ("xnli", "tatoeba")]
    assert names == [
        "py",
        "leaderboard",
        *(f"xstilts-local-{c}" for c in cells),
        *(f"xstilts-paper-{c}" for c in cells),
    ]
