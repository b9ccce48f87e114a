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
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.atomic import write_atomic, write_json_atomic
from harness.checkpoints import checkpoint_step, keep_only, last_complete_checkpoint, mark_complete
from harness.interfaces import Metric, ModelHandle, RunSettings, TaskType, score_direction
from harness.progress import RunReporter
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


def score(
    task: TaskSpec, metrics: Sequence[Metric], predictions: Any, references: Any, language: str | None = None
) -> dict[str, float]:
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
    reporter: RunReporter | None = None,
) -> TrainReport:
    """Fine-tune ``handle.model`` in place on ``train_records``; keep the best dev epoch.

    Selection uses ``dev_records`` (English dev, the study's zero-shot protocol) or, when
    ``dev_sets`` is given, the mean main score over those languages' dev sets (not zero-shot).
    The main metric's declared direction (:attr:`Metric.higher_is_better`) decides what "best" is.
    ``reporter`` receives the steps, loss and throughput (:class:`ReportProgress`).
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
            return {
                task.main_metric: mean,
                **{f"{lang}/{k}": v for lang, s in per_language.items() for k, v in s.items()},
            }
        if not dev_records:
            return None
        return score_dev(dev_records, task.train_language)

    higher = score_direction(metrics, task.main_metric)
    selection = DevSelection(work_dir, evaluate, task.main_metric, higher, lambda: handle.model, report)
    total_steps = math.ceil(steps_per_epoch * float(config["epochs"]))
    args = training_arguments(
        config,
        eval_settings,
        seed,
        work_dir,
        steps_per_epoch,
        total_steps,
        train_sampling_strategy="group_by_length" if config["length_grouping"] else "random",
    )
    run_trainer(
        model,
        args,
        features,
        task_type.collator(task, tokenizer),
        tokenizer,
        selection,
        report,
        reporter=reporter,
        examples_per_step=config["batch_size"] * config["gradient_accumulation_steps"],
    )
    handle.use_model(handle.adapter.finish_training(model, config["method"]))
    return report


def warmup_steps(warmup_ratio: float, total_steps: int) -> int:
    """Linear warmup length in optimizer steps: ``ceil(ratio * total)`` (``warmup_ratio: 1``
    warms up over the whole run; transformers would read a float 1.0 as one step)."""
    return math.ceil(float(warmup_ratio) * total_steps)


def training_arguments(
    config: dict[str, Any],
    settings: RunSettings,
    seed: int,
    work_dir: Path,
    steps_per_epoch: int,
    total_steps: int,
    **overrides: Any,
) -> Any:
    """transformers' TrainingArguments for a stage: the fast path (bf16 under ``auto``),
    resumable checkpoints every ``checkpoint_every`` steps, linear warmup over
    ``warmup_ratio`` of ``total_steps``, then linear decay.

    Old checkpoints are not rotated by Trainer (``save_total_limit=None``): :class:`DevSelection`
    deletes them only after a newer checkpoint is complete (:mod:`harness.checkpoints`).
    Trainer's own tqdm bar follows transformers' progress-bar switch
    (``transformers.utils.logging.disable_progress_bar()``, which ``stilts run`` flips unless
    ``--verbose``); its log dicts go to the stage's ``log.txt``, not to the console.
    """
    from transformers import TrainingArguments
    from transformers.utils import logging as hf_logging

    from harness.distributed import world_size

    on_cpu = settings.device == "cpu"
    processes = world_size()
    if config["batch_size"] % processes:
        raise ValueError(
            f"batch_size {config['batch_size']} cannot be split evenly over {processes} data-parallel processes"
        )
    values: dict[str, Any] = dict(
        output_dir=str(work_dir / CHECKPOINTS),
        per_device_train_batch_size=config["batch_size"] // processes,  # the global batch stays batch_size
        gradient_accumulation_steps=config["gradient_accumulation_steps"],
        learning_rate=config["learning_rate"],
        num_train_epochs=config["epochs"],
        warmup_steps=warmup_steps(config["warmup_ratio"], total_steps),
        weight_decay=config["weight_decay"],
        lr_scheduler_type="linear",
        bf16=settings.precision == "bf16",
        use_cpu=on_cpu,
        save_strategy="steps",
        save_steps=int(config["checkpoint_every"]),
        save_total_limit=None,
        eval_strategy="no",
        logging_strategy="steps",
        logging_steps=max(1, min(50, steps_per_epoch)),
        report_to="none",
        seed=seed,
        data_seed=seed,
        dataloader_pin_memory=not on_cpu,
        disable_tqdm=not hf_logging.is_progress_bar_enabled(),
    )
    if processes > 1:
        values["ddp_backend"] = "gloo" if on_cpu else "nccl"
    values.update(overrides)
    return TrainingArguments(**values)


def run_trainer(
    model: Any,
    args: Any,
    dataset: Any,
    collator: Any,
    tokenizer: Any,
    selection: DevSelection,
    report: TrainReport,
    reporter: RunReporter | None = None,
    examples_per_step: float | None = None,
    **trainer_attrs: Any,
) -> None:
    """Train with transformers' Trainer, resuming from the stage's last *complete* checkpoint if
    there is one, then restore the best dev weights; fills ``report``. ``reporter`` receives
    every optimizer step (:class:`ReportProgress`; ``examples_per_step`` turns steps into
    examples per second, default: the per-device batch size times gradient accumulation)."""
    import torch
    from transformers import Trainer
    from transformers.trainer_callback import PrinterCallback

    last = last_complete_checkpoint(Path(args.output_dir))
    if examples_per_step is None:
        examples_per_step = args.per_device_train_batch_size * args.gradient_accumulation_steps
    callbacks: list[Any] = [selection] if reporter is None else [ReportProgress(reporter, examples_per_step), selection]
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=dataset,
        data_collator=collator,
        processing_class=tokenizer,
        callbacks=callbacks,
    )
    # without tqdm, Trainer prints its log dicts to stdout; they are in the stage's log.txt (below)
    trainer.remove_callback(PrinterCallback)
    for name, value in trainer_attrs.items():
        setattr(trainer, name, value)
    if last:
        selection.restore(last)
        log.info("resuming from %s", last)
    output = trainer.train(resume_from_checkpoint=str(last) if last else None)
    report.steps = output.global_step
    report.train_seconds = round(output.metrics.get("train_runtime", 0.0), 3)
    report.examples_per_second = round(output.metrics.get("train_samples_per_second", 0.0), 2)
    report.resumed_from_step = selection.resumed_from_step
    if trainer.is_world_process_zero():  # data-parallel ranks > 0 write and select nothing
        selection.load_best_weights(output.global_step)
    for line in trainer.state.log_history:
        log.info("trainer %s", line)
    del trainer
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _callback_base() -> type:
    from transformers import TrainerCallback

    return TrainerCallback


class ReportProgress(_callback_base()):  # type: ignore[misc]
    """Forwards Trainer's optimizer steps, logged loss and throughput to a
    :class:`~harness.progress.RunReporter` (``stage_progress``). It only reads Trainer's state.

    ``examples_per_step``: training examples in one optimizer step (batch size times gradient
    accumulation). Throughput counts the steps made since this process started training, so a
    resumed stage is not credited with its checkpoint's steps.
    """

    def __init__(self, reporter: RunReporter, examples_per_step: float, clock: Callable[[], float] = time.monotonic):
        self.reporter, self.examples_per_step, self.clock = reporter, float(examples_per_step), clock
        self.started, self.first_step = clock(), 0
        self.loss: float | None = None

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.started, self.first_step = self.clock(), state.global_step
        self._report(state)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._report(state)

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if logs and "loss" in logs:
            try:
                self.loss = float(logs["loss"])
            except (TypeError, ValueError):
                return
            self._report(state)

    def _report(self, state: Any) -> None:
        steps, seconds = state.global_step - self.first_step, self.clock() - self.started
        rate = steps * self.examples_per_step / seconds if steps > 0 and seconds > 0 else None
        self.reporter.stage_progress(
            step=state.global_step, total_steps=state.max_steps, loss=self.loss, examples_per_second=rate
        )


class DevSelection(_callback_base()):  # type: ignore[misc]
    """Model selection on dev scores, kept on disk so that an interrupted stage resumes it exactly.

    At the end of every epoch (or every ``every_steps`` steps), and at the last step, ``evaluate``
    scores the dev data and the ``main`` score decides (``higher``: larger is better). The
    evaluation runs in ``on_step_end``, *before* Trainer saves that step's checkpoint, so a
    checkpoint always includes the selection made at its own step: resuming from it never skips
    an evaluation (an epoch boundary is no special case). A new best's weights go to
    ``best-<n>.pt`` and the history to ``selection.json``, both written atomically; on resume,
    evaluations after the checkpoint's step are forgotten and redone identically. Older best
    files and older checkpoints are deleted only once a newer checkpoint is complete.
    """

    def __init__(
        self,
        work_dir: Path,
        evaluate: Callable[[], dict[str, float] | None],
        main: str,
        higher: bool,
        model: Callable[[], Any],
        report: TrainReport,
        every_steps: int | None = None,
    ):
        self.work_dir, self.evaluate, self.main, self.higher = work_dir, evaluate, main, higher
        self.model, self.report, self.every_steps = model, report, every_steps
        self.steps: list[int] = []  # global step of each scored evaluation
        self.resumed_from_step: int | None = None

    @property
    def state_file(self) -> Path:
        return self.work_dir / CHECKPOINTS / "selection.json"

    def best_file(self, epoch: int) -> Path:
        return self.work_dir / CHECKPOINTS / f"best-{epoch}.pt"

    def restore(self, checkpoint: Path) -> None:
        """Forget evaluations made after ``checkpoint``: training redoes them identically."""
        step = checkpoint_step(checkpoint)
        assert step is not None, checkpoint
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
        sign = 1.0 if self.higher else -1.0
        values = [sign * scores[self.main] for scores in self.report.dev_scores]
        return values.index(max(values)) + 1  # the first evaluation reaching the best score

    def is_selection_step(self, state: Any) -> bool:
        """True after the last optimizer step of an epoch (or of every ``every_steps`` steps)
        and after the run's final step (a fractional last epoch)."""
        if self.steps and self.steps[-1] == state.global_step:
            return False  # already scored at this step (a resumed run at its final step)
        if state.global_step >= state.max_steps:
            return True
        if self.every_steps is not None:
            return state.global_step % self.every_steps == 0
        # Trainer sets epoch = e + (micro_step + 1) / micro_steps_in_epoch before on_step_end:
        # a whole number exactly at the epoch's last optimizer step
        return float(state.epoch).is_integer()

    def _select(self, state: Any) -> None:
        scores = self.evaluate()
        if scores is None:
            return
        import torch

        self.report.dev_scores.append(scores)
        self.steps.append(state.global_step)
        epoch = len(self.report.dev_scores)
        log.info(
            "evaluation %d (step %d) dev %s", epoch, state.global_step, {k: round(v, 3) for k, v in scores.items()}
        )
        if self._best_epoch() == epoch:
            weights = self.model().state_dict()
            write_atomic(self.best_file(epoch), lambda handle: torch.save(weights, handle))
        self.report.best_epoch = self._best_epoch()
        write_json_atomic(self.state_file, {"steps": self.steps, "dev_scores": self.report.dev_scores})
        self.model().train()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.is_world_process_zero and self.is_selection_step(state):
            self._select(state)

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Trainer finished ``checkpoint-<step>``: mark it complete, then drop what it supersedes
        (in the main process only: data-parallel ranks share the folder)."""
        if not state.is_world_process_zero:
            return
        root = self.work_dir / CHECKPOINTS
        folder = root / f"checkpoint-{state.global_step}"
        mark_complete(folder)
        keep_only(root, folder)
        for path in root.glob("best-*.pt"):
            if path != self.best_file(self.report.best_epoch or 0):
                path.unlink()

    def load_best_weights(self, final_step: int) -> None:
        """Load the best evaluation's weights unless the model already holds them (the best
        evaluation was made at ``final_step``)."""
        best = self.report.best_epoch
        if best is None or self.steps[best - 1] == final_step:
            return
        import torch

        log.info("restoring weights of evaluation %s (best dev %s)", best, self.main)
        self.model().load_state_dict(torch.load(self.best_file(best), weights_only=True))
