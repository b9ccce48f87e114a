"""Plans an experiment: the graph of stages its cells go through, with every stage's content-hash
key computed up front and each stage listed once however many cells share it.

A cell is [intermediate stage] -> [target stage] -> one evaluation stage per language. An
intermediate × target matrix has one intermediate stage per (intermediate, seed), not one per
cell. Planning loads no model and imports no torch: keys come from fingerprints of files (memoised),
the resolved hyperparameters and the precision the device gives (:mod:`harness.devices`). The one
key input known only from data, the label list of a ``"labels": "from_train"`` target, is read from
the finished target stage when there is one, else derived from the training split here.

A stage whose inputs are missing (a data file, a model not in the hub cache) is still planned, as
``blocked`` with the reason, under a provisional id starting with ``?``, so a study can be sized
before anything is downloaded.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.data import SourcePlan, fingerprint_of
from harness.errors import DataError, MissingResourcesError, SpecError, StiltsError
from harness.experiment import BASELINE, Cell, hashed_training
from harness.hub import HubError
from harness.interfaces import RunSettings
from harness.needs import mlm_text_source
from harness.run_context import RunContext
from harness.stages import MARKER, StageKey
from harness.tasks import TaskSpec, content_hash
from harness.translate import pinned_translation

#: Node states: in the stage cache, to be built, or missing an input (with the reason).
CACHED, RUN, BLOCKED = "cached", "run", "blocked"
#: Exceptions that mean "an input is missing", which blocks a stage instead of failing the plan.
MISSING_INPUT = (DataError, MissingResourcesError, SpecError, OSError)


class InputMissing(StiltsError):
    """A stage key's input cannot be computed now (the message says which and why)."""


@dataclass(frozen=True)
class TrainWork:
    """What a training stage (intermediate or target) trains."""

    task: TaskSpec
    config: dict[str, Any]
    seed: int
    language: str
    train_plan: SourcePlan | None
    dev_plan: SourcePlan | None
    #: target-language selection: the dev split of each target language with data
    dev_plans: dict[str, SourcePlan]
    settings: RunSettings
    #: target-language selection: the languages asked for that have no dev data (not selected on)
    dev_languages_without_data: tuple[str, ...] = ()


@dataclass(frozen=True)
class GroupWork:
    """What a multi-task group's intermediate stage trains (:mod:`harness.group_stage`)."""

    group: dict[str, Any]
    config: dict[str, Any]
    tasks: list[TaskSpec]
    member_config: dict[str, dict[str, Any]]
    plans: dict[str, tuple[SourcePlan | None, SourcePlan | None]]
    mlm_plans: list[SourcePlan]
    policy: dict[str, Any]
    seed: int
    settings: RunSettings


@dataclass(frozen=True)
class EvalWork:
    """What an evaluation stage evaluates: ``task`` in ``language``."""

    task: TaskSpec
    language: str
    config: dict[str, Any]
    plan: SourcePlan | None
    tune_plan: SourcePlan | None
    settings: RunSettings


@dataclass
class StageNode:
    """One stage of the plan.

    ``id`` is the stage hash (its folder is ``runs/<kind>/<id>``), or ``?<digest>`` while an input
    is missing. ``start`` is the id of the stage whose model this one trains from or evaluates
    (None: the experiment's model). ``work`` is what :mod:`harness.execution` needs to build it.
    """

    id: str
    kind: str
    task: str
    detail: str
    key: StageKey | None
    start: str | None
    work: TrainWork | GroupWork | EvalWork | None
    state: str = RUN
    reason: str = ""
    cells: list[int] = field(default_factory=list)
    #: examples × epochs this stage passes over (None: not known before its data is read)
    example_passes: int | None = None

    @property
    def deps(self) -> tuple[str, ...]:
        return (self.start,) if self.start else ()


@dataclass
class CellPlan:
    """One cell: its stages in order (intermediate, target, evaluations) and where its result goes."""

    index: int
    cell: Cell
    target_task: TaskSpec
    target_config: dict[str, Any]
    config: dict[str, Any]
    intermediate: str | None
    target: str | None
    evals: dict[str, str]
    result_path: Path

    @property
    def nodes(self) -> list[str]:
        return [n for n in (self.intermediate, self.target) if n] + list(self.evals.values())


@dataclass
class StagePlan:
    """Every stage of an experiment (in an order where a stage follows the one it starts from)
    and every cell's path through them."""

    experiment: str
    nodes: dict[str, StageNode]
    cells: list[CellPlan]
    skipped: dict[str, list[str]]
    problems: list[str]

    def counts(self) -> dict[str, dict[str, int]]:
        """For each stage kind, how many stages are cached, to run and blocked (plus the total)."""
        out: dict[str, dict[str, int]] = {}
        for node in self.nodes.values():
            row = out.setdefault(node.kind, {CACHED: 0, RUN: 0, BLOCKED: 0, "total": 0})
            row[node.state] += 1
            row["total"] += 1
        return out

    def to_run(self) -> list[StageNode]:
        return [node for node in self.nodes.values() if node.state == RUN]

    def dependents(self) -> dict[str, list[str]]:
        """For each stage, the stages that start from it."""
        out: dict[str, list[str]] = {}
        for node in self.nodes.values():
            if node.start:
                out.setdefault(node.start, []).append(node.id)
        return out

    def estimate(self, store_root: Path) -> dict[str, Any]:
        """A cost estimate for the stages to run: example passes by kind, and seconds where
        finished stages of this plan in the cache give a measured throughput (training: the median
        examples per second; evaluation: the median wall time)."""
        measured_speed: list[float] = []
        measured_eval: list[float] = []
        passes = {kind: 0 for kind in ("intermediate", "target", "eval")}
        unknown = {kind: 0 for kind in passes}
        for node in self.nodes.values():
            if node.state == CACHED and node.key is not None:
                folder = store_root / node.kind / node.id
                if node.kind == "eval":
                    measured_eval.append(_marker_wall_time(folder))
                else:
                    speed = _training_speed(folder)
                    if speed:
                        measured_speed.append(speed)
            elif node.state != CACHED:
                if node.example_passes is None:
                    unknown[node.kind] += 1
                else:
                    passes[node.kind] += node.example_passes
        seconds: float | None = None
        if measured_speed and not (unknown["intermediate"] or unknown["target"]):
            speed = statistics.median(measured_speed)
            seconds = (passes["intermediate"] + passes["target"]) / speed
            evals = sum(1 for n in self.nodes.values() if n.kind == "eval" and n.state != CACHED)
            if evals and measured_eval:
                seconds += evals * statistics.median(measured_eval)
            elif evals:
                seconds = None
        return {
            "example_passes": passes,
            "stages_of_unknown_size": unknown,
            "measured_stages": len(measured_speed) + len(measured_eval),
            "seconds": round(seconds, 1) if seconds is not None else None,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "experiment": self.experiment,
            "counts": self.counts(),
            "problems": self.problems,
            "skipped_languages": self.skipped,
            "stages": [
                {
                    "id": node.id,
                    "kind": node.kind,
                    "task": node.task,
                    "detail": node.detail,
                    "state": node.state,
                    "reason": node.reason,
                    "depends_on": list(node.deps),
                    "cells": node.cells,
                    "example_passes": node.example_passes,
                }
                for node in self.nodes.values()
            ],
            "cells": [
                {
                    "cell": {"intermediate": c.cell.intermediate, "target": c.cell.target.task, "seed": c.cell.seed},
                    "result": str(c.result_path),
                    "stages": c.nodes,
                }
                for c in self.cells
            ],
        }


def _marker_wall_time(folder: Path) -> float:
    try:
        return float(json.loads((folder / MARKER).read_text(encoding="utf-8"))["wall_time_s"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0.0


def _training_speed(folder: Path) -> float | None:
    try:
        report = json.loads((folder / "report.json").read_text(encoding="utf-8"))["report"]
        speed = float(report.get("examples_per_second") or 0.0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return speed or None


class Planner:
    """Expands the cells of ``ctx.experiment`` into a :class:`StagePlan`."""

    def __init__(self, ctx: RunContext):
        self.ctx = ctx
        self.nodes: dict[str, StageNode] = {}
        self._labels: dict[str, list[str]] = {}

    # -- helpers ---------------------------------------------------------------------------
    def _add(self, node: StageNode, cell_index: int) -> StageNode:
        """Add ``node`` unless a stage with its id is planned already; either way the planned one."""
        found = self.nodes.setdefault(node.id, node)
        if cell_index not in found.cells:
            found.cells.append(cell_index)
        return found

    def _node(
        self,
        kind: str,
        task: str,
        detail: str,
        inputs: Callable[[], dict[str, Any]],
        describe: dict[str, Any],
        start: StageNode | None,
        work: Callable[[], TrainWork | GroupWork | EvalWork],
        example_passes: int | None,
    ) -> StageNode:
        """A node whose key is ``inputs()``; blocked (id ``?<digest of describe>``) when computing
        its key or work raises a missing-input error, or when its start stage is blocked."""
        if start is not None and start.state == BLOCKED:
            provisional = "?" + content_hash({"kind": kind, "start": start.id, **describe}, length=19)
            return StageNode(
                provisional, kind, task, detail, None, start.id, None, BLOCKED, f"needs blocked stage {start.id}"
            )
        try:
            key = StageKey(kind, inputs())
            built = work()
        except MISSING_INPUT as exc:
            provisional = "?" + content_hash({"kind": kind, "start": start.id if start else None, **describe}, 19)
            return StageNode(
                provisional, kind, task, detail, None, start.id if start else None, None, BLOCKED, str(exc)
            )
        node = StageNode(key.hash, kind, task, detail, key, start.id if start else None, built)
        node.example_passes = example_passes
        if self.ctx.store.is_done(key):
            node.state, node.reason = CACHED, ""
        else:
            node.state, node.reason = RUN, "not in the stage cache"
        return node

    def split(self, task: TaskSpec, split: str, lang: str, *, required: bool = True) -> SourcePlan | None:
        """The source of a split, raising :class:`DataError` when it cannot be read now (not there,
        or a hub split outside the cache offline). ``required=False``: None when no source defines
        the split (an optional dev split); a split a source defines must still be there."""
        resolver = self.ctx.resolver
        if not required and not resolver.plans(task, split, lang):
            return None
        problem = resolver.missing(task, split, lang)
        if problem:
            raise DataError(problem)
        return resolver.plan(task, split, lang)

    def _start_id(self, start: StageNode | None) -> str:
        """The identity of the model a stage starts from, as stage keys have it."""
        if start is None:
            return self.ctx.base_id
        return f"stage:{start.kind}:{start.id}"

    # -- stage keys ------------------------------------------------------------------------
    def train_node(
        self,
        kind: str,
        task: TaskSpec,
        start: StageNode | None,
        config: dict[str, Any],
        seed: int,
        dev_languages: list[str] | None = None,
    ) -> StageNode:
        """The stage training ``task`` (``kind`` intermediate or target) from ``start``.
        ``dev_languages``: select the checkpoint on those languages' dev sets."""
        ctx = self.ctx
        lang = task.train_language or "en"
        settings = ctx.settings(task, config)

        def work() -> TrainWork:
            dev_plans = {
                dl: plan
                for dl in dev_languages or []
                if not ctx.resolver.missing(task, "dev", dl) and (plan := ctx.resolver.plan(task, "dev", dl))
            }
            if dev_languages and not dev_plans:
                raise DataError(
                    f"task {task.name!r}: selection on target-language dev needs dev data in "
                    f"{', '.join(dev_languages)}; none is available"
                )
            return TrainWork(
                task,
                config,
                seed,
                lang,
                self.split(task, "train", lang),
                self.split(task, "dev", lang, required=False),
                dev_plans,
                settings,
                tuple(dl for dl in dev_languages or [] if dl not in dev_plans),
            )

        def inputs() -> dict[str, Any]:
            built = work()
            dev = (
                {dl: fingerprint_of(p) for dl, p in built.dev_plans.items()}
                if built.dev_plans
                else fingerprint_of(built.dev_plan)
            )
            return {
                "start": self._start_id(start),
                "adapter": ctx.adapter_key,
                "task": ctx.task_key(task),
                "data": {"train": fingerprint_of(built.train_plan), "dev": dev},
                "training": hashed_training(config),
                "precision": settings.precision,
                "seed": seed,
                **({"data_parallel": ctx.data_parallel} if ctx.data_parallel > 1 else {}),
            }

        examples = config.get("max_train_examples")
        return self._node(
            kind,
            task.name,
            f"{settings.precision}, seed {seed}",
            inputs,
            {"task": task.name, "seed": seed, "config": content_hash(hashed_training(config), 16)},
            start,
            work,
            int(examples * config["epochs"]) if examples else None,
        )

    def group_node(self, group: dict[str, Any], start: StageNode | None, seed: int) -> StageNode:
        """The intermediate stage of a multi-task group (and its continued MLM)."""
        ctx, exp = self.ctx, self.ctx.experiment
        config = exp.group_training(group)
        tasks = [ctx.task(name) for name in group["tasks"]]
        member_cfg = {t.name: {**exp.training(t, "intermediate"), **group.get("training", {})} for t in tasks}
        mlm = group.get("mlm")
        policy = {"kind": "proportional", **group.get("sampling", {})}
        settings = ctx.settings(tasks[0], config)

        def work() -> GroupWork:
            plans = {
                t.name: (
                    self.split(t, "train", t.train_language or "en"),
                    self.split(t, "dev", t.train_language or "en", required=False),
                )
                for t in tasks
            }
            mlm_plans: list[SourcePlan] = []
            if mlm:
                text_task, text_split = mlm_text_source(ctx.catalog, exp, mlm)
                mlm_plans = [p for lang in mlm["languages"] if (p := self.split(text_task, text_split, lang))]
            return GroupWork(group, config, tasks, member_cfg, plans, mlm_plans, policy, seed, settings)

        def inputs() -> dict[str, Any]:
            built = work()
            return {
                "start": self._start_id(start),
                "adapter": ctx.adapter_key,
                "group": {
                    "name": group["name"],
                    "sampling": policy,
                    "steps_per_epoch": group.get("steps_per_epoch"),
                    "mlm": mlm,
                },
                "tasks": [
                    {
                        "task": ctx.task_key(t),
                        "training": hashed_training(member_cfg[t.name]),
                        "data": {
                            "train": fingerprint_of(built.plans[t.name][0]),
                            "dev": fingerprint_of(built.plans[t.name][1]),
                        },
                    }
                    for t in tasks
                ],
                "mlm_task": ctx.task_key(ctx.task(mlm.get("task", "mlm"))) if mlm else None,
                "mlm_training": hashed_training(mlm_config(ctx, group)) if mlm else None,
                "mlm_data": [p.fingerprint() for p in built.mlm_plans],
                "translate": self.translation_identity(group, tasks),
                "training": hashed_training(config),
                "precision": settings.precision,
                "seed": seed,
            }

        detail = (
            f"multi-task: {', '.join(group['tasks'])}"
            + (f" + MLM in {len(mlm['languages'])} languages" if mlm else "")
            + f", seed {seed}"
        )
        limit = config.get("max_train_examples")
        return self._node(
            "intermediate",
            group["name"],
            detail,
            inputs,
            {"group": group["name"], "seed": seed},
            start,
            work,
            int(limit * len(tasks) * config["epochs"]) if limit else None,
        )

    def translation_identity(self, group: dict[str, Any], tasks: list[TaskSpec]) -> dict[str, Any] | None:
        """What determines a group's translated data (for its stage hash): per task and language,
        the translate_train files' fingerprint, or the provider and its options."""
        translate = group.get("translate")
        if not translate:
            return None
        resolver, sources = self.ctx.resolver, {}
        for task in tasks:
            for lang in translate["languages"]:
                plan = resolver.plan(task, "translate_train", lang)
                if plan is not None and not resolver.missing(task, "translate_train", lang):
                    sources[f"{task.name}/{lang}"] = plan.fingerprint()
                else:
                    provider = self.ctx.catalog.translator(translate["provider"])
                    options = translate.get("options", {})
                    try:
                        pinned = pinned_translation(self.ctx.hub, provider, options, task.train_language or "en", lang)
                    except HubError as exc:
                        raise DataError(f"group {group['name']!r} translate-train into {lang}: {exc}") from None
                    sources[f"{task.name}/{lang}"] = {
                        "provider": translate["provider"],
                        "code": self.ctx.catalog.provider_of(
                            self.ctx.catalog.translator_entries, translate["provider"]
                        ),
                        "fingerprint": provider.fingerprint(options),
                        "model": pinned.model,
                    }
        return {"keep_english": translate.get("keep_english", True), "sources": sources}

    def eval_node(
        self, task: TaskSpec, model: StageNode | None, lang: str, config: dict[str, Any], labels_problem: str = ""
    ) -> StageNode:
        """The evaluation of ``task`` in ``lang`` with the model of stage ``model`` (None: the
        experiment's model)."""
        ctx = self.ctx
        settings = ctx.settings(task, config)
        tunes = ctx.catalog.task_type(task.task_type).tune_split

        def work() -> EvalWork:
            if labels_problem:
                raise InputMissing(labels_problem)
            plan = self.split(task, "eval", lang)
            tune = self.split(task, "tune", lang, required=False) if tunes else None
            return EvalWork(task, lang, config, plan, tune, settings)

        def inputs() -> dict[str, Any]:
            built = work()
            assert built.plan is not None
            return eval_key_inputs(ctx, built, self._start_id(model))

        examples = config.get("max_eval_examples")
        return self._node(
            "eval", task.name, lang, inputs, {"task": task.name, "lang": lang}, model, work, examples or None
        )

    def target_labels(self, task: TaskSpec, node: StageNode) -> list[str]:
        """A ``from_train`` target's label list: what its finished stage used, else derived from
        the training split as the stage will (same example cap)."""
        if node.state == CACHED and node.key is not None:
            report = json.loads((self.ctx.store.path(node.key) / "report.json").read_text(encoding="utf-8"))
            return list(report.get("labels", []))
        assert isinstance(node.work, TrainWork)
        if node.id not in self._labels:
            records, _ = self.ctx.load_split(
                task, "train", node.work.language, node.work.config.get("max_train_examples")
            )
            self._labels[node.id] = self.ctx.catalog.task_type(task.task_type).derive_labels(records)
        return self._labels[node.id]

    # -- cells -----------------------------------------------------------------------------
    def plan_cell(self, index: int, cell: Cell) -> CellPlan:
        ctx, exp = self.ctx, self.ctx.experiment
        config = exp.cell_config(ctx.catalog, cell)
        start: StageNode | None = None
        group = exp.groups.get(cell.intermediate)
        if group is not None:
            start = self._add(self.group_node(group, None, cell.seed), index)
        elif cell.intermediate != BASELINE:
            task = ctx.task(cell.intermediate)
            start = self._add(
                self.train_node("intermediate", task, None, exp.training(task, "intermediate"), cell.seed), index
            )
        target_task = ctx.task(cell.target.task)
        target_cfg = exp.training(target_task, "target", cell.target)
        skipped = ctx.skipped.get(target_task.name, [])
        langs = [lang for lang in ctx.eval_languages(target_task, cell.target) if lang not in skipped]
        model, trained = start, None
        labels_problem = ""
        if ctx.catalog.task_type(target_task.task_type).trainable:
            dev_languages = (
                ctx.eval_languages(target_task, cell.target) if target_cfg["selection"] == "target_dev" else None
            )
            trained = self._add(
                self.train_node("target", target_task, start, target_cfg, cell.seed, dev_languages), index
            )
            model = trained
            if target_task.labels_from_train and trained.state != BLOCKED:
                try:
                    target_task = target_task.with_labels(self.target_labels(target_task, trained))
                except MISSING_INPUT as exc:
                    labels_problem = f"labels from the training split: {exc}"
        evals = {
            lang: self._add(self.eval_node(target_task, model, lang, target_cfg, labels_problem), index)
            for lang in langs
        }
        if trained is not None and trained.state == CACHED and trained.key is not None:
            pruned = ctx.store.weights_pruned_at(ctx.store.path(trained.key))
            if pruned and any(node.state == RUN for node in evals.values()):
                trained.state, trained.reason = RUN, "its weights were pruned and an evaluation needs them"
        return CellPlan(
            index,
            cell,
            target_task,
            target_cfg,
            config,
            start.id if start else None,
            trained.id if trained else None,
            {lang: node.id for lang, node in evals.items()},
            ctx.results_dir / exp.name / f"{cell.id(exp.model_label, exp.cell_method(target_cfg))}.json",
        )

    def plan(self, cells: Sequence[Cell] | None = None, problems: Sequence[str] = ()) -> StagePlan:
        """The plan of ``cells`` (default: every cell of the experiment). ``problems``: what the
        preflight found missing, reported with the plan."""
        chosen = list(cells) if cells is not None else self.ctx.experiment.cells()
        cell_plans = [self.plan_cell(index, cell) for index, cell in enumerate(chosen)]
        return StagePlan(self.ctx.experiment.name, self.nodes, cell_plans, dict(self.ctx.skipped), list(problems))


def eval_key_inputs(ctx: RunContext, work: EvalWork, model_id: str) -> dict[str, Any]:
    """The key inputs of the evaluation ``work`` of the model ``model_id``."""
    assert work.plan is not None
    return {
        "model": model_id,
        "adapter": ctx.adapter_key,
        "task": ctx.task_key(work.task),
        "lang": work.language,
        "data": work.plan.fingerprint(),
        "limit": work.config.get("max_eval_examples"),
        "tune": work.tune_plan.fingerprint() if work.tune_plan else None,
        "settings": {
            "precision": work.settings.precision,
            "max_length": work.settings.max_length,
            "options": work.settings.options,
        },
    }


def mlm_config(ctx: RunContext, group: dict[str, Any]) -> dict[str, Any]:
    """The resolved hyperparameters of a group's continued-MLM member (the MLM task's recipe,
    the experiment's intermediate training, the group's training): its ``max_length`` and the
    rest decide how its text is cut and batched, so they are part of the group's key."""
    mlm_task = ctx.task(group["mlm"].get("task", "mlm"))
    return {**ctx.experiment.training(mlm_task, "intermediate"), **group.get("training", {})}


def dev_languages_dropped(plan: StagePlan) -> dict[str, list[str]]:
    """Per target task selected on target-language dev sets, the languages it asked for whose
    dev split has no data (selection used the others): said in the run summary and the result."""
    found: dict[str, list[str]] = {}
    for node in plan.nodes.values():
        if isinstance(node.work, TrainWork) and node.work.dev_languages_without_data:
            found.setdefault(node.task, list(node.work.dev_languages_without_data))
    return found


def blocked_reasons(plan: StagePlan) -> list[str]:
    """One line per distinct reason that blocks stages (with how many stages it blocks)."""
    counts: dict[str, int] = {}
    for node in plan.nodes.values():
        if node.state == BLOCKED and not node.reason.startswith("needs blocked stage"):
            counts[node.reason] = counts.get(node.reason, 0) + 1
    return [f"{reason} ({n} stage{'s' if n != 1 else ''})" for reason, n in counts.items()]
