"""The shared stage store (``stilts run --store URL``, :mod:`harness.shared_store`), against a real
S3 API — moto in server mode, started here as s3fs's own tests start it — and a local folder
(``pytest -m store``).

Checked: a pushed stage pulls back byte for byte and is checked like a local stage; a corrupt or
mismatched copy in the store is refused with one line and the stage is built instead; a push
killed with SIGKILL leaves nothing a reader accepts, and its stale lease is taken over; of several
writers of one key exactly one copy is published and the losers' uploads are gone; and a second
machine (a second ``runs/`` folder, the same store) runs an experiment with no stage built.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.progress import SilentReporter
from harness.shared_store import LEASE, PUBLISHED, UPLOADS, LocalBackend, SharedStore, open_backend
from harness.stage_files import MARKER
from harness.stages import StageKey, StageStore
from tests.helpers import make_pipeline

pytestmark = pytest.mark.store

BUCKET = "stilts-stages"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """moto's S3 server in a subprocess; yields its endpoint URL (the AWS_* variables point at it)."""
    pytest.importorskip("moto", reason="pip install 'moto[server]' (the [test] extra)")
    pytest.importorskip("s3fs", reason="pip install s3fs (the [test] extra)")
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1)
                break
            except OSError:
                time.sleep(0.05)
        else:
            pytest.fail("moto's S3 server did not start")
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture
def s3_env(s3_server: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """AWS variables for the moto server (credentials are moto's dummies), and a fresh bucket."""
    import s3fs

    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": s3_server,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    s3fs.S3FileSystem.clear_instance_cache()
    fs = s3fs.S3FileSystem()
    if fs.exists(BUCKET):
        fs.rm(BUCKET, recursive=True)
    fs.mkdir(BUCKET)
    return env


@pytest.fixture(params=["local", "s3"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "local":
        return str(tmp_path / "shared-store")
    request.getfixturevalue("s3_env")
    return f"s3://{BUCKET}/lab"


def finished_stage(runs: Path, kind: str = "intermediate", payload: bytes = b"weights" * 1000) -> tuple[StageKey, Path]:
    """A finished stage folder as :meth:`StageStore.build` leaves it (weights, a report, a marker)."""
    key = StageKey(kind, {"task": "mnli", "seed": 1, "payload": len(payload)})
    store = StageStore(runs)
    with store.build(key) as work:
        assert work is not None
        (work / "model").mkdir()
        (work / "model" / "model.safetensors").write_bytes(payload)
        (work / "report.json").write_text('{"loss": 0.5}', encoding="utf-8")
    return key, store.path(key)


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# -- the protocol ----------------------------------------------------------------------------------------
def test_a_pushed_stage_pulls_back_byte_for_byte_into_another_runs_folder(store_url: str, tmp_path: Path) -> None:
    key, folder = finished_stage(tmp_path / "machine-a")
    shared = SharedStore.open(store_url)
    assert shared.push(key.kind, key.hash, folder) == "pushed"
    assert shared.push(key.kind, key.hash, folder) == "already in the store"

    other = StageStore(tmp_path / "machine-b", SharedStore.open(store_url))
    with other.build(key) as work:
        assert work is None, "the stage is pulled, not built"
    assert other.path(key) in other.pulled and not other.store_notes
    assert files_of(other.path(key)) == files_of(folder)
    assert other.is_done(key)
    other.verify(key)  # every digest, the weights too


def test_a_corrupt_copy_in_the_store_is_refused_with_one_line_and_the_stage_is_built(
    store_url: str, tmp_path: Path
) -> None:
    key, folder = finished_stage(tmp_path / "machine-a")
    shared = SharedStore.open(store_url)
    shared.push(key.kind, key.hash, folder)
    published = json.loads(shared.backend.read(f"{key.kind}/{key.hash}/{PUBLISHED}") or b"{}")
    weights = f"{key.kind}/{key.hash}/{UPLOADS}/{published['upload']}/model/model.safetensors"
    flipped = tmp_path / "flipped"
    flipped.write_bytes(b"X" + (folder / "model" / "model.safetensors").read_bytes()[1:])
    shared.backend.put(flipped, weights)  # the same size: only the digest tells

    other = StageStore(tmp_path / "machine-b", SharedStore.open(store_url))
    with other.build(key) as work:
        assert work is not None, "a corrupt copy is never used: the stage is built here"
        (work / "report.json").write_text("{}", encoding="utf-8")
    (line,) = other.store_notes
    assert "model/model.safetensors changed since the stage was built" in line and "it is built here" in line
    assert not list((tmp_path / "machine-b" / key.kind).glob(".*.pull-*")), "the pulled copy is dropped"


def test_a_published_marker_for_other_inputs_is_refused(store_url: str, tmp_path: Path) -> None:
    key, folder = finished_stage(tmp_path / "machine-a")
    shared = SharedStore.open(store_url)
    shared.push(key.kind, key.hash, folder)
    impostor = StageKey(key.kind, {**key.inputs, "seed": 2})
    raw = shared.backend.read(f"{key.kind}/{key.hash}/{PUBLISHED}")
    assert raw is not None
    upload = json.loads(raw)["upload"]
    for relative in files_of(folder):  # the whole stage copied under another key
        shared.backend.put(folder / relative, f"{impostor.kind}/{impostor.hash}/{UPLOADS}/{upload}/{relative}")
    shared.backend.create(f"{impostor.kind}/{impostor.hash}/{PUBLISHED}", raw)

    pulled = tmp_path / "pull"
    pulled.mkdir()
    problem = shared.pull(impostor.kind, impostor.hash, pulled)
    assert problem is not None and f"its marker names stage {key.kind}/{key.hash}" in problem
    other = StageStore(tmp_path / "machine-b", SharedStore.open(store_url))
    with other.build(impostor) as work:
        assert work is not None, "built, not taken from the copy"
    assert "its marker names stage" in other.store_notes[0]


KILLED_PUSH = """
import os, signal, sys
from pathlib import Path
from harness.shared_store import SharedStore
shared = SharedStore.open(sys.argv[1])
put = shared.backend.put
calls = []
def put_then_die(local, path):
    put(local, path)
    calls.append(path)
    if len(calls) == 1:
        os.kill(os.getpid(), signal.SIGKILL)
shared.backend.put = put_then_die
shared.push(sys.argv[2], sys.argv[3], Path(sys.argv[4]))
"""


def test_a_push_killed_midway_leaves_nothing_a_reader_accepts_and_its_stale_lease_is_taken_over(
    store_url: str, tmp_path: Path
) -> None:
    key, folder = finished_stage(tmp_path / "machine-a")
    done = subprocess.run(
        [sys.executable, "-c", KILLED_PUSH, store_url, key.kind, key.hash, str(folder)],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    shared = SharedStore.open(store_url)
    assert shared.published(key.kind, key.hash) is None
    assert shared.pull(key.kind, key.hash, tmp_path / "empty") == "not in the store"
    assert shared.backend.read(f"{key.kind}/{key.hash}/{LEASE}") is not None, "the dead writer's lease is left"
    assert shared.push(key.kind, key.hash, folder) == "another writer is pushing it"  # until it expires

    stale = json.loads(shared.backend.read(f"{key.kind}/{key.hash}/{LEASE}") or b"{}")
    later = SharedStore(open_backend(store_url), lease_s=0)
    stale["expires"] = time.time() - 1  # the dead writer's lease runs out
    shared.backend.delete(f"{key.kind}/{key.hash}/{LEASE}")
    shared.backend.create(f"{key.kind}/{key.hash}/{LEASE}", json.dumps(stale).encode())
    assert later.push(key.kind, key.hash, folder) == "pushed"
    published = later.published(key.kind, key.hash)
    assert published is not None and published["upload"] != stale["upload"]
    assert later.backend.read(f"{key.kind}/{key.hash}/{LEASE}") is None, "the lease is released"
    stale_file = f"{key.kind}/{key.hash}/{UPLOADS}/{stale['upload']}/model/model.safetensors"
    assert later.backend.read(stale_file) is None, "the dead writer's partial upload is deleted"
    pulled = tmp_path / "pulled"
    pulled.mkdir()
    assert later.pull(key.kind, key.hash, pulled) is None


def test_exclusive_creation_has_one_winner_among_concurrent_writers(store_url: str) -> None:
    backend = open_backend(store_url)
    results: dict[int, bool] = {}
    barrier = threading.Barrier(8)

    def create(i: int) -> None:
        barrier.wait()
        results[i] = backend.create("race/published.json", f"writer {i}".encode())

    threads = [threading.Thread(target=create, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [i for i, won in results.items() if won]
    assert len(winners) == 1
    assert backend.read("race/published.json") == f"writer {winners[0]}".encode()


def test_writers_racing_past_the_lease_leave_one_complete_copy(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two writers that both got past the lease (a clock skew, a lease on a store without exclusive
    creation): one publishes, the other deletes its own upload."""
    key, folder = finished_stage(tmp_path / "machine-a")
    first, second = SharedStore.open(store_url), SharedStore.open(store_url)
    monkeypatch.setattr(SharedStore, "_take_lease", lambda self, base, upload: True)
    put = second.backend.put
    uploads: list[str] = []

    def put_and_let_the_other_publish(local: Path, path: str) -> None:
        put(local, path)
        uploads.append(path)
        if len(uploads) == 1:
            assert first.push(key.kind, key.hash, folder) == "pushed"

    second.backend.put = put_and_let_the_other_publish  # type: ignore[method-assign]
    second.published = lambda kind, key_hash: None  # type: ignore[method-assign]  # it looked before the other
    assert second.push(key.kind, key.hash, folder) == "another writer published it first"
    assert first.backend.read(uploads[0]) is None, "the loser's upload is deleted"
    pulled = tmp_path / "pulled"
    pulled.mkdir()
    assert first.pull(key.kind, key.hash, pulled) is None


def test_a_local_store_publishes_with_link_and_fsync_never_by_overwriting(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path / "store")
    assert backend.create("a/published.json", b"one")
    assert not backend.create("a/published.json", b"two")
    assert backend.read("a/published.json") == b"one"
    assert sorted(p.name for p in (tmp_path / "store" / "a").iterdir()) == ["published.json"], "no temp files left"


# -- end to end: a second machine -----------------------------------------------------------------------
class StageRecorder(SilentReporter):
    def __init__(self) -> None:
        self.finished: list[tuple[str, bool, bool]] = []

    def stage_finished(self, *, kind: str, reused: bool, **kwargs: Any) -> None:  # type: ignore[override]
        self.finished.append((kind, reused, bool(kwargs.get("pulled"))))


def test_a_second_machine_with_the_same_store_runs_the_experiment_training_nothing(
    catalog, tiny_experiment: Path, store_url: str, tmp_path: Path
) -> None:
    first = StageRecorder()
    make_pipeline(catalog, tiny_experiment, tmp_path / "machine-a", store_url=store_url, reporter=first).run()
    assert any(not reused for _, reused, _ in first.finished)

    second = StageRecorder()
    pipeline = make_pipeline(catalog, tiny_experiment, tmp_path / "machine-b", store_url=store_url, reporter=second)
    paths = pipeline.run()
    built = [kind for kind, reused, _ in second.finished if not reused]
    assert built == [], f"stages built on the second machine: {built}"
    assert any(pulled for _, _, pulled in second.finished)
    assert not pipeline.ctx.store.store_notes
    results_a = sorted((tmp_path / "machine-a" / "results").rglob("*.json"))
    assert [p.name for p in results_a] == [p.name for p in sorted(paths)]
    for a, b in zip(results_a, sorted(paths)):
        assert json.loads(a.read_text())["languages"] == json.loads(b.read_text())["languages"]


def test_stilts_run_store_option_reaches_worker_processes(
    tiny_experiment: Path, store_url: str, tmp_path: Path, s3_env_or_none: dict[str, str]
) -> None:
    """`stilts run --store URL --executor local`: the worker processes push what they build."""
    env = {**os.environ, **s3_env_or_none}
    cmd = [str(Path(sys.executable).parent / "stilts"), "run", str(tiny_experiment), "--plain", "--quiet"]
    cmd += ["--runs-dir", str(tmp_path / "runs"), "--results-dir", str(tmp_path / "results"), "--store", store_url]
    cmd += ["--executor", "local", "--target", "qs-paws", "--intermediate", "none"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    shared = SharedStore.open(store_url)
    built = [m.parent for m in (tmp_path / "runs").glob(f"*/*/{MARKER}") if not m.parent.name.startswith(".")]
    assert built
    for folder in built:
        assert shared.published(folder.parent.name, folder.name) is not None, f"{folder} was not pushed"


@pytest.fixture
def s3_env_or_none(store_url: str, request: pytest.FixtureRequest) -> dict[str, str]:
    return request.getfixturevalue("s3_env") if store_url.startswith("s3://") else {}
