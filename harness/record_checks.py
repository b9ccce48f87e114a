"""Every record of a split checked against what its task type declares, before any training.

A task type says what each canonical field holds (:attr:`harness.interfaces.TaskType.field_kinds`);
the preflight reads every local split a run will use and checks each record here, so a number
where a sentence belongs, an unknown tag, a tag list of the wrong length or a NUL byte stops the
run before training, naming the split's file, the record and the value, instead of failing hours
later inside a task type.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from harness.specs import short_value


def nul_path(value: Any, path: str = "") -> str | None:
    """Where in ``value`` a string holds a NUL byte (a dotted path; "" for the value itself)."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        items: Iterable[tuple[Any, Any]] = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, one in items:
        found = nul_path(one, f"{path}.{key}" if path else str(key))
        if found is not None:
            return found
    return None


def _text(value: Any, record: dict[str, Any], labels: list[str] | None) -> str | None:
    return None if isinstance(value, str) else "a string"


def _texts(value: Any, record: dict[str, Any], labels: list[str] | None) -> str | None:
    if isinstance(value, list) and all(isinstance(one, str) for one in value):
        return None
    return "a list of strings"


def _tags(value: Any, record: dict[str, Any], labels: list[str] | None) -> str | None:
    """``labels`` None: the spec takes its labels from the training data, so any tag is one."""
    if not isinstance(value, list):
        return "a list of tags"
    tokens = record.get("tokens")
    if isinstance(tokens, list) and len(tokens) != len(value):
        return f"one tag per token ({len(tokens)} tokens, {len(value)} tags)"
    if labels is None:
        return None
    for tag in value:
        if not (tag in labels or (isinstance(tag, int) and not isinstance(tag, bool) and 0 <= tag < len(labels))):
            return f"tags from the spec's labels {labels} (found {tag!r})"
    return None


def _answers(value: Any, record: dict[str, Any], labels: list[str] | None) -> str | None:
    expected = '{"text": [strings], "answer_start": [offsets >= 0]} of equal length'
    if not isinstance(value, dict):
        return expected
    texts, starts = value.get("text"), value.get("answer_start")
    if not isinstance(texts, list) or not isinstance(starts, list) or len(texts) != len(starts):
        return expected
    if not all(isinstance(t, str) for t in texts):
        return expected
    if not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in starts):
        return expected
    return None


KINDS: Mapping[str, Callable[[Any, dict[str, Any], list[str] | None], str | None]] = {
    "text": _text,
    "texts": _texts,
    "tags": _tags,
    "answers": _answers,
}


def record_problem(
    kinds: Mapping[str, str], labels: list[str] | None, record: dict[str, Any], optional: Iterable[str] = ()
) -> str | None:
    """What is wrong with one canonical record (None: nothing): a field that is not what its
    kind says, or a string with a NUL byte anywhere."""
    for name, kind in kinds.items():
        if name not in record or (name in optional and record[name] == ""):
            continue
        expected = KINDS[kind](record[name], record, None if labels is None else list(labels))
        if expected is not None:
            return f"field {name!r} is {short_value(record[name])}; expected {expected}"
    found = nul_path(record)
    if found is not None:
        return f"field {found!r} contains a NUL byte"
    return None


def records_problem(
    task_name: str,
    where: str,
    kinds: Mapping[str, str],
    labels: list[str] | None,
    records: Iterable[dict[str, Any]],
    optional: Iterable[str] = (),
) -> str | None:
    """The first bad record of a split, as one line naming the task, where it was read and the
    record (None: every record is fine)."""
    unknown = sorted(set(kinds.values()) - set(KINDS))
    if unknown:
        raise ValueError(f"unknown field kinds {unknown} (known: {sorted(KINDS)})")
    optional = tuple(optional)
    for index, record in enumerate(records):
        problem = record_problem(kinds, labels, record, optional)
        if problem is not None:
            return f"task {task_name!r}, {where}, record {index}: {problem}"
    return None
