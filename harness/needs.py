"""The one list of data splits an experiment (or a task) reads.

The offline preflight, ``stilts prefetch`` and ``stilts tasks show`` all ask this module, so a
split kind added to the pipeline (``tune`` for BUCC, ``translate_train``, continued-MLM text)
cannot be forgotten by one of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from harness.experiment import BASELINE, Experiment
from harness.registry import Catalog
from harness.tasks import TaskSpec


@dataclass(frozen=True)
class SplitNeed:
    """One (task, split, language) that a run reads.

    ``optional``: read only when a source defines it (a dev split). ``eval_language``: an
    evaluation language's split, which ``missing_languages: skip`` may skip. ``provider``: the
    translation provider that translates the English records when the split has no files.
    ``used_by``: which part of the experiment reads it (for messages).
    """

    task: TaskSpec
    split: str
    lang: str
    used_by: str
    optional: bool = False
    eval_language: bool = False
    provider: str | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return self.task.name, self.split, self.lang


def training_needs(task: TaskSpec, used_by: str) -> list[SplitNeed]:
    """A trained task's train split and its (optional) dev split, in the training language."""
    lang = task.train_language or "en"
    return [SplitNeed(task, "train", lang, used_by), SplitNeed(task, "dev", lang, used_by, optional=True)]


def evaluation_needs(catalog: Catalog, task: TaskSpec, languages: Iterable[str], used_by: str) -> list[SplitNeed]:
    """The eval split of every language, and its tune split where the task type tunes on one."""
    tunes = catalog.task_type(task.task_type).tune_split
    out = []
    for lang in languages:
        out.append(SplitNeed(task, "eval", lang, used_by, eval_language=True))
        if tunes:
            out.append(SplitNeed(task, "tune", lang, used_by, eval_language=True))
    return out


def task_needs(catalog: Catalog, task: TaskSpec) -> list[SplitNeed]:
    """Every split a task defines for its languages (``stilts tasks show``): training splits when
    its type trains, eval/tune per evaluation language, and translate_train where defined."""
    out = training_needs(task, task.name) if catalog.task_type(task.task_type).trainable else []
    out += evaluation_needs(catalog, task, task.eval_languages, task.name)
    out += [SplitNeed(task, "translate_train", lang, task.name, optional=True) for lang in task.eval_languages]
    return out


def experiment_needs(catalog: Catalog, exp: Experiment) -> list[SplitNeed]:
    """Every split any cell of ``exp`` reads, each once, in the order the run reads them."""
    found: dict[tuple[str, str, str], SplitNeed] = {}

    def add(needs: Iterable[SplitNeed]) -> None:
        for need in needs:
            found.setdefault(need.key, need)

    for name in exp.intermediate:
        if name == BASELINE:
            continue
        group = exp.groups.get(name)
        tasks = [exp.task(catalog, n) for n in group["tasks"]] if group else [exp.task(catalog, name)]
        for task in tasks:
            add(training_needs(task, f"intermediate {name}"))
        translate = group.get("translate") if group else None
        if translate:
            add(
                SplitNeed(
                    task, "translate_train", lang, f"group {name} (translate-train)", provider=translate.get("provider")
                )
                for task in tasks
                for lang in translate["languages"]
            )
        if group and "mlm" in group:
            text_task, split = mlm_text_source(catalog, exp, group["mlm"])
            add(
                SplitNeed(text_task, split, lang, f"group {name} (continued MLM text)")
                for lang in group["mlm"]["languages"]
            )
    for target in exp.targets:
        task = exp.task(catalog, target.task)
        if catalog.task_type(task.task_type).trainable:
            add(training_needs(task, f"target {task.name}"))
        add(evaluation_needs(catalog, task, target.languages or task.eval_languages, f"target {task.name}"))
    return list(found.values())


def mlm_text_source(catalog: Catalog, exp: Experiment, mlm: dict) -> tuple[TaskSpec, str]:
    """The task and split whose text feeds a group's continued MLM (``text_from``, else the
    ``mlm`` task's train split)."""
    if "text_from" in mlm:
        return exp.task(catalog, mlm["text_from"]["task"]), mlm["text_from"].get("split", "eval")
    return exp.task(catalog, mlm.get("task", "mlm")), "train"
