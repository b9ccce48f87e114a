"""Runs an experiment: preflight, then for every cell the stages
[intermediate training] -> target training -> zero-shot evaluation per language -> result file.

Every stage is cached in the stage store by a content hash of its inputs, so an intermediate
model is trained once and reused by every target, seed-sharing cell and later experiment.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict
from functools import cached_property
from pathlib import Path
from typing import Any

from harness.atomic import write_json_atomic
from harness.data import DataResolver, SourcePlan, enable_offline_mode, fingerprint_of, offline_mode
from harness.errors import DataError, MissingResourcesError
from harness.experiment import BASELINE, Cell, Experiment, Target, hashed_training
from harness.group_stage import GroupStages
from harness.interfaces import ModelHandle, ModelRef, RunSettings
from harness.needs import SplitNeed, experiment_needs
from harness.progress import RunReporter, SilentReporter, reported_stage
from harness.registry import Catalog
from harness.results import SCHEMA_VERSION, aggregate, write_result
from harness.stages import StageKey, StageRecord, StageStore, stage_log
from harness.tasks import TaskSpec, content_hash
from harness.units import UNITS_FILE, Units, has_unit_statistics, main_metric_of, main_units

log = logging.getLogger("stilts.pipeline")


class Pipeline:
    """Plans and runs the cells of one experiment."""

    def __init__(
        self,
        catalog: Catalog,
        experiment: Experiment,
        *,
        runs_dir: Path,
        results_dir: Path,
        data_dir: Path | None = None,
        offline: bool = False,
        device: str | None = None,
        reporter: RunReporter | None = None,
        prune_target_weights: bool = False,
    ):
        """``prune_target_weights``: delete a target stage's weights once its cell's result is
        written (its evaluations are cached; a later run that needs them trains the stage again)."""
        self.catalog, self.experiment = catalog, experiment
        self.prune_target_weights = prune_target_weights
        #: receives the run's progress events (:mod:`harness.progress`); silent by default
        self.reporter: RunReporter = reporter if reporter is not None else SilentReporter()
        self.resolver = DataResolver(catalog, experiment.data_dir(data_dir))
        self.store = StageStore(runs_dir)
        self.results_dir = Path(results_dir)
        self.offline = offline or offline_mode()
        if self.offline:
            enable_offline_mode()  # --offline reaches every library, not only the preflight
        self._device = device
        model = experiment.model
        adapter_name = model.get("adapter") or catalog.host.choose_adapter(model) or "hf"
        self.adapter_name = adapter_name
        self.adapter = catalog.adapter(adapter_name)
        self.skipped: dict[str, list[str]] = {}
        self.groups = GroupStages(self)

    @cached_property
    def base_ref(self) -> ModelRef:
        """The model the experiment starts from (a model source builds its folder on first use)."""
        return self.experiment.model_ref(self.catalog)

    @property
    def device(self) -> str:
        if self._device is None:
            from harness.inference import pick_device

            self._device = pick_device()
        return self._device

    # -- planning --------------------------------------------------------------------------
    def task(self, name: str) -> TaskSpec:
        return self.experiment.task(self.catalog, name)

    def eval_languages(self, task: TaskSpec, target: Target) -> list[str]:
        return list(target.languages) if target.languages else task.eval_languages

    def preflight(self) -> list[str]:
        """Check every model and data split the experiment needs before any training. (Result file
        names need no check: names are bounded by the schemas and cell ids by :meth:`Cell.id`.)

        Returns the list of problems (empty when all is there). Evaluation languages without
        data are skipped instead when the experiment says ``missing_languages: skip``. Local
        evaluation, tune and dev files are read in full here, so a malformed line fails now,
        naming its file and line, not after hours of training.
        """
        problems: list[str] = []
        source = self.experiment.model.get("source")
        missing_source = self.catalog.model_source(source).missing(self.experiment.model) if source else None
        if missing_source:
            problems.append(f"model source {source!r}: {missing_source}")
        elif not self.base_ref.is_local and self.offline and not hub_model_cached(self.base_ref):
            problems.append(f"model {self.base_ref.id!r} is not a local folder and not in the hub cache")
        for need in experiment_needs(self.catalog, self.experiment):
            if need.optional and not self.resolver.plans(need.task, need.split, need.lang):
                continue
            problem = self.resolver.missing(need.task, need.split, need.lang)
            if problem and need.split == "translate_train" and need.provider:
                continue  # the group's provider translates the English records instead
            if problem and need.split == "translate_train":
                problem += f", and {need.used_by} names no translation provider"
            if not problem and need.split in ("eval", "tune", "dev"):
                problem = self.check_readable(need)
            if problem and need.eval_language and self.experiment.missing_languages == "skip":
                skipped = self.skipped.setdefault(need.task.name, [])
                if need.lang not in skipped:
                    skipped.append(need.lang)
            elif problem:
                problems.append(problem)
        return problems

    def check_readable(self, need: SplitNeed) -> str | None:
        """Read a local split in full; the data error (file and line) if it is malformed."""
        plan = self.resolver.plan(need.task, need.split, need.lang)
        if plan is None or plan.kind != "local":
            return None
        try:
            self.resolver.load(need.task, need.split, need.lang)
        except DataError as exc:
            return str(exc)
        return None

    # -- stages ----------------------------------------------------------------------------
    def settings(self, task: TaskSpec, config: dict[str, Any]) -> RunSettings:
        from harness.inference import resolve_precision

        options = task.task_options
        return RunSettings(
            batch_size=int(options.get("batch_size", config["eval_batch_size"])),
            precision=resolve_precision(config["precision"], self.device),
            device=self.device,
            max_length=int(options.get("max_length", config["max_length"])),
            options=options,
        )

    def load_split(self, task: TaskSpec, split: str, lang: str, limit: int | None) -> tuple[list[dict], SourcePlan]:
        """A split's records (at most ``limit``) and the source plan they came from."""
        loaded = self.resolver.load(task, split, lang, limit)
        return loaded.records, loaded.plan

    def train_stage(
        self,
        kind: str,
        task: TaskSpec,
        start: ModelRef,
        start_id: str,
        config: dict[str, Any],
        seed: int,
        dev_languages: list[str] | None = None,
    ) -> tuple[ModelRef, StageRecord, dict[str, Any], list[dict[str, Any]], list[str]]:
        """Train ``task`` starting from ``start``; returns the trained model's folder, the stage,
        the best dev scores, the data provenance and the label list used. ``dev_languages``:
        select on those languages' dev sets (target-language selection) instead of English dev."""
        from harness.train import train

        lang = task.train_language or "en"
        train_plan = self.resolver.plan(task, "train", lang)
        dev_plan = self.resolver.plan(task, "dev", lang)  # None when no source defines a dev split
        dev_plans = {}
        for dev_lang in dev_languages or []:
            if not self.resolver.missing(task, "dev", dev_lang):
                dev_plans[dev_lang] = self.resolver.plan(task, "dev", dev_lang)
        if dev_languages and len(dev_plans) < len(dev_languages):
            log.warning(
                "task %s: no dev data in %s; target-language selection uses %s",
                task.name,
                sorted(set(dev_languages) - set(dev_plans)),
                sorted(dev_plans),
            )
        if dev_languages and not dev_plans:
            raise DataError(
                f"task {task.name!r}: selection on target-language dev needs dev data in "
                f"{', '.join(dev_languages)}; none is available"
            )
        settings = self.settings(task, config)
        key = StageKey(
            kind,
            {
                "start": start_id,
                "adapter": self.adapter_name,
                "task": task.identity(),
                "data": {
                    "train": fingerprint_of(train_plan),
                    "dev": {dl: fingerprint_of(p) for dl, p in dev_plans.items()}
                    if dev_plans
                    else fingerprint_of(dev_plan),
                },
                "training": hashed_training(config),
                "precision": settings.precision,
                "seed": seed,
            },
        )
        reused = True
        detail = f"{settings.precision}, seed {seed}"
        with self.store.build(key) as work:
            if work is not None:
                reused = False
                with (
                    reported_stage(
                        self.reporter, kind=kind, task=task.name, hash=key.hash, detail=detail, log=work / "log.txt"
                    ),
                    stage_log(work),
                ):
                    train_records, _ = self.load_split(task, "train", lang, config.get("max_train_examples"))
                    if task.labels_from_train:
                        task = task.with_labels(self.catalog.task_type(task.task_type).derive_labels(train_records))
                    dev_records = (
                        self.load_split(task, "dev", lang, config.get("max_eval_examples"))[0] if dev_plan else None
                    )
                    task_type = self.catalog.task_type(task.task_type)
                    handle = ModelHandle(self.adapter, start, task_type.head(task))
                    metrics = [self.catalog.metric(m) for m in task.metrics]
                    dev_sets: dict[str, Sequence[dict]] = {
                        dl: self.load_split(task, "dev", dl, config.get("max_eval_examples"))[0] for dl in dev_plans
                    }
                    report = train(
                        task=task,
                        task_type=task_type,
                        handle=handle,
                        metrics=metrics,
                        train_records=train_records,
                        dev_records=dev_records,
                        config=config,
                        eval_settings=settings,
                        seed=seed,
                        work_dir=work,
                        dev_sets=dev_sets or None,
                        reporter=self.reporter,
                    )
                    self.adapter.save(
                        handle.model, handle.tokenizer, work / "model", encoder_only=(kind == "intermediate")
                    )
                    used_dev = list(dev_plans.values()) if dev_plans else [dev_plan]
                    provenance = [p.provenance() for p in [train_plan, *used_dev] if p]
                    (work / "report.json").write_text(
                        json.dumps(
                            {
                                "report": asdict(report),
                                "best_dev": report.best_dev,
                                "data": provenance,
                                "labels": task.labels,
                            },
                            indent=2,
                        ),
                        encoding="utf-8",
                    )
        folder = self.store.path(key)
        saved = json.loads((folder / "report.json").read_text(encoding="utf-8"))
        info = self.store.info(key)
        record = StageRecord(kind, key.hash, str(folder), info["wall_time_s"], reused)
        self.reporter.stage_finished(
            kind=kind, task=task.name, hash=key.hash, wall_s=info["wall_time_s"], reused=reused, detail=detail
        )
        return ModelRef(str(folder / "model")), record, saved["best_dev"], saved["data"], saved.get("labels", [])

    def eval_inputs(
        self, task: TaskSpec, lang: str, config: dict[str, Any]
    ) -> tuple[SourcePlan, SourcePlan | None, RunSettings]:
        """What an evaluation of ``task`` in ``lang`` reads: its eval split, its tune split (task types
        that tune on one, e.g. BUCC's threshold) and its settings."""
        plan = self.resolver.plan(task, "eval", lang)
        assert plan is not None  # preflight checked
        tune_plan = (
            self.resolver.plan(task, "tune", lang) if self.catalog.task_type(task.task_type).tune_split else None
        )
        return plan, tune_plan, self.settings(task, config)

    def eval_key(
        self,
        task: TaskSpec,
        model_id: str,
        lang: str,
        config: dict[str, Any],
        inputs: tuple[SourcePlan, SourcePlan | None, RunSettings] | None = None,
    ) -> StageKey:
        """The key of the evaluation of ``task`` in ``lang`` with the model ``model_id`` (``inputs``:
        :meth:`eval_inputs`, when the caller has them already)."""
        plan, tune_plan, settings = inputs or self.eval_inputs(task, lang, config)
        return StageKey(
            "eval",
            {
                "model": model_id,
                "adapter": self.adapter_name,
                "task": task.identity(),
                "lang": lang,
                "data": plan.fingerprint(),
                "limit": config.get("max_eval_examples"),
                "tune": tune_plan.fingerprint() if tune_plan else None,
                "settings": {
                    "precision": settings.precision,
                    "max_length": settings.max_length,
                    "options": settings.options,
                },
            },
        )

    def eval_stage(
        self,
        task: TaskSpec,
        model_ref: ModelRef,
        model_id: str,
        lang: str,
        config: dict[str, Any],
        handle_cache: dict[str, ModelHandle],
    ) -> tuple[dict[str, float], StageRecord, list[dict[str, Any]], Units | None]:
        """Evaluate (or reuse the evaluation of) ``task`` in ``lang``: the scores, the stage, the
        data provenance and the main score's per-example statistics (:mod:`harness.units`)."""
        from harness.train import score

        inputs = self.eval_inputs(task, lang, config)
        plan, tune_plan, settings = inputs
        task_type = self.catalog.task_type(task.task_type)
        key = self.eval_key(task, model_id, lang, config, inputs)
        reused = True
        with self.store.build(key) as work:
            if work is not None:
                reused = False
                with (
                    reported_stage(
                        self.reporter, kind="eval", task=task.name, hash=key.hash, detail=lang, log=work / "log.txt"
                    ),
                    stage_log(work),
                ):
                    records, _ = self.load_split(task, "eval", lang, config.get("max_eval_examples"))
                    if "handle" not in handle_cache:
                        handle_cache["handle"] = ModelHandle(self.adapter, model_ref, task_type.head(task), frozen=True)
                    extra = {"tune": self.load_split(task, "tune", lang, None)[0]} if tune_plan else {}
                    predictions = task_type.predict(task, handle_cache["handle"], records, settings, **extra)
                    metrics = [self.catalog.metric(name) for name in task.metrics]
                    references = task_type.references(task, records)
                    scores = score(task, metrics, predictions, references, lang)
                    scores_out = {"n": len(records), **scores}  # a metric may count n itself (BUCC: gold pairs)
                    (work / "scores.json").write_text(json.dumps(scores_out, indent=2), encoding="utf-8")
                    (work / "predictions.json").write_text(json.dumps(predictions), encoding="utf-8")
                    stats = main_units(
                        task.main_metric, metrics, predictions, references, lang, scores[task.main_metric]
                    )
                    (work / UNITS_FILE).write_text(json.dumps({"units": stats}), encoding="utf-8")
                    used = [p.provenance() for p in (plan, tune_plan) if p]  # BUCC: the threshold's split too
                    (work / "data.json").write_text(json.dumps(used, indent=2), encoding="utf-8")
        folder = self.store.path(key)
        scores = json.loads((folder / "scores.json").read_text(encoding="utf-8"))
        provenance = json.loads((folder / "data.json").read_text(encoding="utf-8"))
        if (folder / UNITS_FILE).is_file():
            stats = json.loads((folder / UNITS_FILE).read_text(encoding="utf-8"))["units"]
        else:  # made before stilts kept them: derive them once
            stats = self.backfill_units(task, lang, config, folder, scores)
        info = self.store.info(key)
        self.reporter.stage_finished(
            kind="eval", task=task.name, hash=key.hash, wall_s=info["wall_time_s"], reused=reused, detail=lang
        )
        return scores, StageRecord("eval", key.hash, str(folder), info["wall_time_s"], reused), provenance, stats

    def backfill_units(
        self, task: TaskSpec, lang: str, config: dict[str, Any], folder: Path, scores: dict[str, float]
    ) -> Units | None:
        """The per-example statistics of an evaluation stage made before stilts kept them, from its
        stored predictions and the same evaluation records, also written into the stage (derived
        data: its scores and predictions are untouched; a read-only cache only costs the saving)."""
        metrics = [self.catalog.metric(name) for name in task.metrics]
        stats = None
        main = main_metric_of(task.main_metric, metrics)
        if main is not None and has_unit_statistics(main):
            task_type = self.catalog.task_type(task.task_type)
            records, _ = self.load_split(task, "eval", lang, config.get("max_eval_examples"))
            predictions = json.loads((folder / "predictions.json").read_text(encoding="utf-8"))
            references = task_type.references(task, records)
            stats = main_units(task.main_metric, metrics, predictions, references, lang, scores[task.main_metric])
        try:
            write_json_atomic(folder / UNITS_FILE, {"units": stats})
        except OSError as exc:
            log.warning("cannot save the per-example statistics into %s (%s)", folder, exc)
        return stats

    # -- cells -----------------------------------------------------------------------------
    def run_cell(self, cell: Cell) -> Path:
        exp = self.experiment
        target_task = self.task(cell.target.task)
        target_type = self.catalog.task_type(target_task.task_type)
        stages: list[StageRecord] = []
        data: list[dict[str, Any]] = []
        start_ref, start_id = self.base_ref, f"{self.adapter_name}:{self.adapter.fingerprint(self.base_ref)}"
        config = exp.cell_config(self.catalog, cell)  # what the cell runs; what it found is added below
        config["model_fingerprint"] = start_id
        group = exp.groups.get(cell.intermediate)
        if group is not None:
            start_ref, record, inter_dev, inter_data, _group_cfg = self.groups.multitask_stage(
                group, start_ref, start_id, cell.seed
            )
            start_id = f"stage:intermediate:{record.hash}"
            stages.append(record)
            data += inter_data
            config["intermediate"]["dev"] = inter_dev
        elif cell.intermediate != BASELINE:
            inter_task = self.task(cell.intermediate)
            inter_cfg = exp.training(inter_task, "intermediate")
            start_ref, record, inter_dev, inter_data, _labels = self.train_stage(
                "intermediate", inter_task, start_ref, start_id, inter_cfg, cell.seed
            )
            start_id = f"stage:intermediate:{record.hash}"
            stages.append(record)
            data += inter_data
            config["intermediate"]["dev"] = inter_dev
        target_cfg = exp.training(target_task, "target", cell.target)
        dev: dict[str, float] = {}
        model_ref, model_id = start_ref, start_id
        langs = [
            lang
            for lang in self.eval_languages(target_task, cell.target)
            if lang not in self.skipped.get(target_task.name, [])
        ]
        trained: StageRecord | None = None
        if target_type.trainable:
            dev_languages = (
                self.eval_languages(target_task, cell.target) if target_cfg["selection"] == "target_dev" else None
            )
            train_args = ("target", target_task, start_ref, start_id, target_cfg, cell.seed, dev_languages)
            model_ref, trained, dev, target_data, labels = self.train_stage(*train_args)
            if target_task.labels_from_train:
                target_task = target_task.with_labels(labels)
            model_id = f"stage:target:{trained.hash}"
            if self.store.weights_pruned(trained) and not all(
                self.store.is_done(self.eval_key(target_task, model_id, lang, target_cfg)) for lang in langs
            ):  # an evaluation needs the pruned weights: train the stage again (stages are deterministic)
                self.store.discard(trained)
                model_ref, trained, dev, target_data, labels = self.train_stage(*train_args)
            stages.append(trained)
            data += target_data
        languages: dict[str, dict[str, float]] = {}
        handle_cache: dict[str, ModelHandle] = {}
        config["target"]["languages"] = langs
        units: dict[str, Units] = {}
        for lang in langs:
            scores, record, provenance, stats = self.eval_stage(
                target_task, model_ref, model_id, lang, target_cfg, handle_cache
            )
            languages[lang] = scores
            if stats is not None:
                units[lang] = stats
            stages.append(record)
            data += provenance
            self.reporter.language_scored(
                task=target_task.name,
                lang=lang,
                metric=target_task.main_metric,
                value=scores[target_task.main_metric],
                cached=record.reused,
            )
        path = self.write_cell_result(cell, target_task, languages, dev, config, stages, data, target_cfg, units)
        if trained is not None and self.prune_target_weights:
            self.store.prune_weights(trained)
        return path

    def write_cell_result(
        self,
        cell: Cell,
        task: TaskSpec,
        languages: dict[str, dict[str, float]],
        dev: dict[str, float],
        config: dict[str, Any],
        stages: list[StageRecord],
        data: list[dict[str, Any]],
        target_cfg: dict[str, Any],
        units: dict[str, Units] | None = None,
    ) -> Path:
        """Write the cell's result file. ``units``: per language, the main score's per-example
        statistics (for the leaderboard's bootstrap intervals)."""
        import torch

        from harness.provenance import device_description, git_revision, package_versions

        exp = self.experiment
        method = exp.cell_method(target_cfg)
        path = self.cell_result_path(cell)
        cell_id = path.stem
        settings = self.settings(task, target_cfg)
        result = {
            "schema_version": SCHEMA_VERSION,
            "experiment": exp.name,
            "cell": {
                "id": cell_id,
                "model": exp.model_label,
                "method": method,
                "intermediate": cell.intermediate,
                "target": task.name,
                "seed": cell.seed,
                "selection": target_cfg["selection"],
                "zero_shot": target_cfg["selection"] == "english_dev",
            },
            "task": {
                "name": task.name,
                "version": task.version,
                "task_type": task.task_type,
                "main_metric": task.main_metric,
                "train_language": task.train_language,
                "aggregation": task.aggregation,
            },
            "languages": languages,
            "skipped_languages": self.skipped.get(task.name, []),
            "aggregate": aggregate(languages, task.main_metric, task.aggregation, task.train_language),
            "dev": dev,
            "units": units or {},
            "config": config,
            "config_hash": content_hash(config, length=20),
            "stages": [asdict(s) for s in stages],
            "data": data,
            "runtime": {
                "device": device_description(self.device),
                "precision": settings.precision,
                "threads": torch.get_num_threads(),
                "batch_size": target_cfg.get("batch_size"),
                "versions": package_versions(),
                "git_revision": git_revision(),
            },
            "rerun": {
                "experiment_file": str(exp.path.resolve()),
                "experiment": exp.for_cell(cell),
                "data_dir": str(self.resolver.data_dir),
            },
            "wall_time_s": round(sum(s.wall_time_s for s in stages), 3),
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        return write_result(path, result)

    def cell_result_path(self, cell: Cell) -> Path:
        """``<results>/<experiment>/<cell id>.json``."""
        exp = self.experiment
        target_cfg = exp.training(self.task(cell.target.task), "target", cell.target)
        return self.results_dir / exp.name / f"{cell.id(exp.model_label, exp.cell_method(target_cfg))}.json"

    def stage_estimate(self, cells: Sequence[Cell]) -> dict[str, int]:
        """How many distinct stages of each kind ``cells`` go through (cached ones included): an
        intermediate stage per (intermediate, seed), a target stage per cell whose target task
        trains, an evaluation per cell and language."""
        intermediate = {(cell.intermediate, cell.seed) for cell in cells if cell.intermediate != BASELINE}
        target = evals = 0
        for cell in cells:
            task = self.task(cell.target.task)
            target += self.catalog.task_type(task.task_type).trainable
            skipped = self.skipped.get(task.name, [])
            evals += sum(lang not in skipped for lang in self.eval_languages(task, cell.target))
        return {"intermediate": len(intermediate), "target": target, "eval": evals}

    def run(self) -> list[Path]:
        problems = self.preflight()
        if problems:
            raise MissingResourcesError(problems)
        for task_name, langs in self.skipped.items():
            self.reporter.message(f"skipping {task_name} languages without data: {', '.join(langs)}", level="warning")
        started = time.monotonic()
        paths = []
        cells = self.experiment.cells()
        self.reporter.run_started(
            experiment=self.experiment.name, cells=len(cells), stage_estimate=self.stage_estimate(cells)
        )
        for i, cell in enumerate(cells, start=1):
            self.reporter.cell_started(index=i, total=len(cells), cell=cell)
            path = self.run_cell(cell)
            self.reporter.cell_finished(cell=cell, result_path=path)
            paths.append(path)
        self.reporter.run_finished(result_paths=paths, wall_s=time.monotonic() - started)
        return paths


def hub_model_cached(ref: ModelRef) -> bool:
    """True when the hub model's files are in the local Hugging Face cache."""
    try:
        from huggingface_hub import snapshot_download

        snapshot_download(ref.id, revision=ref.revision, local_files_only=True)
    except Exception:
        return False
    return True
