"""One training routine for every trainable task type, on transformers' Trainer.

The fast path is the default: dynamic padding (the task type's collator), length-grouped
batches (``train_sampling_strategy="group_by_length"``) and bf16 autocast where the hardware
supports it. Model selection: after every epoch the task type predicts the dev split and the
task's main metric decides which epoch's weights are kept (the study selects on English dev).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.interfaces import Metric, ModelHandle, RunSettings, TaskType
from harness.stages import CHECKPOINTS
from harness.tasks import TaskSpec

log = logging.getLogger("stilts.train")


@dataclass
class TrainReport:
    """What a training stage reports (stored in its stage folder and the result)."""

    examples: int
    steps: int
    epochs: float
    best_epoch: int | None = None
    dev_scores: list[dict[str, float]] = field(default_factory=list)
    train_seconds: float = 0.0
    examples_per_second: float = 0.0
    resumed_from_step: int | None = None
    batches_per_task: dict[str, int] = field(default_factory=dict)  # multi-task stages

    @property
    def best_dev(self) -> dict[str, float]:
        if self.best_epoch is None or not self.dev_scores:
            return {}
        return self.dev_scores[self.best_epoch - 1]


def score(task: TaskSpec, metrics: Sequence[Metric], predictions: Any, references: Any,
          language: str | None = None) -> dict[str, float]:
    """Every metric of the task merged into one dict of scores."""
    scores: dict[str, float] = {}
    for metric in metrics:
        scores.update(metric.compute(predictions, references, language=language))
    return scores


def train(
    *,
    task: TaskSpec,
    task_type: TaskType,
    handle: ModelHandle,
    metrics: Sequence[Metric],
    train_records: Sequence[dict],
    dev_records: Sequence[dict] | None,
    config: dict[str, Any],
    eval_settings: RunSettings,
    seed: int,
    work_dir: Path,
    dev_sets: dict[str, Sequence[dict]] | None = None,
) -> TrainReport:
    """Fine-tune ``handle.model`` in place on ``train_records``; keep the best dev epoch.

    Selection uses ``dev_records`` (English dev, the study's zero-shot protocol) or, when
    ``dev_sets`` is given, the mean main score over those languages' dev sets (not zero-shot).
    """
    from transformers import set_seed

    set_seed(seed)
    tokenizer = handle.tokenizer
    model = handle.adapter.prepare_for_training(handle.model, config["method"])
    handle.use_model(model)  # dev predictions during training must see the model being trained
    features = task_type.encode(task, train_records, tokenizer, config["max_length"])
    steps_per_epoch = math.ceil(len(features) / (config["batch_size"] * config["gradient_accumulation_steps"]))
    report = TrainReport(examples=len(features), steps=0, epochs=config["epochs"])

    def score_dev(records: Sequence[dict], lang: str | None) -> dict[str, float]:
        predictions = task_type.predict(task, handle, records, eval_settings)
        return score(task, metrics, predictions, task_type.references(task, records), lang)

    def evaluate() -> dict[str, float] | None:
        if dev_sets:
            per_language = {lang: score_dev(records, lang) for lang, records in dev_sets.items()}
            mean = sum(s[task.main_metric] for s in per_language.values()) / len(per_language)
            return {task.main_metric: mean, **{f"{lang}/{k}": v for lang, s in per_language.items() for k, v in s.items()}}
        if not dev_records:
            return None
        return score_dev(dev_records, task.train_language)

    sign = 1.0 if all(m.higher_is_better for m in metrics) else -1.0
    selection = DevSelection(work_dir, evaluate, task.main_metric, sign, lambda: handle.model, report)
    args = training_arguments(config, eval_settings, seed, work_dir, steps_per_epoch,
                              train_sampling_strategy="group_by_length" if config["length_grouping"] else "random")
    run_trainer(model, args, features, task_type.collator(task, tokenizer), tokenizer, selection, report)
    handle.use_model(handle.adapter.finish_training(model, config["method"]))
    return report


def training_arguments(config: dict[str, Any], settings: RunSettings, seed: int, work_dir: Path, steps_per_epoch: int,
                       **overrides: Any) -> Any:
    """transformers' TrainingArguments for a stage: the fast path (bf16 under ``auto``),
    resumable checkpoints every ``checkpoint_every`` steps, linear warmup/decay."""
    from transformers import TrainingArguments

    on_cpu = settings.device == "cpu"
    values: dict[str, Any] = dict(
        output_dir=str(work_dir / CHECKPOINTS),
        per_device_train_batch_size=config["batch_size"],
        gradient_accumulation_steps=config["gradient_accumulation_steps"],
        learning_rate=config["learning_rate"],
        num_train_epochs=config["epochs"],
        warmup_steps=float(config["warmup_ratio"]),
        weight_decay=config["weight_decay"],
        lr_scheduler_type="linear",
        bf16=settings.precision == "bf16",
        use_cpu=on_cpu,
        save_strategy="steps",
        save_steps=int(config["checkpoint_every"]),
        save_total_limit=1,
        eval_strategy="no",
        logging_strategy="steps",
        logging_steps=max(1, min(50, steps_per_epoch)),
        report_to="none",
        seed=seed,
        data_seed=seed,
        dataloader_pin_memory=not on_cpu,
        disable_tqdm=False,
    )
    values.update(overrides)
    return TrainingArguments(**values)


def run_trainer(model: Any, args: Any, dataset: Any, collator: Any, tokenizer: Any, selection: DevSelection,
                report: TrainReport, **trainer_attrs: Any) -> None:
    """Train with transformers' Trainer, resuming from the stage's last checkpoint if there is
    one, then restore the best dev weights; fills ``report``."""
    import torch
    from transformers import Trainer
    from transformers.trainer_utils import get_last_checkpoint

    checkpoints = Path(args.output_dir)
    last = get_last_checkpoint(str(checkpoints)) if checkpoints.is_dir() else None
    trainer = Trainer(model=model, args=args, train_dataset=dataset, data_collator=collator,
                      processing_class=tokenizer, callbacks=[selection])
    for name, value in trainer_attrs.items():
        setattr(trainer, name, value)
    if last:
        selection.restore(last)
        log.info("resuming from %s", last)
    output = trainer.train(resume_from_checkpoint=last)
    report.steps = output.global_step
    report.train_seconds = round(output.metrics.get("train_runtime", 0.0), 3)
    report.examples_per_second = round(output.metrics.get("train_samples_per_second", 0.0), 2)
    report.resumed_from_step = selection.resumed_from_step
    selection.load_best_weights()
    for line in trainer.state.log_history:
        log.info("trainer %s", line)
    del trainer
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _callback_base() -> type:
    from transformers import TrainerCallback

    return TrainerCallback


class DevSelection(_callback_base()):  # type: ignore[misc]
    """Model selection on dev scores, kept on disk so that an interrupted stage resumes it.

    After every epoch (or every ``every_steps`` steps) ``evaluate`` scores the dev data; the
    ``main`` score decides. A new best's weights go to ``best-<n>.pt``; older best files are
    deleted only once a checkpoint after the new best exists, so any checkpoint finds the best
    weights it knew.
    """

    def __init__(self, work_dir: Path, evaluate: Callable[[], dict[str, float] | None], main: str, sign: float,
                 model: Callable[[], Any], report: TrainReport, every_steps: int | None = None):
        self.work_dir, self.evaluate, self.main, self.sign = work_dir, evaluate, main, sign
        self.model, self.report, self.every_steps = model, report, every_steps
        self.steps: list[int] = []  # global step of each scored evaluation
        self.resumed_from_step: int | None = None

    @property
    def state_file(self) -> Path:
        return self.work_dir / CHECKPOINTS / "selection.json"

    def best_file(self, epoch: int) -> Path:
        return self.work_dir / CHECKPOINTS / f"best-{epoch}.pt"

    def restore(self, checkpoint: str) -> None:
        """Forget evaluations made after ``checkpoint``: training redoes them identically."""
        step = int(Path(checkpoint).name.rsplit("-", 1)[1])
        self.resumed_from_step = step
        if not self.state_file.is_file():
            return
        saved = json.loads(self.state_file.read_text(encoding="utf-8"))
        kept = [i for i, s in enumerate(saved["steps"]) if s <= step]
        self.steps = [saved["steps"][i] for i in kept]
        self.report.dev_scores = [saved["dev_scores"][i] for i in kept]
        self.report.best_epoch = self._best_epoch()

    def _best_epoch(self) -> int | None:
        if not self.report.dev_scores:
            return None
        values = [self.sign * scores[self.main] for scores in self.report.dev_scores]
        return values.index(max(values)) + 1  # the first evaluation reaching the best score

    def _select(self, state: Any) -> None:
        scores = self.evaluate()
        if scores is None:
            return
        import torch

        self.report.dev_scores.append(scores)
        self.steps.append(state.global_step)
        epoch = len(self.report.dev_scores)
        log.info("epoch %d (step %d) dev %s", epoch, state.global_step, {k: round(v, 3) for k, v in scores.items()})
        if self._best_epoch() == epoch:
            self.report.best_epoch = epoch
            torch.save(self.model().state_dict(), self.best_file(epoch))
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        self.state_file.write_text(json.dumps({"steps": self.steps, "dev_scores": self.report.dev_scores}), encoding="utf-8")
        self.model().train()

    def on_epoch_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.every_steps is None:
            self._select(state)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.every_steps is not None and state.global_step % self.every_steps == 0:
            self._select(state)

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        for path in (self.work_dir / CHECKPOINTS).glob("best-*.pt"):
            if path != self.best_file(self.report.best_epoch or 0):
                path.unlink()

    def load_best_weights(self) -> None:
        best = self.report.best_epoch
        if best is None or best == len(self.report.dev_scores):
            return
        import torch

        log.info("restoring weights of evaluation %s (best dev %s)", best, self.main)
        self.model().load_state_dict(torch.load(self.best_file(best), weights_only=True))
