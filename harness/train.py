"""One training routine for every trainable task type, on transformers' Trainer.

The fast path is the default: dynamic padding (the task type's collator), length-grouped
batches (``train_sampling_strategy="group_by_length"``) and bf16 autocast where the hardware
supports it. Model selection: after every epoch the task type predicts the dev split and the
task's main metric decides which epoch's weights are kept (the study selects on English dev).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.interfaces import Metric, ModelHandle, RunSettings, TaskType
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
    from transformers import Trainer, TrainerCallback, TrainingArguments, set_seed

    set_seed(seed)
    tokenizer = handle.tokenizer
    model = handle.adapter.prepare_for_training(handle.model, config["method"])
    handle.use_model(model)  # dev predictions during training must see the model being trained
    features = task_type.encode(task, train_records, tokenizer, config["max_length"])
    on_cpu = eval_settings.device == "cpu"
    batch, accumulation = config["batch_size"], config["gradient_accumulation_steps"]
    steps_per_epoch = math.ceil(len(features) / (batch * accumulation))
    report = TrainReport(examples=len(features), steps=0, epochs=config["epochs"])
    main = task.main_metric
    sign = 1.0 if all(m.higher_is_better for m in metrics) else -1.0
    best: dict[str, Any] = {"score": -math.inf, "state": None}

    class SelectOnDev(TrainerCallback):
        def on_epoch_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if not dev_records:
                return
            predictions = task_type.predict(task, handle, dev_records, eval_settings)
            scores = score(task, metrics, predictions, task_type.references(task, dev_records), task.train_language)
            report.dev_scores.append(scores)
            epoch = len(report.dev_scores)
            log.info("epoch %d dev %s", epoch, {k: round(v, 3) for k, v in scores.items()})
            if sign * scores[main] > best["score"]:
                best["score"] = sign * scores[main]
                best["state"] = {k: v.detach().clone() for k, v in model.state_dict().items()}
                report.best_epoch = epoch
            model.train()

    args = TrainingArguments(
        output_dir=str(work_dir / "trainer"),
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
        save_strategy="no",
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
        callbacks=[SelectOnDev()],
    )
    output = trainer.train()
    report.steps = output.global_step
    report.train_seconds = round(output.metrics.get("train_runtime", 0.0), 3)
    report.examples_per_second = round(output.metrics.get("train_samples_per_second", 0.0), 2)
    if best["state"] is not None and report.best_epoch != len(report.dev_scores):
        log.info("restoring weights of epoch %s (best dev %s)", report.best_epoch, main)
        model.load_state_dict(best["state"])
    for line in trainer.state.log_history:
        log.info("trainer %s", line)
    del trainer
    handle.use_model(handle.adapter.finish_training(model, config["method"]))
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return report
