"""Multi-task group stages (shared encoder, continued MLM, translate-train).

:class:`GroupTrainer` builds what :mod:`harness.planning` planned (a
:class:`~harness.planning.GroupWork`): it reads the members' data, translations and MLM text and
hands them to :func:`harness.multitask.train_multitask`. The stage's key is the planner's.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from harness.interfaces import ModelHandle, ModelRef
from harness.needs import mlm_text_source
from harness.planning import GroupWork, mlm_config
from harness.run_context import RunContext
from harness.tasks import TaskSpec


class GroupTrainer:
    """Trains the intermediate stage of a multi-task group of the experiment of ``ctx``."""

    def __init__(self, ctx: RunContext):
        self.ctx = ctx

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

        task_type = self.ctx.catalog.task_type(task.task_type)
        handle = ModelHandle(self.ctx.adapter, start, task_type.head(task))
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
            [self.ctx.catalog.metric(m) for m in task.metrics],
            self.ctx.settings(task, config),
            selects=selects,
        )

    def train(self, work: GroupWork, start: ModelRef, work_dir: Path) -> dict[str, Any]:
        """Train the group of ``work`` from ``start`` into one shared encoder saved in
        ``work_dir/model``; returns what the stage's ``report.json`` holds."""
        from harness.multitask import sampling_weights, train_multitask

        ctx, group, config = self.ctx, work.group, work.config
        mlm = group.get("mlm")
        members, tokenizer = [], None
        extra_provenance: list[dict[str, Any]] = []
        for task in work.tasks:
            lang = task.train_language or "en"
            records = ctx.load_split(task, "train", lang, config.get("max_train_examples"))[0]
            if "translate" in group:
                records, translated = self.translated_train(task, records, group["translate"])
                extra_provenance += translated
            if task.labels_from_train:
                task = task.with_labels(ctx.catalog.task_type(task.task_type).derive_labels(records))
            dev = (
                ctx.load_split(task, "dev", lang, config.get("max_eval_examples"))[0]
                if work.plans[task.name][1]
                else None
            )
            member = self._member(task, records, dev, start, work.member_config[task.name], tokenizer)
            tokenizer = member.handle.tokenizer
            members.append(member)
        weights = sampling_weights({m.name: len(m.features) for m in members}, work.policy)
        ratio = float(mlm.get("ratio", 1.0)) if mlm else 0.0
        for member in members:
            member.weight = weights[member.name] / (1.0 + ratio)
        if mlm:
            mlm_task = ctx.task(mlm.get("task", "mlm"))
            texts = self.mlm_texts(mlm)
            member = self._member(
                mlm_task,
                [{"text": text} for text in texts],
                None,
                start,
                mlm_config(ctx, group),
                tokenizer,
                selects=False,
            )
            member.weight = ratio / (1.0 + ratio)
            members.append(member)
        report = train_multitask(
            members,
            ctx.adapter,
            config,
            members[0].settings,
            work.policy,
            group.get("steps_per_epoch"),
            work.seed,
            work_dir,
            reporter=ctx.reporter,
        )
        ctx.adapter.save(members[0].handle.model, tokenizer, work_dir / "model", encoder_only=True)
        provenance = [p.provenance() for pair in work.plans.values() for p in pair if p]
        provenance += [p.provenance() for p in work.mlm_plans] + extra_provenance
        return {"report": asdict(report), "best_dev": report.best_dev, "data": provenance, "labels": []}

    def translated_train(
        self, task: TaskSpec, records: list[dict[str, Any]], translate: dict[str, Any]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The task's English training records plus (or replaced by) their translations."""
        from harness.translate import provider_translation

        out = list(records) if translate.get("keep_english", True) else []
        provenance = []
        limit = len(records)
        for lang in translate["languages"]:
            if not self.ctx.resolver.missing(task, "translate_train", lang):
                loaded = self.ctx.resolver.load(task, "translate_train", lang, limit)
                out += loaded.records
                provenance.append(loaded.plan.provenance())
                continue
            provider_name = translate["provider"]
            translated, info = provider_translation(
                task,
                self.ctx.catalog.task_type(task.task_type),
                records,
                lang,
                self.ctx.catalog.translator(provider_name),
                provider_name,
                translate.get("options", {}),
                self.ctx.store.root / "translations",
                self.ctx.hub,
            )
            out += translated
            provenance.append(info)
        return out, provenance

    def mlm_texts(self, mlm: dict[str, Any]) -> list[str]:
        """Continued-MLM text: every language's lines (a text_from task: the distinct strings of
        its records, never labels), at most ``max_examples_per_language`` per language."""
        text_task, split = mlm_text_source(self.ctx.catalog, self.ctx.experiment, mlm)
        limit = mlm.get("max_examples_per_language")
        texts: list[str] = []
        for lang in mlm["languages"]:
            records = self.ctx.load_split(text_task, split, lang, None)[0]
            seen: dict[str, None] = {}
            for record in records:
                for name, value in record.items():
                    if name not in ("label", "id") and isinstance(value, str) and value.strip():
                        seen.setdefault(value.strip(), None)
            texts += list(seen)[:limit] if limit else list(seen)
        return texts
