"""The ``slurm`` executor: stages as Slurm job arrays, submitted through submitit.

One job array per wave of independent stages (intermediate, then target, then evaluation; the
evaluations of one trained model are one array task, sharing the loaded model), each
later wave depending on the earlier ones (``afterany``: a failed stage must not cancel the
independent rest; a stage whose own start stage failed stops at once with that reason), at most
``--jobs`` tasks of an array running at once. Each task runs :func:`harness.worker.run_job_file`
as a :class:`submitit.helpers.Checkpointable`: on preemption or time-out submitit requeues it,
and the stage resumes from its last checkpoint in the stage store. ``stilts run --executor slurm``
submits and returns; ``stilts status`` reads the job state files (``runs/jobs/*.status.json``) and
one ``squeue``; ``stilts run`` again (or ``stilts collect``) writes the results once stages are done.

Options (``--executor-option KEY=VALUE``, repeatable; a key may be prefixed by a stage kind, as
``target.timeout_min=600``, to apply to that wave only): ``partition``, ``timeout_min``,
``cpus_per_task``, ``mem_gb``, ``gpus_per_node``, ``account``, ``qos``, ``max_num_timeout``, and
``sbatch.NAME=VALUE`` for any other ``#SBATCH --NAME=VALUE``.
"""

from __future__ import annotations

import shutil
import time
from typing import Any

from harness.errors import StiltsError
from harness.executors import ExecutionSession, Executor, ExecutorOptions
from harness.planning import StageNode, TrainWork
from harness.status import squeue_states
from harness.worker import read_status, run_job_file, write_status

try:  # an optional dependency: the executor says what to install when it is missing
    import submitit
    from submitit.helpers import Checkpointable
except ImportError:  # pragma: no cover - depends on the installation
    submitit = None
    Checkpointable = object

#: Stage kinds in wave order.
WAVES = ("intermediate", "target", "eval")
#: Options passed to submitit as they are (numbers where submitit wants numbers).
SUBMITIT_OPTIONS = {
    "partition": ("slurm_partition", str),
    "timeout_min": ("timeout_min", int),
    "cpus_per_task": ("cpus_per_task", int),
    "mem_gb": ("mem_gb", float),
    "gpus_per_node": ("gpus_per_node", int),
    "account": ("slurm_account", str),
    "qos": ("slurm_qos", str),
}
DEFAULTS: dict[str, Any] = {"timeout_min": 24 * 60, "cpus_per_task": 4, "mem_gb": 16}
#: Queue states of a job that is still to run or running.
QUEUED = {"PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "REQUEUED", "RESIZING", "SUSPENDED"}


class StageJob(Checkpointable):  # type: ignore[misc,valid-type]
    """One job file (a stage, or evaluations of one model) as a submitit job; requeued (same job
    file) on preemption or time-out."""

    def __call__(self, job_file: str) -> list[str]:
        if submitit.JobEnvironment().num_tasks > 1:  # a data-parallel stage: one task per rank
            submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False)
        return run_job_file(job_file)


def wave_parameters(options: ExecutorOptions, kind: str) -> dict[str, Any]:
    """submitit parameters for the ``kind`` wave from the executor options (``KIND.NAME`` keys
    override plain ``NAME`` ones for that wave)."""
    settings = {**DEFAULTS}
    sbatch: dict[str, Any] = {}
    generic = {k: v for k, v in options.extra.items() if k.split(".", 1)[0] not in WAVES}
    specific = {k.split(".", 1)[1]: v for k, v in options.extra.items() if k.split(".", 1)[0] == kind}
    for name, value in [*generic.items(), *specific.items()]:
        if name.startswith("sbatch."):
            sbatch[name.removeprefix("sbatch.")] = value
        elif name in SUBMITIT_OPTIONS or name == "max_num_timeout":
            settings[name] = value
        else:
            known = ", ".join([*SUBMITIT_OPTIONS, "max_num_timeout", "sbatch.NAME"])
            raise StiltsError(f"unknown slurm executor option {name!r} (known: {known}; each may be KIND.-prefixed)")
    parameters: dict[str, Any] = {}
    for name, value in settings.items():
        try:
            if name == "max_num_timeout":
                parameters["slurm_max_num_timeout"] = int(value)
            else:
                target, convert = SUBMITIT_OPTIONS[name]
                parameters[target] = convert(value)
        except ValueError:
            raise StiltsError(f"slurm executor option {name}={value!r}: expected a number") from None
    parameters["slurm_array_parallelism"] = max(1, options.jobs)
    if sbatch:
        parameters["slurm_additional_parameters"] = sbatch
    return parameters


def queued_stages(session: ExecutionSession, nodes: list[StageNode]) -> dict[str, str]:
    """Stages of ``nodes`` submitted earlier whose job is still in the queue: stage -> job id."""
    jobs = session.ctx.store.root / "jobs"
    submitted = {
        node.id: status["job_id"]
        for node in nodes
        if (status := read_status(jobs / f"{node.id}.json")).get("executor") == "slurm"
        and status.get("state") in ("submitted", "running")
        and status.get("job_id")
    }
    states = squeue_states(list(submitted.values())) or {}
    return {node: job for node, job in submitted.items() if states.get(job) in QUEUED}


class SlurmExecutor(Executor):
    """Submits the stages to run as Slurm job arrays, one per wave, and returns."""

    submits = True

    def planning_device(self, options: ExecutorOptions) -> str | None:
        """Stages run on the cluster's nodes: on GPUs when a wave asks for them, else on CPUs."""
        return (
            "cuda" if any(key.endswith("gpus_per_node") and int(v) > 0 for key, v in options.extra.items()) else "cpu"
        )

    def execute(self, session: ExecutionSession) -> None:
        if submitit is None:
            raise StiltsError("the slurm executor needs submitit: pip install 'stilts[slurm]' (or submitit>=1.5.4)")
        if shutil.which("sbatch") is None:
            raise StiltsError("the slurm executor needs Slurm's sbatch on PATH (run stilts on a login node)")
        plan, reporter = session.plan, session.ctx.reporter
        for node in plan.nodes.values():
            if node.state == "cached":
                session.runner.reuse(plan, node.id)
        session.write_finished_cells()
        to_run = plan.to_run()
        queued = queued_stages(session, to_run)
        submitted: dict[str, str] = dict(queued)  # stage -> job id, earlier submissions included
        array_ids: list[str] = []
        processes = session.options.gpus_per_stage
        for kind in WAVES:
            wave = [node for node in to_run if node.kind == kind and node.id not in queued]
            parallel = [node for node in wave if processes > 1 and isinstance(node.work, TrainWork)]
            single = [node for node in wave if node not in parallel]
            wave_arrays = []
            for nodes, tasks in ((single, 1), (parallel, processes)):
                if nodes:
                    wave_arrays.append(self.submit(session, kind, nodes, tasks, array_ids, submitted))
            array_ids += wave_arrays
        if queued:
            reporter.message(f"{len(queued)} stage(s) were already in the Slurm queue; not submitted again")

    def submit(
        self,
        session: ExecutionSession,
        kind: str,
        nodes: list[StageNode],
        tasks: int,
        earlier_arrays: list[str],
        submitted: dict[str, str],
    ) -> str:
        """Submit ``nodes`` (stages of one kind) as one job array, after the ``earlier_arrays``
        and the queued jobs of their start stages; ``tasks`` processes per stage (data-parallel
        over as many GPUs). Records each stage's job in ``submitted``; returns the array's id."""
        executor = submitit.AutoExecutor(folder=session.ctx.store.root / "slurm" / "%j", cluster="slurm")
        parameters = wave_parameters(session.options, kind)
        if tasks > 1:
            parameters["tasks_per_node"] = tasks
            parameters.setdefault("gpus_per_node", tasks if session.ctx.device.startswith("cuda") else 0)
        after = set(earlier_arrays) | {submitted[n.start].split("_")[0] for n in nodes if n.start in submitted}
        if after:
            extra = dict(parameters.get("slurm_additional_parameters", {}))
            extra["dependency"] = "afterany:" + ":".join(sorted(after))
            parameters["slurm_additional_parameters"] = extra
        executor.update_parameters(name=f"stilts-{kind}", **parameters)
        batches = session.worker_batches([node.id for node in nodes])
        job_files = [session.job_file(batch) for batch in batches]
        jobs = executor.map_array(StageJob(), [str(path) for path in job_files])
        for batch, job, path in zip(batches, jobs, job_files, strict=True):
            for node_id in batch:
                write_status(
                    path,
                    node_id,
                    executor="slurm",
                    state="submitted",
                    submitted=time.time(),
                    started=None,
                    job_id=str(job.job_id),
                    log=str(job.paths.stderr),
                    stdout=str(job.paths.stdout),
                    error=None,
                )
                submitted[node_id] = str(job.job_id)
        array = str(jobs[0].job_id).split("_")[0]
        session.ctx.reporter.message(
            f"submitted {len(nodes)} {kind} stage(s) as Slurm job array {array} ({len(batches)} task(s))"
        )
        return array
