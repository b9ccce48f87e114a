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
from collections.abc import Sequence
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
) -> TrainReport:
    """Fine-tune ``handle.model`` in place on ``train_records``; keep the best dev epoch."""
    import torch
    from transformers import Trainer, TrainingArguments, set_seed
    from transformers.trainer_utils import get_last_checkpoint

    set_seed(seed)
    tokenizer = handle.tokenizer
    model = handle.adapter.prepare_for_training(handle.model, config["method"])
    handle.use_model(model)  # dev predictions during training must see the model being trained
    features = task_type.encode(task, train_records, tokenizer, config["max_length"])
    on_cpu = eval_settings.device == "cpu"
    batch, accumulation = config["batch_size"], config["gradient_accumulation_steps"]
    steps_per_epoch = math.ceil(len(features) / (batch * accumulation))
    report = TrainReport(examples=len(features), steps=0, epochs=config["epochs"])
    selection = DevSelection(work_dir, task, task_type, handle, metrics, dev_records, eval_settings, report)
    checkpoints = work_dir / CHECKPOINTS
    last = get_last_checkpoint(str(checkpoints)) if checkpoints.is_dir() else None

    args = TrainingArguments(
        output_dir=str(checkpoints),
        per_device_train_batch_size=batch,
        gradient_accumulation_steps=accumulation,
        learning_rate=config["learning_rate"],
        num_train_epochs=config["epochs"],
        warmup_steps=float(config["warmup_ratio"]),
        weight_decay=config["weight_decay"],
        lr_scheduler_type="linear",
        bf16=eval_settings.precision == "bf16",
        use_cpu=on_cpu,
        train_sampling_strategy="group_by_length" if config["length_grouping"] else "random",
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
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=features,
        data_collator=task_type.collator(task, tokenizer),
        processing_class=tokenizer,
        callbacks=[selection],
    )
    if last:
        selection.restore(last)
        log.info("resuming from %s", last)
    output = trainer.train(resume_from_checkpoint=last)
    report.steps = output.global_step
    report.train_seconds = round(output.metrics.get("train_runtime", 0.0), 3)
    report.examples_per_second = round(output.metrics.get("train_samples_per_second", 0.0), 2)
    report.resumed_from_step = selection.resumed_from_step
    selection.load_best_weights(model)
    for line in trainer.state.log_history:
        log.info("trainer %s", line)
    del trainer
    handle.use_model(handle.adapter.finish_training(model, config["method"]))
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return report


def _callback_base() -> type:
    from transformers import TrainerCallback

    return TrainerCallback


class DevSelection(_callback_base()):  # type: ignore[misc]
    """Model selection on the dev split, kept on disk so that an interrupted stage resumes it.

    After every epoch the dev split is predicted and scored (with the training step). A new
    best epoch's weights go to ``best-<epoch>.pt``; older best files are deleted only once a
    checkpoint after the new best exists, so any checkpoint finds the best weights it knew.
    """

    def __init__(self, work_dir: Path, task: TaskSpec, task_type: TaskType, handle: ModelHandle,
                 metrics: Sequence[Metric], dev_records: Sequence[dict] | None, settings: RunSettings,
                 report: TrainReport):
        self.work_dir, self.task, self.task_type, self.handle = work_dir, task, task_type, handle
        self.metrics, self.dev_records, self.settings, self.report = metrics, dev_records, settings, report
        self.sign = 1.0 if all(m.higher_is_better for m in metrics) else -1.0
        self.steps: list[int] = []  # global step at the end of each scored epoch
        self.resumed_from_step: int | None = None

    @property
    def state_file(self) -> Path:
        return self.work_dir / CHECKPOINTS / "selection.json"

    def best_file(self, epoch: int) -> Path:
        return self.work_dir / CHECKPOINTS / f"best-{epoch}.pt"

    def restore(self, checkpoint: str) -> None:
        """Forget epochs scored after ``checkpoint``: training redoes them identically."""
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
        main = self.task.main_metric
        if not self.report.dev_scores:
            return None
        values = [self.sign * scores[main] for scores in self.report.dev_scores]
        return values.index(max(values)) + 1  # the first epoch reaching the best score

    def on_epoch_end(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        if not self.dev_records:
            return
        import torch

        predictions = self.task_type.predict(self.task, self.handle, self.dev_records, self.settings)
        references = self.task_type.references(self.task, self.dev_records)
        scores = score(self.task, self.metrics, predictions, references, self.task.train_language)
        self.report.dev_scores.append(scores)
        self.steps.append(state.global_step)
        epoch = len(self.report.dev_scores)
        log.info("epoch %d dev %s", epoch, {k: round(v, 3) for k, v in scores.items()})
        if self._best_epoch() == epoch:
            self.report.best_epoch = epoch
            torch.save(self.handle.model.state_dict(), self.best_file(epoch))
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        self.state_file.write_text(json.dumps({"steps": self.steps, "dev_scores": self.report.dev_scores}), encoding="utf-8")
        self.handle.model.train()

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        for path in (self.work_dir / CHECKPOINTS).glob("best-*.pt"):
            if path != self.best_file(self.report.best_epoch or 0):
                path.unlink()

    def load_best_weights(self, model: Any) -> None:
        best = self.report.best_epoch
        if best is None or best == len(self.report.dev_scores):
            return
        import torch

        log.info("restoring weights of epoch %s (best dev %s)", best, self.task.main_metric)
        model.load_state_dict(torch.load(self.best_file(best), weights_only=True))
