"""Multi-task intermediate training: one shared encoder, one head per task (jiant-style).

Every step trains on one batch of one task, drawn by the group's sampling policy
(examples-proportional with a cap, temperature, or uniform); continued multilingual MLM is one
more member drawn with a fixed share (``ratio`` MLM batches per task batch). The whole batch
schedule is fixed by the seed before training starts, so transformers' Trainer can run it as a
sequential dataset of ready batches: checkpoints, resumption, bf16 and logging come for free,
and a resumed stage replays exactly the batches it had not yet seen.

Model selection: every ``steps_per_epoch`` steps each task's dev split is scored; the mean of
the tasks' main scores (MLM excluded) picks the checkpoint, as in the study's multi-task runs. A
main score whose metric declares lower as better (perplexity) enters the mean negated, so the
mean is always higher-is-better.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harness.interfaces import Metric, ModelHandle, RunSettings, TaskType
from harness.tasks import TaskSpec

log = logging.getLogger("stilts.multitask")

MLM_MEMBER = "continued_mlm"  # the member name of continued MLM (not a task name)


@dataclass
class Member:
    """One task of a multi-task stage, with its data, head and sampling weight."""

    name: str
    task: TaskSpec
    task_type: TaskType
    handle: ModelHandle
    features: list[dict[str, Any]]
    dev_records: Sequence[dict] | None
    metrics: Sequence[Metric]
    settings: RunSettings
    selects: bool = True  # counts in model selection (MLM does not)
    weight: float = 0.0
    collator: Any = None


def sampling_weights(sizes: dict[str, int], policy: dict[str, Any]) -> dict[str, float]:
    """Probabilities of drawing each task: proportional to min(n, cap), or to min(n, cap)^(1/T)
    (temperature), or uniform; the same definitions as jiant's samplers."""
    cap = policy.get("cap")
    capped = {name: min(n, cap) if cap else n for name, n in sizes.items()}
    kind = policy.get("kind", "proportional")
    if kind == "uniform":
        raw = {name: 1.0 for name in capped}
    elif kind == "temperature":
        raw = {name: n ** (1.0 / float(policy.get("temperature", 2.0))) for name, n in capped.items()}
    else:
        raw = {name: float(n) for name, n in capped.items()}
    total = sum(raw.values())
    return {name: value / total for name, value in raw.items()}


def batch_schedule(
    members: Sequence[Member], batch_size: int, steps: int, seed: int, group_by_length: bool = True
) -> list[tuple[int, list[int]]]:
    """``steps`` batches as (member index, example indices). Each member walks through its own
    shuffled order (length-grouped by transformers' ``get_length_grouped_indices`` unless
    ``group_by_length`` is off) and starts a new order when it runs out; which member goes next
    is drawn by weight."""
    import torch
    from transformers.trainer_pt_utils import get_length_grouped_indices

    rng = random.Random(seed)
    generator = torch.Generator().manual_seed(seed)
    queues: list[list[list[int]]] = [[] for _ in members]

    def refill(i: int) -> None:
        lengths = [
            len(f["input_ids"]) if not isinstance(f["input_ids"][0], list) else sum(map(len, f["input_ids"]))
            for f in members[i].features
        ]
        if group_by_length:
            order = get_length_grouped_indices(lengths, batch_size, generator=generator)
        else:
            order = torch.randperm(len(lengths), generator=generator).tolist()
        queues[i] = [order[j : j + batch_size] for j in range(0, len(order), batch_size)]

    weights = [m.weight for m in members]
    schedule = []
    for _ in range(steps):
        i = rng.choices(range(len(members)), weights=weights)[0]
        if not queues[i]:
            refill(i)
        schedule.append((i, queues[i].pop(0)))
    return schedule


class ScheduledBatches:
    """A map-style dataset whose item ``k`` is the k-th ready batch of the schedule."""

    def __init__(self, members: Sequence[Member], schedule: list[tuple[int, list[int]]]):
        self.members, self.schedule = members, schedule

    def __len__(self) -> int:
        return len(self.schedule)

    def __getitem__(self, k: int) -> dict[str, Any]:
        i, indices = self.schedule[k]
        member = self.members[i]
        batch = member.collator([dict(member.features[j]) for j in indices])
        return {"task": member.name, **batch}


def first_item(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Collator for ScheduledBatches (each item already is a batch)."""
    return items[0]


def _module_base() -> type:
    import torch

    return torch.nn.Module


class MultiTaskModel(_module_base()):  # type: ignore[misc]
    """The task models (sharing one encoder) behind a ``forward(task=..., **batch)``.

    Shared tensors appear once in ``state_dict`` (safetensors refuses aliases); loading fills
    the aliases back in.
    """

    accepts_loss_kwargs = False  # Trainer: do not pass num_items_in_batch

    def __init__(self, models: dict[str, Any]):
        import torch

        super().__init__()
        self.tasks = torch.nn.ModuleDict(models)

    def forward(self, task: str, num_items_in_batch: Any = None, **batch: Any) -> Any:
        return self.tasks[task](**batch)

    def _aliases(self) -> dict[str, str]:
        seen: dict[int, str] = {}
        aliases = {}
        for name, tensor in super().state_dict(keep_vars=True).items():
            key = id(tensor)
            if key in seen:
                aliases[name] = seen[key]
            else:
                seen[key] = name
        return aliases

    def state_dict(self, *args: Any, **kwargs: Any) -> Any:
        full = super().state_dict(*args, **kwargs)
        for alias in self._aliases():
            full.pop(kwargs.get("prefix", "") + alias, None)
        return full

    def load_state_dict(self, state_dict: Any, strict: bool = True, assign: bool = False) -> Any:
        state_dict = dict(state_dict)
        for alias, original in self._aliases().items():
            if alias not in state_dict and original in state_dict:
                state_dict[alias] = state_dict[original]
        return super().load_state_dict(state_dict, strict=strict, assign=assign)


def default_steps_per_epoch(members: Sequence[Member], policy: dict[str, Any], batch_size: int) -> int:
    """Enough steps for one pass over the tasks' (capped) examples, plus the MLM batches drawn
    alongside them (MLM text size does not stretch an epoch)."""
    tasks = [m for m in members if m.selects]
    return epoch_steps([len(m.features) for m in tasks], policy, batch_size, sum(m.weight for m in tasks))


def epoch_steps(task_sizes: Sequence[int], policy: dict[str, Any], batch_size: int, task_share: float) -> int:
    """Steps of one epoch: the tasks' examples (each capped at the policy's ``cap``) in batches of
    ``batch_size``, stretched by ``1 / task_share`` for the batches other members (MLM) draw.

    :param task_sizes: examples of each task that selects the model.
    :param task_share: the tasks' total sampling weight (1 without MLM; 0 counts as 1).
    """
    cap = policy.get("cap")
    task_batches = sum(min(n, cap) if cap else n for n in task_sizes) / batch_size
    return max(1, math.ceil(task_batches / (task_share or 1.0)))


def train_multitask(
    members: list[Member],
    adapter: Any,
    config: dict[str, Any],
    settings: RunSettings,
    policy: dict[str, Any],
    steps_per_epoch: int | None,
    seed: int,
    work_dir: Any,
    reporter: Any = None,
) -> Any:
    """Train ``members`` jointly; the encoder ends up in ``members[0].handle.model``.
    ``reporter`` (a :class:`harness.progress.RunReporter`) receives the steps, loss and throughput.

    Returns the TrainReport (dev scores per evaluation: every task's scores under
    ``"<task>/<score>"`` and their mean main score under ``"mean"``).
    """
    from transformers import set_seed

    from harness.interfaces import score_direction
    from harness.train import DevSelection, TrainReport, run_trainer, score, training_arguments

    if config["method"].get("kind", "full") != "full":
        raise NotImplementedError(
            "multi-task intermediate training supports full fine-tuning only (method kind 'full')"
        )
    set_seed(seed)
    models = [m.handle.model for m in members]  # the first member hosts the shared encoder
    adapter.share_encoder(models)
    model = MultiTaskModel({m.name: m.handle.model for m in members})
    for member in members:
        member.collator = member.task_type.collator(member.task, member.handle.tokenizer)
    batch = int(config["batch_size"])
    per_epoch = steps_per_epoch or default_steps_per_epoch(members, policy, batch)
    epochs = max(1, math.ceil(float(config["epochs"])))
    schedule = batch_schedule(members, batch, per_epoch * epochs, seed, bool(config["length_grouping"]))
    drawn = {m.name: 0 for m in members}
    for i, _ in schedule:
        drawn[members[i].name] += 1
    log.info(
        "multi-task schedule: %d steps (%d per evaluation); batches per task %s; weights %s",
        len(schedule),
        per_epoch,
        drawn,
        {m.name: round(m.weight, 4) for m in members},
    )
    report = TrainReport(examples=sum(len(m.features) for m in members), steps=0, epochs=epochs, batches_per_task=drawn)

    def evaluate() -> dict[str, float] | None:
        scores: dict[str, float] = {}
        mains = []
        for member in members:
            if not member.selects or not member.dev_records:
                continue
            predictions = member.task_type.predict(member.task, member.handle, member.dev_records, member.settings)
            references = member.task_type.references(member.task, member.dev_records)
            found = score(member.task, member.metrics, predictions, references, member.task.train_language)
            scores.update({f"{member.name}/{key}": value for key, value in found.items()})
            main = found[member.task.main_metric]
            mains.append(main if score_direction(member.metrics, member.task.main_metric) else -main)
        if not mains:
            return None
        return {"mean": sum(mains) / len(mains), **scores}

    selection = DevSelection(work_dir, evaluate, "mean", True, lambda: model, report, every_steps=per_epoch)
    args = training_arguments(
        {**config, "batch_size": 1, "epochs": 1},
        settings,
        seed,
        work_dir,
        per_epoch,
        len(schedule),
        train_sampling_strategy="sequential",
        remove_unused_columns=False,
    )
    run_trainer(
        model,
        args,
        ScheduledBatches(members, schedule),
        first_item,
        None,
        selection,
        report,
        reporter=reporter,
        examples_per_step=batch * int(config["gradient_accumulation_steps"]),
    )
    return report
