"""The ``local`` executor: stages in worker processes on this machine (and the registration of
the built-in executors)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from harness import hookimpl
from harness.executors import JOBS, ExecutionSession, Executor
from harness.interfaces import Entry
from harness.planning import CACHED, TrainWork
from harness.worker import read_status, write_status


@dataclass
class _Running:
    nodes: list[str]
    job: Path
    process: subprocess.Popen[bytes]
    slot: int
    log: Path
    started: float


class LocalExecutor(Executor):
    """Builds stages in worker processes on this machine: at most ``--jobs`` at once, a fresh
    process per job (``python -m harness.worker JOB``, so GPU memory is released; a job is one
    stage, or the evaluations of one trained model that are ready together, which then share the
    loaded model: ``--evals-per-worker`` caps them), each with its
    slot's environment set before torch is imported (``--gpus 0,1``: ``CUDA_VISIBLE_DEVICES``, one
    GPU per running stage, or ``--gpus-per-stage K`` of them for a training stage run data-parallel
    by ``torchrun`` over K processes; a CPU thread budget of ``OMP_NUM_THREADS``). A failed stage is
    recorded with its log and the stages that do not depend on it go on."""

    poll_seconds = 0.2

    @staticmethod
    def slot_count(session: ExecutionSession) -> int:
        """How many stages run at once: one per ``--gpus-per-stage`` GPUs, else ``--jobs``."""
        options = session.options
        if options.gpus:
            return max(1, len(options.gpus) // options.gpus_per_stage)
        return max(1, options.jobs)

    def slot_environment(self, session: ExecutionSession, slot: int) -> dict[str, str]:
        """The environment variables of worker slot ``slot``: its GPUs, its CPU thread budget."""
        options = session.options
        processes = options.gpus_per_stage
        threads = options.threads or max(1, (os.cpu_count() or 1) // (self.slot_count(session) * processes))
        env = {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), "STILTS_WORKER_SLOT": str(slot)}
        if options.gpus:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(options.gpus[slot * processes : (slot + 1) * processes])
        return env

    def execute(self, session: ExecutionSession) -> None:
        plan, ctx = session.plan, session.ctx
        slots = self.slot_count(session)
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
            if free:
                for batch in session.worker_batches([n for n in waiting if session.ready(n)])[: len(free)]:
                    for node_id in batch:
                        waiting.remove(node_id)
                    slot = free.pop(0)
                    running[slot] = self.launch(session, batch, slot)
            if not running:
                break
            time.sleep(self.poll_seconds)
            for slot, job in list(running.items()):
                code = job.process.poll()
                if code is None:
                    continue
                del running[slot]
                for node_id in job.nodes:
                    status = read_status(job.job, node_id)
                    if status.get("state") == "done":
                        session.built.add(node_id)
                        session.runner.reuse(plan, node_id)  # reports the built stage and its score
                    else:
                        error = status.get("error") or f"worker exited with status {code}"
                        session.fail(node_id, f"{error}; see {job.log}", job.log)
                session.write_finished_cells()
        ctx.reporter.message(f"local executor: {len(session.built)} stage(s) built, {len(session.failed)} failed")

    def launch(self, session: ExecutionSession, node_ids: list[str], slot: int) -> _Running:
        """Start the worker of the stages ``node_ids`` (one job) in slot ``slot``."""
        log = session.ctx.store.root / JOBS / f"{node_ids[0]}.log"
        job = session.job_file(node_ids, log=log)
        env = {**os.environ, **self.slot_environment(session, slot)}
        for node_id in node_ids:
            write_status(
                job, node_id, executor="local", state="starting", started=None, error=None
            )  # not a stale "done"
            node = session.plan.nodes[node_id]
            session.ctx.reporter.stage_started(
                kind=node.kind, task=node.task, hash=node_id, detail=node.detail, log=log
            )
        node = session.plan.nodes[node_ids[0]]
        command = [sys.executable, "-m", "harness.worker", str(job)]
        processes = session.options.gpus_per_stage
        if processes > 1 and isinstance(node.work, TrainWork):  # data-parallel: torchrun starts the ranks
            command = [
                sys.executable,
                "-m",
                "torch.distributed.run",
                f"--nproc_per_node={processes}",
                "--master_addr=127.0.0.1",
                f"--master_port={free_port()}",
                "-m",
                "harness.worker",
                str(job),
            ]
        with open(log, "ab") as out:
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
        return _Running(node_ids, job, process, slot, log, time.monotonic())


def free_port() -> int:
    """A TCP port on localhost that nothing listens on now (for a stage's process group)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@hookimpl
def stilts_executors() -> list[Entry]:
    return [
        Entry("inline", "harness.executors:InlineExecutor", "every stage in this process, cell after cell"),
        Entry("slurm", "plugins.executors.slurm:SlurmExecutor", "Slurm job arrays through submitit (submits, returns)"),
        Entry("local", LocalExecutor, "worker processes on this machine (--jobs N, --gpus 0,1)"),
    ]
