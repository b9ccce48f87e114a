"""Errors keep their cause: a hub that answers 404 is not "unreachable", a hub that cannot be
reached is not "missing", a broken hub split is not "not cached", and a leaderboard that cannot be
written says why. The hub is a local HTTP server answering as the hub does (status and its
``X-Error-Code`` header), read through ``huggingface_hub`` itself."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from harness.errors import DataError, StiltsError
from harness.hub import HubError, UnpinnedError, hub_commit_online


class Hub404(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # http.server's name for the GET handler
        code = "RevisionNotFound" if "/revision/" in self.path else "RepoNotFound"
        body = b'{"error": "not found"}'
        self.send_response(404)
        self.send_header("X-Error-Code", code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def online(monkeypatch):
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)

    def at(endpoint: str) -> None:
        monkeypatch.setattr(constants, "ENDPOINT", endpoint)

    return at


def test_a_hub_404_says_the_repository_does_not_exist(online) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hub404)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        online(f"http://127.0.0.1:{server.server_port}")
        with pytest.raises(HubError) as info:
            hub_commit_online("model", "nobody/nothing", None)
        assert "does not exist on the hub" in str(info.value) and "unreachable" not in str(info.value)
        with pytest.raises(HubError, match="no such revision"):
            hub_commit_online("dataset", "nobody/nothing", "v9")
    finally:
        server.shutdown()


def test_an_unreachable_hub_says_so_with_its_cause(online) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    online(f"http://127.0.0.1:{port}")
    with pytest.raises(UnpinnedError) as info:
        hub_commit_online("model", "someone/model", None)
    (message,) = info.value.missing
    assert "unreachable" in message and "someone/model" in message


def test_a_broken_hub_split_is_an_error_with_its_cause_not_not_cached(monkeypatch) -> None:
    import datasets

    from harness.data import SourcePlan, hub_split_cached

    plan = SourcePlan(
        "t", "train", "en", "hub", hub={"dataset": "lab/x", "config": None, "split": "train", "commit": "a" * 40}
    )

    def broken(*args: object, **kwargs: object) -> None:
        raise ValueError("Couldn't cast array of type int64 to string")

    monkeypatch.setattr(datasets, "load_dataset", broken)
    with pytest.raises(DataError) as info:
        hub_split_cached(plan)
    assert "ValueError" in str(info.value) and "Couldn't cast" in str(info.value)

    def offline(*args: object, **kwargs: object) -> None:
        raise ConnectionError("Couldn't reach 'lab/x' on the Hub (OfflineModeIsEnabled)")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    assert hub_split_cached(plan) is False


def test_a_leaderboard_that_cannot_be_written_says_why(tmp_path: Path) -> None:
    from harness.leaderboard import build_site
    from tests.test_leaderboard import make_result, write_result

    write_result(tmp_path / "results", make_result())
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the site's parent folder should be", encoding="utf-8")
    with pytest.raises(StiltsError) as info:
        build_site(tmp_path / "results", blocker / "site")
    message = str(info.value)
    assert "cannot build the leaderboard" in message and "File exists" in message and str(blocker) in message
