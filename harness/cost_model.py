"""The cost of a plan before it runs: each stage's work in records, its predicted seconds on a
device, GPU-hours, the makespan of the plan on N devices and its critical path (``stilts plan
--gpus N --device TYPE``).

**Work.** A training stage processes ``min(rows, max_train_examples) × epochs`` training records
and evaluates its dev split(s) after every epoch (``min(rows, max_eval_examples)`` each); a
multi-task stage sums its members (and its MLM text); an evaluation stage predicts its eval split
(and tune split). Rows come from the dataset card's split sizes for hub sources (the lock's card
at the pinned commit, else the card facts shipped in ``task_specs/hub_cards``) and from reading
the local files (counts remembered in ``runs/.rows.json`` by file size and modification time).

**Speed.** A stage takes ``overhead + records / (records per second)`` for training and evaluation
separately, per task type: figures that ``stilts calibrate`` measures on this machine's device for
the experiment's model (:mod:`harness.calibrate`, written to ``runs/calibration.json``), or for a
GPU type without a calibration the shipped estimates of :data:`DEVICE_PEAKS`, labelled as such. A
figure measured at another ``max_length`` or on a model of another size is scaled by
``length × parameters`` (the cost of a transformer's forward and backward pass is about
proportional to both; attention's quadratic part is small at these lengths).

**Schedule.** Stages run when the stage they start from is done; on N devices the stages are
placed longest-remaining-path first (a list schedule; its makespan is at most twice the optimum
and never below the critical path, which is printed as the lower bound). With
``--gpus-per-stage K`` a single-task training stage takes K devices at once for 1/K of its time
(ideal data-parallel scaling: an optimistic bound) and counts K device-seconds per second.
"""

from __future__ import annotations

import heapq
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.data import SourcePlan
from harness.hub_cards import shipped_facts, split_names
from harness.planning import BLOCKED, RUN, EvalWork, GroupWork, StageNode, StagePlan, TrainWork
from harness.run_context import RunContext
from harness.tasks import content_hash

CALIBRATION_FILE = "calibration.json"
ROWS_MEMO = ".rows.json"

#: Dense bf16 peak FLOP/s of common GPUs, from the vendors' datasheets (without sparsity), for the
#: shipped estimates. ``--device`` names one of these keys, or a device that ``stilts calibrate``
#: measured (``cpu``, ``cuda``, ...).
DEVICE_PEAKS: dict[str, tuple[float, str]] = {
    "h100": (989e12, "NVIDIA H100 SXM datasheet: 989 TFLOPS dense BF16"),
    "h200": (989e12, "NVIDIA H200 SXM datasheet: 989 TFLOPS dense BF16"),
    "a100": (312e12, "NVIDIA A100 datasheet: 312 TFLOPS dense BF16"),
    "l40s": (362e12, "NVIDIA L40S datasheet: 362 TFLOPS dense BF16"),
    "a10g": (70e12, "NVIDIA A10G (AWS g5): 70 TFLOPS dense FP16/BF16"),
    "v100": (125e12, "NVIDIA V100 SXM2 datasheet: 125 TFLOPS FP16 tensor (no BF16: fp16 mixed precision)"),
    "l4": (121e12, "NVIDIA L4 datasheet: 121 TFLOPS dense BF16"),
}
#: The share of peak an encoder fine-tuning loop reaches in the shipped estimates.
ESTIMATE_MFU = 0.35
#: Seconds a stage spends outside its records in the shipped estimates (load, save, tokenise).
ESTIMATE_OVERHEAD_S = {"train": 60.0, "eval": 10.0}
#: Sequences one cost unit is encoded as, by task type, for the shipped estimates (a multiple-choice
#: record is one sequence per choice; a retrieval pair embeds both sides; mining counts sentences).
SEQUENCES_PER_RECORD = {"multiple_choice": 4, "retrieval": 2, "mining": 1, "lareqa": 2}


@dataclass(frozen=True)
class Speed:
    """How fast one task type trains and evaluates on one device, for one model size and length."""

    train_per_s: float
    eval_per_s: float
    train_overhead_s: float
    eval_overhead_s: float
    max_length: int
    parameters: int
    source: str

    def scaled(self, max_length: int, parameters: int | None) -> Speed:
        """This speed at another sequence length and model size (cost ∝ length × parameters)."""
        factor = (max_length / self.max_length) * ((parameters or self.parameters) / self.parameters)
        return Speed(
            self.train_per_s / factor,
            self.eval_per_s / factor,
            self.train_overhead_s,
            self.eval_overhead_s,
            max_length,
            parameters or self.parameters,
            self.source + (f" (scaled ×{1 / factor:.2f})" if abs(factor - 1) > 1e-9 else ""),
        )


@dataclass
class StageCost:
    """One stage's work and predicted time (None: no speed known for it)."""

    node: str
    kind: str
    task: str
    task_type: str
    train_records: int
    eval_records: int
    max_length: int
    start: str | None
    seconds: float | None = None
    source: str = ""
    unknown_rows: list[str] = field(default_factory=list)
    #: devices the stage occupies while it runs (``--gpus-per-stage`` for single-task training)
    devices: int = 1
    #: a multi-task stage's members, each priced at its own task type's speed
    parts: list[StageCost] = field(default_factory=list)


# -- rows ------------------------------------------------------------------------------------------
class RowCounter:
    """Rows of a split: card sizes for hub sources, counted records for local files (remembered
    in ``runs/.rows.json`` while the files keep their size and modification time)."""

    def __init__(self, ctx: RunContext):
        self.ctx = ctx
        self.memo_path = ctx.store.root / ROWS_MEMO
        try:
            self.memo: dict[str, list[int]] = json.loads(self.memo_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.memo = {}
        self.changed = False

    def rows(self, plan: SourcePlan | None, limit: int | None) -> int | None:
        """Records the stage reads from ``plan`` (at most ``limit``); None when unknown."""
        if plan is None:
            return 0
        if plan.kind == "hub":
            found = _sliced(self._hub_rows(plan), plan.rows)
            if found is None:
                return None
            return min(found, int(limit)) if limit else found
        counted = self._local_rows(plan)
        if counted is None:
            return None
        records, units = counted  # the limit caps records; a record may be several units (a corpus)
        return round(units * int(limit) / records) if limit and int(limit) < records else units

    def _hub_rows(self, plan: SourcePlan) -> int | None:
        total = 0
        for part in plan.hub_parts:
            commit = part.get("commit")
            facts = self.ctx.hub.card(part["dataset"], commit) if commit else shipped_facts(part["dataset"])
            if facts is None:
                return None
            _, config = facts.config(part.get("config"))
            if config is None:
                return None
            for name in split_names(str(part.get("split", ""))):
                size = config.splits.get(name)
                if size is None:
                    return None
                total += size
        return total

    def _local_rows(self, plan: SourcePlan) -> tuple[int, int] | None:
        """(records, cost units) of a local split."""
        try:
            stats = [(str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in plan.files.values()]
        except OSError:
            return None
        key = content_hash(["units", plan.task, plan.split, plan.lang, stats, plan.reading, plan.rows], length=24)
        if key not in self.memo:
            try:  # the records a stage reads (the slice taken, dropped labels left out), in cost units
                task = self.ctx.task(plan.task)
                loaded = self.ctx.resolver.load(task, plan.split, plan.lang).records
                task_type = self.ctx.catalog.task_type(task.task_type)
                self.memo[key] = [len(loaded), sum(task_type.cost_units(record) for record in loaded)]
            except Exception:  # a file the preflight reports; the cost is then unknown
                return None
            self.changed = True
        count, units = self.memo[key]
        return int(count), int(units)

    def save(self) -> None:
        if self.changed:
            self.memo_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.memo_path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(self.memo, sort_keys=True), encoding="utf-8")
            os.replace(tmp, self.memo_path)


def _sliced(rows: int | None, expression: str | None) -> int | None:
    if rows is None or not expression:
        return rows
    start, _, stop = expression.partition(":")
    first = int(start or 0)
    last = min(int(stop), rows) if stop else rows
    return max(last - first, 0)


# -- work ------------------------------------------------------------------------------------------
def stage_cost(ctx: RunContext, node: StageNode, counter: RowCounter) -> StageCost:
    """What ``node`` processes: training records (all epochs) and evaluated records."""
    work = node.work
    unknown: list[str] = []

    def rows(plan: SourcePlan | None, limit: Any, what: str) -> int:
        found = counter.rows(plan, limit)
        if found is None:
            unknown.append(what)
            return 0
        return found

    cost = StageCost(node.id, node.kind, node.task, "", 0, 0, 0, node.start)
    if isinstance(work, TrainWork):
        config, epochs = work.config, float(work.config["epochs"])
        cost.task_type, cost.max_length = work.task.task_type, int(work.settings.max_length)
        cost.train_records = round(rows(work.train_plan, config.get("max_train_examples"), "train") * epochs)
        dev_plans = list(work.dev_plans.values()) or ([work.dev_plan] if work.dev_plan else [])
        dev = sum(rows(p, config.get("max_eval_examples"), "dev") for p in dev_plans)
        cost.eval_records = round(dev * epochs)
    elif isinstance(work, GroupWork):
        cost.task_type, cost.max_length = "multitask", int(work.settings.max_length)
        cost.parts = group_parts(work, rows)
        cost.train_records = sum(part.train_records for part in cost.parts)
        cost.eval_records = sum(part.eval_records for part in cost.parts)
    elif isinstance(work, EvalWork):
        cost.task_type, cost.max_length = work.task.task_type, int(work.settings.max_length)
        limit = work.config.get("max_eval_examples")
        cost.eval_records = rows(work.plan, limit, "eval") + rows(work.tune_plan, limit, "tune")
    cost.unknown_rows = unknown
    return cost


def group_parts(work: GroupWork, rows: Any) -> list[StageCost]:
    """What a multi-task stage trains, per member: the examples its sampling draws from each task
    in its steps (:func:`harness.multitask.default_steps_per_epoch`: one pass over the capped
    sizes; each task's share by :func:`harness.multitask.sampling_weights`; MLM text at its
    ``ratio``) and each task's dev split after every epoch. ``rows(plan, limit, what)`` counts a split."""
    from harness.multitask import epoch_steps, sampling_weights

    epochs = float(work.config["epochs"])
    batch = int(work.config["batch_size"])
    sizes, dev = {}, {}
    for task in work.tasks:
        member = work.member_config.get(task.name, work.config)
        train_plan, dev_plan = work.plans.get(task.name, (None, None))
        sizes[task.name] = rows(train_plan, member.get("max_train_examples"), task.name)
        dev[task.name] = rows(dev_plan, member.get("max_eval_examples"), task.name)
    mlm = work.group.get("mlm")
    ratio = float(mlm.get("ratio", 1.0)) if mlm else 0.0
    weights = sampling_weights(sizes, work.policy) if sizes and sum(sizes.values()) else {}
    steps = work.group.get("steps_per_epoch") or epoch_steps(list(sizes.values()), work.policy, batch, 1 / (1 + ratio))
    drawn = steps * batch * epochs
    parts = []
    for task in work.tasks:
        examples = round(drawn * weights.get(task.name, 0.0) / (1.0 + ratio))
        part = StageCost(work.group["name"], "intermediate", task.name, task.task_type, examples, 0, 0, None)
        length = work.member_config.get(task.name, work.config).get("max_length", work.settings.max_length)
        part.eval_records, part.max_length = round(dev[task.name] * epochs), int(length)
        parts.append(part)
    if mlm:
        examples = round(drawn * ratio / (1.0 + ratio))
        parts.append(
            StageCost(
                work.group["name"], "intermediate", "mlm", "mlm", examples, 0, int(work.settings.max_length), None
            )
        )
    return parts


# -- speed -----------------------------------------------------------------------------------------
def read_calibration(path: Path) -> dict[str, Any] | None:
    """A calibration file written by ``stilts calibrate`` (None when there is none)."""
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) and found.get("format") == 1 else None


def calibrated_speeds(calibration: dict[str, Any], device: str) -> dict[str, Speed]:
    """The measured speeds of ``calibration`` for ``device`` (its name or kind), by task type."""
    found: dict[str, Speed] = {}
    for entry in calibration.get("devices", {}).get(device, {}).get("task_types", {}).values():
        found[entry["task_type"]] = Speed(
            entry["train_per_s"],
            entry["eval_per_s"],
            entry["train_overhead_s"],
            entry["eval_overhead_s"],
            entry["max_length"],
            entry["parameters"],
            f"measured by stilts calibrate on {device} ({calibration['devices'][device].get('name', device)}, "
            f"{entry.get('measured_at', '')})",
        )
    return found


def estimated_speed(device: str, task_type: str, max_length: int, parameters: int) -> Speed | None:
    """The shipped estimate for a GPU type of :data:`DEVICE_PEAKS` (None for other devices)."""
    if device not in DEVICE_PEAKS:
        return None
    peak, source = DEVICE_PEAKS[device]
    tokens = max_length * SEQUENCES_PER_RECORD.get(task_type, 1)
    train = peak * ESTIMATE_MFU / (6 * parameters * tokens)
    return Speed(
        train,
        train * 3,  # a forward pass is a third of forward + backward (2N vs 6N FLOPs per token)
        ESTIMATE_OVERHEAD_S["train"],
        ESTIMATE_OVERHEAD_S["eval"],
        max_length,
        parameters,
        f"estimate: 6·N FLOPs per token (Kaplan et al. 2020) at {ESTIMATE_MFU:.0%} of {source}",
    )


def speed_for(cost: StageCost, device: str, measured: dict[str, Speed], parameters: int | None) -> Speed | None:
    """The speed a stage runs at: measured for its task type (else for the task type measured at
    the most similar length), else the shipped estimate."""
    if cost.task_type in measured:
        return measured[cost.task_type].scaled(cost.max_length, parameters)
    if cost.task_type == "multitask" and measured:
        first = min(measured.values(), key=lambda s: abs(s.max_length - cost.max_length))
        return first.scaled(cost.max_length, parameters)
    if parameters:
        return estimated_speed(device, cost.task_type, cost.max_length, parameters)
    return None


def predict_seconds(cost: StageCost, speed: Speed) -> float:
    seconds = 0.0
    if cost.kind != "eval":
        seconds += speed.train_overhead_s + cost.train_records / speed.train_per_s
    else:
        seconds += speed.eval_overhead_s
    return seconds + cost.eval_records / speed.eval_per_s


# -- the report ------------------------------------------------------------------------------------
@dataclass
class CostReport:
    """The predicted cost of the stages a plan still has to run."""

    device: str
    devices: int
    stages: list[StageCost]
    sources: list[str]
    gpu_hours: float | None
    makespan_s: float | None
    critical_path_s: float | None
    critical_path: list[str]
    unknown: list[str]
    #: stages that cannot run yet (a missing input): not costed
    blocked: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "devices": self.devices,
            "gpu_hours": self.gpu_hours,
            "makespan_s": self.makespan_s,
            "critical_path_s": self.critical_path_s,
            "critical_path": self.critical_path,
            "speed_sources": self.sources,
            "stages_without_estimate": self.unknown,
            "blocked_stages_not_costed": self.blocked,
            "stages": [
                {
                    "stage": s.node,
                    "kind": s.kind,
                    "task": s.task,
                    "task_type": s.task_type,
                    "train_records": s.train_records,
                    "eval_records": s.eval_records,
                    "max_length": s.max_length,
                    "starts_from": s.start,
                    "devices": s.devices,
                    "seconds": round(s.seconds, 1) if s.seconds is not None else None,
                }
                for s in self.stages
            ],
        }


def priced_stages(
    ctx: RunContext,
    nodes: list[StageNode],
    device: str,
    measured: dict[str, Speed],
    parameters: int | None,
    counter: RowCounter,
) -> tuple[list[StageCost], list[str], set[str]]:
    """Each stage's work and predicted seconds: ``(stages, one line per stage without an estimate,
    the speeds' sources)``. Evaluations of one model for a task type with
    :attr:`harness.interfaces.TaskType.eval_work_shared` share their work: one worker evaluates
    them in turn (the executors' default) and computes their common part once, so each is priced
    at its share of one evaluation (:func:`share_evaluations`)."""
    stages, unknown, sources = [], [], set()
    for node in nodes:
        cost = stage_cost(ctx, node, counter)
        speed = speed_for(cost, device, measured, parameters)
        if cost.unknown_rows:
            unknown.append(f"{node.kind} {node.task} ({node.detail}): rows of {', '.join(cost.unknown_rows)} unknown")
        elif speed is None:
            unknown.append(f"{node.kind} {node.task}: no speed for task type {cost.task_type!r} on {device}")
        else:
            cost.source = speed.source
            if cost.parts:  # each member at its own task type's speed, one stage overhead
                priced = [(part, speed_for(part, device, measured, parameters) or speed) for part in cost.parts]
                overhead = max(one.train_overhead_s for _, one in priced)
                cost.seconds = overhead + sum(predict_seconds(part, one) - one.train_overhead_s for part, one in priced)
            else:
                cost.seconds = predict_seconds(cost, speed)
            if isinstance(node.work, TrainWork) and ctx.data_parallel > 1:  # --gpus-per-stage K
                cost.devices = ctx.data_parallel
                cost.seconds /= cost.devices  # ideal data-parallel scaling (an upper bound on the speed-up)
            sources.add(speed.source.split(" (scaled")[0])
        stages.append(cost)
    share_evaluations(ctx, stages)
    return stages, unknown, sources


def share_evaluations(ctx: RunContext, stages: list[StageCost]) -> None:
    """Price the evaluations of one model and task whose task type shares their work
    (``eval_work_shared``: LAReQA's candidate pool, embedded once per model) at their share: the
    group's first stage costs one evaluation, the others ``1 / n`` of it each."""
    groups: dict[tuple[str | None, str], list[StageCost]] = {}
    for cost in stages:
        shared = cost.kind == "eval" and cost.seconds is not None and cost.task_type
        if shared and ctx.catalog.task_type(cost.task_type).eval_work_shared:
            groups.setdefault((cost.start, cost.task), []).append(cost)
    for group in groups.values():
        for cost in group[1:]:
            assert cost.seconds is not None
            cost.seconds /= len(group)


def plan_cost(
    ctx: RunContext,
    plan: StagePlan,
    device: str,
    devices: int = 1,
    parameters: int | None = None,
    calibration: dict[str, Any] | None = None,
) -> CostReport:
    """Predict every stage of ``plan`` that is to run, on ``devices`` devices of type ``device``."""
    counter = RowCounter(ctx)
    measured = calibrated_speeds(calibration, device) if calibration else {}
    to_run = [node for node in plan.nodes.values() if node.state == RUN and node.work is not None]
    stages, unknown, sources = priced_stages(ctx, to_run, device, measured, parameters, counter)
    counter.save()
    blocked = sum(1 for node in plan.nodes.values() if node.state == BLOCKED)
    if unknown or not stages:
        known = 0.0 if not stages else None
        return CostReport(device, devices, stages, sorted(sources), known, known, known, [], unknown, blocked)
    durations = {s.node: float(s.seconds or 0.0) for s in stages}
    widths = {s.node: s.devices for s in stages}
    running = {s.node: s.start for s in stages}
    deps = {node: [start] if start in durations else [] for node, start in running.items()}
    makespan = list_schedule(durations, deps, devices, widths)
    length, path = critical_path(durations, deps)
    device_hours = sum(durations[node] * widths[node] for node in durations) / 3600
    return CostReport(device, devices, stages, sorted(sources), device_hours, makespan, length, path, [], blocked)


def critical_path(durations: dict[str, float], deps: dict[str, list[str]]) -> tuple[float, list[str]]:
    """The longest chain of dependent stages (its length bounds any schedule's makespan)."""
    finish: dict[str, float] = {}
    before: dict[str, str | None] = {}

    def end(node: str) -> float:
        if node not in finish:
            start = max(deps[node], key=end, default=None)
            before[node] = start
            finish[node] = (end(start) if start else 0.0) + durations[node]
        return finish[node]

    last = max(durations, key=end)
    path = [last]
    while before[path[-1]] is not None:
        path.append(before[path[-1]])  # type: ignore[arg-type]
    return finish[last], path[::-1]


def list_schedule(
    durations: dict[str, float], deps: dict[str, list[str]], devices: int, widths: dict[str, int] | None = None
) -> float:
    """The makespan of running the stages on ``devices`` devices: whenever devices are free, the
    ready stages (all their dependencies done) start, longest remaining path first, each taking
    ``widths[stage]`` devices (default 1; a data-parallel stage takes its processes' GPUs) for its
    duration; a stage that does not fit yet waits while smaller ready ones may start."""
    children: dict[str, list[str]] = {node: [] for node in durations}
    for node, ups in deps.items():
        for up in ups:
            children[up].append(node)
    tail: dict[str, float] = {}
    capacity = max(devices, 1)
    width = {node: min(max((widths or {}).get(node, 1), 1), capacity) for node in durations}

    def remaining(node: str) -> float:
        if node not in tail:
            tail[node] = durations[node] + max((remaining(c) for c in children[node]), default=0.0)
        return tail[node]

    waiting = {node: len(ups) for node, ups in deps.items()}
    ready = sorted((n for n, count in waiting.items() if count == 0), key=lambda n: (-remaining(n), n))
    running: list[tuple[float, str]] = []
    clock, idle = 0.0, capacity
    while ready or running:
        for node in list(ready):
            if width[node] <= idle:
                ready.remove(node)
                heapq.heappush(running, (clock + durations[node], node))
                idle -= width[node]
        clock, node = heapq.heappop(running)
        idle += width[node]
        for child in children[node]:
            waiting[child] -= 1
            if waiting[child] == 0:
                ready.append(child)
        ready.sort(key=lambda n: (-remaining(n), n))
    return clock
