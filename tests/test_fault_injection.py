"""Kill a tiny training run at every interesting point and resume it: the final weights and
scores must equal an uninterrupted run's bit for bit.

A kill is simulated in-process by raising :class:`Killed` (a ``BaseException``, so no
``except Exception`` swallows it) at the entry of a chosen call; a kill while
``trainer_state.json`` is being written leaves that file torn (0 bytes), as ``kill -9`` would.
The kill points cover every training step, every dev evaluation (including the one right
after a checkpoint of an epoch's last step), every checkpoint write, its completion marker, the
pruning of older checkpoints, the selection-state write, the saving of the stage's model and
the rename that completes the stage.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import make_pipeline, write_json


class Killed(BaseException):
    """The process died here."""


def _torn_save_to_json(real: Callable[..., Any]) -> Callable[..., Any]:
    def torn(self: Any, json_path: str) -> None:
        Path(json_path).write_bytes(b"")  # the file exists but is empty: what kill -9 leaves
        raise Killed("while writing trainer_state.json")

    return torn


def kill_points() -> list[tuple[Any, str, Callable[..., bool] | None]]:
    """(owner, attribute, filter of the call's arguments) for every call a kill may precede."""
    from transformers import Trainer
    from transformers.trainer_callback import TrainerState

    import harness.stages
    import harness.train
    from plugins.adapters.hf import HuggingFaceAdapter

    return [
        (Trainer, "training_step", None),
        (harness.train.DevSelection, "_select", None),
        (harness.train, "write_json_atomic", None),  # the best weights are written, the history not yet
        (TrainerState, "save_to_json", None),  # torn checkpoint
        (harness.train, "mark_complete", None),  # checkpoint written, not yet marked complete
        (harness.train, "keep_only", None),  # marked, older checkpoints not yet deleted
        (HuggingFaceAdapter, "save", None),  # training finished, the stage's model not yet saved
        (harness.stages.os, "replace", lambda src, dst: str(src).endswith(".partial")),  # stage complete, not renamed
    ]


@contextmanager
def faults(kill_at: int | None) -> Iterator[list[str]]:
    """Count calls to the kill points; raise :class:`Killed` at the ``kill_at``-th (1-based)."""
    events: list[str] = []
    patched: list[tuple[Any, str, Any]] = []
    for owner, name, accept in kill_points():
        real = getattr(owner, name)
        label = f"{getattr(owner, '__name__', owner)}.{name}"

        def wrapper(*args: Any, _real: Any = real, _label: str = label, _accept: Any = accept, **kwargs: Any) -> Any:
            if _accept is None or _accept(*args[-2:]):
                events.append(_label)
                if len(events) == kill_at:
                    if _label.endswith("save_to_json"):
                        return _torn_save_to_json(_real)(*args, **kwargs)
                    raise Killed(_label)
            return _real(*args, **kwargs)

        setattr(owner, name, wrapper)
        patched.append((owner, name, real))
    try:
        yield events
    finally:
        for owner, name, real in reversed(patched):
            setattr(owner, name, real)


def experiment(tmp_path: Path, model_dir: Path) -> Path:
    """One target stage, 2 epochs x 3 steps; a checkpoint every 3 steps lands exactly on each
    epoch's last step (the boundary that used to lose an evaluation on resume)."""
    return write_json(
        tmp_path / "fault.json",
        {
            "name": "fault",
            "model": {"id": str(model_dir), "label": "tiny-bert"},
            "intermediate": ["none"],
            "targets": [{"task": "qs-paws", "languages": ["en", "de"]}],
            "training": {
                "epochs": 2,
                "batch_size": 16,
                "learning_rate": 1e-3,
                "max_length": 48,
                "checkpoint_every": 3,
                "max_train_examples": 48,
                "max_eval_examples": 24,
                "precision": "fp32",
            },
        },
    )


def outcome(result: Path) -> tuple[bytes, dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    data = json.loads(result.read_text())
    folder = Path(data["stages"][0]["path"])
    report = json.loads((folder / "report.json").read_text())["report"]
    return (folder / "model" / "model.safetensors").read_bytes(), data["languages"], data["dev"], report["dev_scores"]


def test_killed_anywhere_then_resumed_equals_an_uninterrupted_run(
    catalog, tiny_model_dir: Path, tmp_path: Path
) -> None:
    exp = experiment(tmp_path, tiny_model_dir)
    with faults(None) as events:
        [reference] = make_pipeline(catalog, exp, tmp_path / "ref").run()
    expected = outcome(reference)
    assert len(expected[3]) == 2  # one evaluation per epoch
    points = list(range(1, len(events) + 1))
    identical = 0
    for kill_at in points:
        folder = tmp_path / f"kill-{kill_at}"
        with faults(kill_at), pytest.raises(Killed):
            make_pipeline(catalog, exp, folder).run()
        [resumed] = make_pipeline(catalog, exp, folder).run()
        assert outcome(resumed) == expected, f"kill at event {kill_at} ({events[kill_at - 1]}) changed the outcome"
        identical += 1
    print(
        f"\nfault injection: {len(points)} kill points, {identical} resumed runs bit-identical "
        f"(events: {', '.join(sorted(set(events)))})"
    )
    assert identical == len(points) and len(points) >= 20


def test_a_torn_checkpoint_is_skipped_and_the_previous_one_resumed(
    catalog, tiny_model_dir: Path, tmp_path: Path
) -> None:
    """Killed while checkpoint-6's trainer_state.json was written: the restart must not die on
    the empty JSON; it resumes from checkpoint-3 and discards the torn folder."""
    exp = experiment(tmp_path, tiny_model_dir)
    with faults(None) as events:
        make_pipeline(catalog, exp, tmp_path / "ref").run()
    second_state_write = [i for i, e in enumerate(events, 1) if e.endswith("save_to_json")][1]
    with faults(second_state_write), pytest.raises(Killed):
        make_pipeline(catalog, exp, tmp_path / "b").run()
    [partial] = (tmp_path / "b" / "runs" / "target").glob(".*.partial")
    torn = partial / "checkpoints" / "checkpoint-6" / "trainer_state.json"
    assert torn.is_file() and torn.stat().st_size == 0
    [resumed] = make_pipeline(catalog, exp, tmp_path / "b").run()
    report = json.loads((Path(json.loads(resumed.read_text())["stages"][0]["path"]) / "report.json").read_text())[
        "report"
    ]
    assert report["resumed_from_step"] == 3


def test_checkpoint_completeness_is_checked_file_by_file(tmp_path: Path) -> None:
    from harness.checkpoints import is_complete, last_complete_checkpoint, mark_complete

    old, new = tmp_path / "checkpoint-3", tmp_path / "checkpoint-6"
    for folder in (old, new):
        folder.mkdir()
        (folder / "model.safetensors").write_bytes(b"x" * 10)
    mark_complete(old)
    mark_complete(new)
    assert is_complete(new) and last_complete_checkpoint(tmp_path) == new
    (new / "model.safetensors").write_bytes(b"x" * 4)  # truncated after the marker was written
    assert not is_complete(new)
    assert last_complete_checkpoint(tmp_path) == old and not new.exists()
    (old / "optimizer.pt").write_bytes(b"")  # a file the marker does not know
    assert last_complete_checkpoint(tmp_path) is None
    assert os.listdir(tmp_path) == []
