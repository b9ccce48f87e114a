"""Multi-task group stages (shared encoder, continued MLM, translate-train) for the pipeline.

:class:`GroupStages` is given the :class:`harness.pipeline.Pipeline` it builds stages for and
uses its public parts (experiment, catalog, resolver, store, adapter, settings, load_split). The
training itself is :func:`harness.multitask.train_multitask`.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from harness.data import fingerprint_of
from harness.experiment import hashed_training
from harness.interfaces import ModelHandle, ModelRef
from harness.needs import mlm_text_source
from harness.progress import reported_stage
from harness.stages import StageKey, StageRecord, stage_log
from harness.tasks import TaskSpec

if TYPE_CHECKING:  # pragma: no cover - typing only
    from harness.pipeline import Pipeline


class GroupStages:
    """Builds the intermediate stage of a multi-task group for ``pipeline``."""

    def __init__(self, pipeline: Pipeline):
        self.pipeline = pipeline

    def _member(
        self,
        task: TaskSpec,
        records: list[dict[str, Any]],
        dev: list[dict[str, Any]] | None,
        start: ModelRef,
        config: dict[str, Any],
        tokenizer: Any,
        selects: bool = True,
    ) -> Any:
        from harness.multitask import MLM_MEMBER, Member

        task_type = self.pipeline.catalog.task_type(task.task_type)
        handle = ModelHandle(self.pipeline.adapter, start, task_type.head(task))
        if tokenizer is not None:
            handle.__dict__["tokenizer"] = tokenizer  # one tokenizer for all members
        features = task_type.encode(task, records, handle.tokenizer, config["max_length"])
        return Member(
            task.name if selects else MLM_MEMBER,
            task,
            task_type,
            handle,
            features,
            dev,
            [self.pipeline.catalog.metric(m) for m in task.metrics],
            self.pipeline.settings(task, config),
            selects=selects,
        )

    def multitask_stage(
        self, group: dict[str, Any], start: ModelRef, start_id: str, seed: int
    ) -> tuple[ModelRef, StageRecord, dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
        """Train a multi-task group (and its continued MLM) into one shared encoder."""
        from harness.multitask import sampling_weights, train_multitask

        exp = self.pipeline.experiment
        config = exp.group_training(group)
        tasks = [self.pipeline.task(name) for name in group["tasks"]]
        member_cfg = {t.name: {**exp.training(t, "intermediate"), **group.get("training", {})} for t in tasks}
        plans = {
            t.name: (
                self.pipeline.resolver.plan(t, "train", t.train_language or "en"),
                self.pipeline.resolver.plan(t, "dev", t.train_language or "en"),
            )
            for t in tasks
        }
        mlm = group.get("mlm")
        mlm_plans = []
        if mlm:
            text_task, split = mlm_text_source(self.pipeline.catalog, exp, mlm)
            mlm_plans = [self.pipeline.resolver.plan(text_task, split, lang) for lang in mlm["languages"]]
        policy = {"kind": "proportional", **group.get("sampling", {})}
        key = StageKey(
            "intermediate",
            {
                "start": start_id,
                "adapter": self.pipeline.adapter_name,
                "group": {
                    "name": group["name"],
                    "sampling": policy,
                    "steps_per_epoch": group.get("steps_per_epoch"),
                    "mlm": mlm,
                },
                "tasks": [
                    {
                        "task": t.identity(),
                        "max_length": member_cfg[t.name]["max_length"],
                        "data": {"train": fingerprint_of(plans[t.name][0]), "dev": fingerprint_of(plans[t.name][1])},
                    }
                    for t in tasks
                ],
                "mlm_task": self.pipeline.task(mlm.get("task", "mlm")).identity() if mlm else None,
                "mlm_data": [p.fingerprint() for p in mlm_plans if p],
                "translate": self.translation_identity(group, tasks),
                "training": hashed_training(config),
                "precision": self.pipeline.settings(tasks[0], config).precision,
                "seed": seed,
            },
        )
        reused = True
        reporter = self.pipeline.reporter
        detail = (
            f"multi-task: {', '.join(group['tasks'])}"
            + (f" + MLM in {len(mlm['languages'])} languages" if mlm else "")
            + f", seed {seed}"
        )
        with self.pipeline.store.build(key) as work:
            if work is not None:
                reused = False
                with (
                    reported_stage(
                        reporter,
                        kind="intermediate",
                        task=group["name"],
                        hash=key.hash,
                        detail=detail,
                        log=work / "log.txt",
                    ),
                    stage_log(work),
                ):
                    members, tokenizer = [], None
                    extra_provenance: list[dict[str, Any]] = []
                    for task in tasks:
                        lang = task.train_language or "en"
                        records = self.pipeline.load_split(task, "train", lang, config.get("max_train_examples"))[0]
                        if "translate" in group:
                            records, translated = self.translated_train(task, records, group["translate"])
                            extra_provenance += translated
                        if task.labels_from_train:
                            task = task.with_labels(
                                self.pipeline.catalog.task_type(task.task_type).derive_labels(records)
                            )
                        dev = (
                            self.pipeline.load_split(task, "dev", lang, config.get("max_eval_examples"))[0]
                            if plans[task.name][1]
                            else None
                        )
                        member = self._member(task, records, dev, start, member_cfg[task.name], tokenizer)
                        tokenizer = member.handle.tokenizer
                        members.append(member)
                    weights = sampling_weights({m.name: len(m.features) for m in members}, policy)
                    ratio = float(mlm.get("ratio", 1.0)) if mlm else 0.0
                    for member in members:
                        member.weight = weights[member.name] / (1.0 + ratio)
                    if mlm:
                        mlm_task = self.pipeline.task(mlm.get("task", "mlm"))
                        texts = self.mlm_texts(mlm)
                        member = self._member(
                            mlm_task,
                            [{"text": text} for text in texts],
                            None,
                            start,
                            {**exp.training(mlm_task, "intermediate"), **group.get("training", {})},
                            tokenizer,
                            selects=False,
                        )
                        member.weight = ratio / (1.0 + ratio)
                        members.append(member)
                    report = train_multitask(
                        members,
                        self.pipeline.adapter,
                        config,
                        members[0].settings,
                        policy,
                        group.get("steps_per_epoch"),
                        seed,
                        work,
                        reporter=reporter,
                    )
                    self.pipeline.adapter.save(members[0].handle.model, tokenizer, work / "model", encoder_only=True)
                    provenance = [p.provenance() for pair in plans.values() for p in pair if p]
                    provenance += [p.provenance() for p in mlm_plans if p] + extra_provenance
                    (work / "report.json").write_text(
                        json.dumps(
                            {"report": asdict(report), "best_dev": report.best_dev, "data": provenance, "labels": []},
                            indent=2,
                        ),
                        encoding="utf-8",
                    )
        folder = self.pipeline.store.path(key)
        saved = json.loads((folder / "report.json").read_text(encoding="utf-8"))
        wall_s = self.pipeline.store.info(key)["wall_time_s"]
        record = StageRecord("intermediate", key.hash, str(folder), wall_s, reused)
        reporter.stage_finished(
            kind="intermediate", task=group["name"], hash=key.hash, wall_s=wall_s, reused=reused, detail=detail
        )
        return ModelRef(str(folder / "model")), record, saved["best_dev"], saved["data"], config

    def translation_identity(self, group: dict[str, Any], tasks: list[TaskSpec]) -> dict[str, Any] | None:
        """What determines a group's translated data (for its stage hash): per task and language,
        the translate_train files' fingerprint, or the provider and its options."""
        translate = group.get("translate")
        if not translate:
            return None
        sources: dict[str, Any] = {}
        for task in tasks:
            for lang in translate["languages"]:
                plan = self.pipeline.resolver.plan(task, "translate_train", lang)
                if plan is not None and not self.pipeline.resolver.missing(task, "translate_train", lang):
                    sources[f"{task.name}/{lang}"] = plan.fingerprint()
                else:
                    provider = self.pipeline.catalog.translator(translate["provider"])
                    sources[f"{task.name}/{lang}"] = {
                        "provider": translate["provider"],
                        "fingerprint": provider.fingerprint(translate.get("options", {})),
                    }
        return {"keep_english": translate.get("keep_english", True), "sources": sources}

    def translated_train(
        self, task: TaskSpec, records: list[dict[str, Any]], translate: dict[str, Any]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The task's English training records plus (or replaced by) their translations."""
        from harness.translate import provider_translation

        out = list(records) if translate.get("keep_english", True) else []
        provenance = []
        limit = len(records)
        for lang in translate["languages"]:
            if not self.pipeline.resolver.missing(task, "translate_train", lang):
                loaded = self.pipeline.resolver.load(task, "translate_train", lang, limit)
                out += loaded.records
                provenance.append(loaded.plan.provenance())
                continue
            provider_name = translate["provider"]
            translated, info = provider_translation(
                task,
                self.pipeline.catalog.task_type(task.task_type),
                records,
                lang,
                self.pipeline.catalog.translator(provider_name),
                provider_name,
                translate.get("options", {}),
                self.pipeline.store.root / "translations",
            )
            out += translated
            provenance.append(info)
        return out, provenance

    def mlm_texts(self, mlm: dict[str, Any]) -> list[str]:
        """Continued-MLM text: every language's lines (a text_from task: the distinct strings of
        its records, never labels), at most ``max_examples_per_language`` per language."""
        text_task, split = mlm_text_source(self.pipeline.catalog, self.pipeline.experiment, mlm)
        limit = mlm.get("max_examples_per_language")
        texts: list[str] = []
        for lang in mlm["languages"]:
            records = self.pipeline.load_split(text_task, split, lang, None)[0]
            seen: dict[str, None] = {}
            for record in records:
                for name, value in record.items():
                    if name not in ("label", "id") and isinstance(value, str) and value.strip():
                        seen.setdefault(value.strip(), None)
            texts += list(seen)[:limit] if limit else list(seen)
        return texts
