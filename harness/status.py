"""``stilts status``: where each stage of an experiment stands, from the stage store, the job state
files the workers write (``runs/jobs/<stage>.status.json``) and at most one ``squeue`` call (never
``sacct`` per job)."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from harness.planning import BLOCKED, CACHED, StagePlan
from harness.worker import read_status

#: Stage states, in the order the table shows them.
STATES = ("done", "running", "pending", "failed", "not started", "blocked")
#: Slurm queue states of a job still waiting or running.
QUEUE_WAITING = {"PENDING", "REQUEUED", "CONFIGURING", "SUSPENDED"}
QUEUE_RUNNING = {"RUNNING", "COMPLETING", "RESIZING"}


@dataclass
class StageStatus:
    """One stage: its state, and where a worker left word of it (job id, log, error)."""

    id: str
    kind: str
    task: str
    detail: str
    state: str
    job_id: str | None = None
    log: str | None = None
    error: str | None = None


def squeue_states(job_ids: list[str]) -> dict[str, str] | None:
    """Queue state of the jobs (array tasks as ``ARRAY_TASK``) still in the Slurm queue, from one
    ``squeue`` call; None where there is no ``squeue``."""
    if shutil.which("squeue") is None:
        return None
    arrays = sorted({job_id.split("_")[0] for job_id in job_ids})
    if not arrays:
        return {}
    done = subprocess.run(
        ["squeue", "-h", "-r", "-o", "%i|%T", "-j", ",".join(arrays)], capture_output=True, text=True, timeout=60
    )
    states = {}
    for line in done.stdout.splitlines():
        job_id, _, state = line.partition("|")
        states[job_id.strip()] = state.strip()
    return states


def stage_states(plan: StagePlan, runs_dir: Path) -> list[StageStatus]:
    """The state of every stage of ``plan``: ``done`` (in the store), ``blocked`` (an input is
    missing), else what its worker recorded, checked against the queue for Slurm jobs (a job
    recorded as submitted or running but no longer queued died without saying so: ``failed``)."""
    jobs = Path(runs_dir) / "jobs"
    out: list[StageStatus] = []
    recorded = {}
    for node in plan.nodes.values():
        if node.state == CACHED:
            out.append(StageStatus(node.id, node.kind, node.task, node.detail, "done"))
            continue
        if node.state == BLOCKED:
            out.append(StageStatus(node.id, node.kind, node.task, node.detail, "blocked", error=node.reason))
            continue
        status = read_status(jobs / f"{node.id}.json")
        recorded[node.id] = status
        state = {"submitted": "pending", "running": "running", "failed": "failed", "done": "done"}.get(
            status.get("state", ""), "not started"
        )
        local_log = jobs / f"{node.id}.log"
        log = status.get("log") or (str(local_log) if local_log.is_file() else None)
        out.append(
            StageStatus(
                node.id, node.kind, node.task, node.detail, state, status.get("job_id"), log, status.get("error")
            )
        )
    slurm = [s for s in out if s.job_id and recorded.get(s.id, {}).get("executor") == "slurm"]
    waiting = [s for s in slurm if s.state in ("pending", "running")]
    queue = squeue_states([s.job_id for s in waiting if s.job_id]) if waiting else {}
    if queue is not None:
        for stage in waiting:
            found = queue.get(stage.job_id or "")
            if found in QUEUE_WAITING:
                stage.state = "pending"
            elif found in QUEUE_RUNNING:
                stage.state = "running"
            elif found is None:
                stage.state = "failed"
                stage.error = stage.error or "its Slurm job left the queue without finishing the stage (see its log)"
    return out


def state_counts(stages: list[StageStatus]) -> dict[str, dict[str, int]]:
    """For each stage kind, how many stages are in each state."""
    counts: dict[str, dict[str, int]] = {}
    for stage in stages:
        row = counts.setdefault(stage.kind, dict.fromkeys(STATES, 0))
        row[stage.state] += 1
    return counts
