"""The ``local`` executor: stages in worker processes on this machine (and the registration of
the built-in executors)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from harness import hookimpl
from harness.executors import ExecutionSession, Executor
from harness.interfaces import Entry
from harness.planning import CACHED


@dataclass
class _Running:
    node: str
    process: subprocess.Popen[bytes]
    slot: int
    log: Path
    started: float


class LocalExecutor(Executor):
    """Builds stages in worker processes on this machine: at most ``--jobs`` at once, a fresh
    process per stage (``python -m harness.worker JOB``, so GPU memory is released), each with its
    slot's environment set before torch is imported (``--gpus 0,1``: ``CUDA_VISIBLE_DEVICES``, one
    GPU per running stage; a CPU thread budget of ``OMP_NUM_THREADS``). A failed stage is recorded
    with its log and the stages that do not depend on it go on."""

    poll_seconds = 0.2

    def slot_environment(self, session: ExecutionSession, slot: int) -> dict[str, str]:
        """The environment variables of worker slot ``slot``."""
        options = session.options
        slots = len(options.gpus) if options.gpus else max(1, options.jobs)
        threads = options.threads or max(1, (os.cpu_count() or 1) // slots)
        env = {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), "STILTS_WORKER_SLOT": str(slot)}
        if options.gpus:
            env["CUDA_VISIBLE_DEVICES"] = options.gpus[slot]
        return env

    def execute(self, session: ExecutionSession) -> None:
        plan, ctx = session.plan, session.ctx
        slots = len(session.options.gpus) if session.options.gpus else max(1, session.options.jobs)
        for node in plan.nodes.values():
            if node.state == CACHED:
                session.runner.reuse(plan, node.id)
        session.write_finished_cells()
        waiting = [node.id for node in plan.to_run()]
        running: dict[int, _Running] = {}
        while waiting or running:
            for node_id in list(waiting):
                failed = session.blocked_by_failure(node_id)
                if failed is not None:
                    waiting.remove(node_id)
                    session.fail(node_id, f"not built: the stage it starts from ({failed}) failed")
            free = [slot for slot in range(slots) if slot not in running]
            for node_id in [n for n in waiting if session.ready(n)][: len(free)]:
                waiting.remove(node_id)
                slot = free.pop(0)
                running[slot] = self.launch(session, node_id, slot)
            if not running:
                break
            time.sleep(self.poll_seconds)
            for slot, job in list(running.items()):
                code = job.process.poll()
                if code is None:
                    continue
                del running[slot]
                if code == 0:
                    session.built.add(job.node)
                    session.runner.reuse(plan, job.node)  # reports the built stage and its score
                    session.write_finished_cells()
                else:
                    session.fail(job.node, f"worker exited with status {code}; see {job.log}", job.log)
        ctx.reporter.message(f"local executor: {len(session.built)} stage(s) built, {len(session.failed)} failed")

    def launch(self, session: ExecutionSession, node_id: str, slot: int) -> _Running:
        node = session.plan.nodes[node_id]
        job = session.job_file(node_id)
        log = job.with_suffix(".log")
        env = {**os.environ, **self.slot_environment(session, slot)}
        session.ctx.reporter.stage_started(kind=node.kind, task=node.task, hash=node_id, detail=node.detail, log=log)
        with open(log, "ab") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "harness.worker", str(job)], stdout=out, stderr=subprocess.STDOUT, env=env
            )
        return _Running(node_id, process, slot, log, time.monotonic())


@hookimpl
def stilts_executors() -> list[Entry]:
    return [
        Entry("inline", "harness.executors:InlineExecutor", "every stage in this process, cell after cell"),
        Entry("local", LocalExecutor, "worker processes on this machine (--jobs N, --gpus 0,1)"),
    ]
