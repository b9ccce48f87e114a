"""Finding and reading a task's data: the local source when its files exist, else the hub.

Logical splits are ``train`` and ``dev`` (in the task's training language) and ``eval`` (in each
evaluation language). A source maps each logical split to a hub split or to local files; any
file may be mapped to any split. Records come back with the task type's canonical field names.
"""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from harness.errors import DataError, MissingResourcesError
from harness.fingerprint import file_sha256
from harness.hub import HubAccess, HubError
from harness.hub_cards import PARQUET_EXPORT, Request, check_request, shipped_facts
from harness.interfaces import TaskType
from harness.registry import Catalog
from harness.tasks import TaskSpec

DATA_DIR_ENV = "STILTS_DATA_DIR"
CONCAT_ROLE = "part"  # roles part0, part1, ... : a split made of several files read in order
log = logging.getLogger("stilts.data")


def default_data_dir() -> Path:
    return Path(os.environ.get(DATA_DIR_ENV, "data"))


def offline_mode() -> bool:
    return any(
        os.environ.get(var, "").lower() in ("1", "true", "yes") for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
    )


def enable_offline_mode() -> None:
    """Make every Hugging Face library stay off the network for the rest of the process (what
    ``--offline`` means): the environment variables they read, and huggingface_hub's constant
    when it was imported already."""
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        os.environ[var] = "1"
    import sys

    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None:
        setattr(constants, "HF_HUB_OFFLINE", True)  # noqa: B010 - a module attribute typeshed does not know


#: Source keys that decide how raw rows become records (their values enter the data fingerprint).
READING_KEYS = ("format", "options", "label_map", "drop_labels")


def reading_identity(task: TaskSpec, source: dict[str, Any]) -> dict[str, Any]:
    """How a source's rows are read into records: format and its options, the field mapping
    (the spec's merged with the source's), label map and dropped labels. Paths, language codes
    and other splits are not part of it: the file digests already say what was read."""
    found = {key: source[key] for key in READING_KEYS if key in source}
    fields = {**task.fields, **source.get("fields", {})}
    return {**found, "fields": fields} if fields else found


@dataclass(frozen=True)
class SourcePlan:
    """Which source serves (task, split, language) and exactly what it reads."""

    task: str
    split: str
    lang: str
    kind: str  # "local" | "hub"
    files: dict[str, Path] = field(default_factory=dict)  # local: role -> path
    hub: dict[str, Any] = field(default_factory=dict)  # hub: dataset, config, split, revision
    rows: str | None = None  # "START:STOP" slice of the split's records
    reading: dict[str, Any] = field(default_factory=dict)  # reading_identity() of the source
    #: why a hub plan could not be pinned to commits (then it cannot be read or keyed)
    problem: str | None = None

    @property
    def hub_parts(self) -> list[dict[str, Any]]:
        """The hub splits read, in order (one, or several concatenated)."""
        return list(self.hub.get("parts", [self.hub])) if self.kind == "hub" else []

    @property
    def available_locally(self) -> bool:
        return self.kind == "local" and all(p.is_file() for p in self.files.values())

    def describe(self) -> str:
        if self.kind == "local":
            return ", ".join(str(p) for p in self.files.values())
        return " + ".join(describe_hub_part(part) for part in self.hub.get("parts", [self.hub]))

    def provenance(self) -> dict[str, Any]:
        info: dict[str, Any] = {"task": self.task, "split": self.split, "lang": self.lang, "source": self.kind}
        if self.kind == "local":
            info["files"] = {
                role: {"path": str(p), "sha256": file_sha256(p) if p.is_file() else None}
                for role, p in self.files.items()
            }
        else:
            info["hub"] = hub_provenance(self.hub)
        if self.rows:
            info["rows"] = self.rows
        return info

    def fingerprint(self) -> dict[str, Any]:
        """What identifies the records themselves (not where they lie) for stage keys: the
        files' content digests (or the hub dataset, config, split, revision and filter), the row
        slice, and how rows are read (:func:`reading_identity`)."""
        if self.kind == "local":
            found: dict[str, Any] = {role: file_sha256(p) for role, p in sorted(self.files.items())}
        else:
            if self.problem or any(not part.get("commit") for part in self.hub_parts):
                raise DataError(self.problem or f"{self.describe()} is not pinned to a commit")
            pinned = [{k: part.get(k) for k in ("dataset", "config", "split", "commit")} for part in self.hub_parts]
            found = {"parts": pinned} if "parts" in self.hub else dict(pinned[0])
            if "filter" in self.hub:
                found["filter"] = self.hub["filter"]
        if self.rows:
            found["rows"] = self.rows
        return {**found, "reading": self.reading} if self.reading else found


def fingerprint_of(plan: SourcePlan | None) -> dict[str, Any] | None:
    """``plan.fingerprint()``, or None for a split no source defines."""
    return plan.fingerprint() if plan is not None else None


@dataclass
class LoadedSplit:
    records: list[dict[str, Any]]
    plan: SourcePlan
    dropped: int = 0


class DataResolver:
    """Plans and loads splits for tasks, honouring local files, the hub and offline mode."""

    def __init__(self, catalog: Catalog, data_dir: Path | None = None, hub: HubAccess | None = None):
        self.catalog = catalog
        #: pins hub datasets to commits (lock, mirror, hub) and locates their files
        self.hub = hub if hub is not None else HubAccess.for_experiment(None)
        # absolute now: relative source paths resolve against spec/experiment folders, but a
        # data dir given on the command line or in the environment is relative to the cwd
        self.data_dir = (Path(data_dir) if data_dir else default_data_dir()).expanduser().resolve()

    # -- planning --------------------------------------------------------------------------
    def _template(self, text: str, source: dict[str, Any], lang: str, base: Path) -> Path:
        code = source.get("lang_codes", {}).get(lang, lang)
        path = Path(os.path.expanduser(text.replace("{data_dir}", str(self.data_dir)).replace("{lang}", code)))
        return path if path.is_absolute() else (base / path).resolve()

    def plans(self, task: TaskSpec, split: str, lang: str) -> list[SourcePlan]:
        """Every source that could serve this split, local first."""
        out = []
        local = task.sources.get("local")
        if local and split in local["files"]:
            spec_files = local["files"][split]
            if isinstance(spec_files, list):  # several files of one format, read one after another
                roles = {f"{CONCAT_ROLE}{i}": one for i, one in enumerate(spec_files)}
            else:
                roles = spec_files if isinstance(spec_files, dict) else {"path": spec_files}
            files = {role: self._template(t, local, lang, task.base_dir) for role, t in roles.items()}
            out.append(
                SourcePlan(
                    task.name,
                    split,
                    lang,
                    "local",
                    files=files,
                    rows=local.get("slices", {}).get(split),
                    reading={
                        **reading_identity(task, local),
                        "format_code": self.catalog.provider_of(self.catalog.format_entries, local["format"]),
                    },
                )
            )
        hub = task.sources.get("hub")
        if hub and split in hub["splits"]:
            code = hub.get("lang_codes", {}).get(lang, lang)
            entry = hub["splits"][split]
            if isinstance(entry, list):  # several splits concatenated (ANLI+)
                plan_hub: dict[str, Any] = {"parts": [hub_part(hub, one, code, lang) for one in entry]}
            else:
                plan_hub = hub_part(hub, entry, code, lang)
            if "filter" in hub:  # filters the source's own dataset, not another one an entry names
                plan_hub["filter"] = {
                    "dataset": hub["dataset"],
                    "field": hub["filter"]["field"],
                    "prefix": hub["filter"]["prefix"].replace("{lang}", code),
                }
            out.append(
                SourcePlan(
                    task.name,
                    split,
                    lang,
                    "hub",
                    hub=plan_hub,
                    rows=hub.get("slices", {}).get(split),
                    reading=reading_identity(task, hub),
                )
            )
        return out

    def plan(self, task: TaskSpec, split: str, lang: str) -> SourcePlan | None:
        """The source that will be used: local files if present, else the hub pinned to commits
        (None: no source). A hub plan that cannot be pinned carries the reason in ``problem``."""
        candidates = self.plans(task, split, lang)
        for plan in candidates:
            if plan.available_locally:
                return plan
        for plan in candidates:
            if plan.kind == "hub":
                return self._pinned(plan)
        return None

    def _pinned(self, plan: SourcePlan) -> SourcePlan:
        """``plan`` with each hub part's ``commit`` (and mirror ``snapshot`` folder) filled in."""
        parts = []
        for part in plan.hub_parts:
            try:
                pin = self.hub.pin("dataset", part["dataset"], part.get("revision"))
            except (MissingResourcesError, HubError) as exc:
                return replace(plan, problem=str(exc.missing[0] if isinstance(exc, MissingResourcesError) else exc))
            parts.append({**part, "commit": pin.commit, "snapshot": str(pin.snapshot) if pin.snapshot else None})
        hub = {**plan.hub, "parts": parts} if "parts" in plan.hub else {**plan.hub, **parts[0]}
        return replace(plan, hub=hub)

    def hub_problems(self, task: TaskSpec, split: str, lang: str) -> list[str]:
        """What the card of each hub dataset this split would read says is wrong with the request
        (config, split, columns, ClassLabel names against the spec's labels): the card at the
        pinned commit, or the verified facts shipped with stilts while it cannot be pinned yet.
        Empty when the split is read from local files or no card facts are known."""
        plan = self.plan(task, split, lang)
        if plan is None or plan.kind != "hub":
            return []
        request = hub_request_columns(task, self.catalog.task_type(task.task_type), task.sources["hub"])
        problems = []
        for part in plan.hub_parts:
            commit = part.get("commit")
            facts = self.hub.card(part["dataset"], commit) if commit else shipped_facts(part["dataset"])
            if facts is None:
                log.info("no card facts for hub dataset %s: its configs and columns are not checked", part["dataset"])
                continue
            wanted = Request(
                part["dataset"], part.get("config"), part["split"], revision=part.get("revision"), **request
            )
            where = f"task {task.name!r} split {split!r} language {lang!r}"
            problems += [f"{where}: {problem}" for problem in check_request(wanted, facts)]
        return problems

    def missing(self, task: TaskSpec, split: str, lang: str) -> str | None:
        """Why (task, split, lang) cannot be read right now, or None when it can."""
        plan = self.plan(task, split, lang)
        if plan is None:
            candidates = self.plans(task, split, lang)
            odd = [f"{path} is {kind}" for c in candidates for path in c.files.values() if (kind := not_regular(path))]
            if odd:  # there, but not something to read: say what it is, not "no data"
                return f"task {task.name!r} split {split!r} language {lang!r}: {'; '.join(odd)}, not a regular file"
            tried = [p.describe() for p in candidates]
            where = f" (looked for {'; '.join(tried)})" if tried else " (no source defines this split)"
            return f"task {task.name!r} split {split!r} language {lang!r}: no data{where}"
        if plan.kind == "hub" and plan.problem:
            return f"task {task.name!r} split {split!r} language {lang!r}: {plan.problem}"
        if plan.kind == "hub" and offline_mode() and not hub_split_cached(plan):
            return f"task {task.name!r} split {split!r} language {lang!r}: {plan.describe()} is not in the local cache"
        return None

    # -- loading ---------------------------------------------------------------------------
    def load(self, task: TaskSpec, split: str, lang: str, limit: int | None = None) -> LoadedSplit:
        plan = self.plan(task, split, lang)
        if plan is None:
            raise DataError(self.missing(task, split, lang) or f"no data for {task.name}/{split}/{lang}")
        task_type = self.catalog.task_type(task.task_type)
        if plan.kind == "local":
            source = task.sources["local"]
            reader = self.catalog.data_format(source["format"])
            options = dict(source.get("options", {}))
            raw: Iterator[dict[str, Any]]
            if any(role.startswith(CONCAT_ROLE) for role in plan.files):
                raw = itertools.chain.from_iterable(
                    reader.read({"path": path}, options) for path in plan.files.values()
                )
            else:
                raw = reader.read(plan.files, options)
            where = plan.describe()
        else:
            source = task.sources["hub"]
            if plan.problem:
                raise DataError(f"task {task.name!r} split {split!r} language {lang!r}: {plan.problem}")
            raw = iter(load_hub_split(plan))
            where = plan.describe()
        start, stop = parse_rows(plan.rows)
        drop = {str(label) for label in source.get("drop_labels", [])}
        label_key = {**task.fields, **source.get("fields", {})}.get("label", "label")
        records: list[dict[str, Any]] = []
        dropped = 0
        for index, row in enumerate(itertools.islice(raw, start, stop), start=start):
            if drop and str(row.get(label_key)) in drop:
                dropped += 1
                continue
            if limit is not None and len(records) >= limit:
                break
            records.append(map_record(task, task_type, source, row, index, where))
        if dropped:
            log.warning("task %s, %s: dropped %d record(s) labelled %s", task.name, where, dropped, sorted(drop))
        if not records:
            raise DataError(f"task {task.name!r} split {split!r} language {lang!r}: {where} has no records")
        return LoadedSplit(records, plan, dropped)


def not_regular(path: Path) -> str | None:
    """What a data path that exists but is not a regular file is ("a folder", "a FIFO", "a
    device"...); None when it is a regular file or does not exist."""
    import stat

    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    for test, name in (
        (stat.S_ISREG, None),
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def parse_rows(rows: str | None) -> tuple[int, int | None]:
    """``"2000:"`` -> (2000, None); None -> the whole split."""
    if not rows:
        return 0, None
    start, _, stop = rows.partition(":")
    return int(start or 0), int(stop) if stop else None


def map_record(
    task: TaskSpec, task_type: TaskType, source: dict[str, Any], row: dict[str, Any], index: int, where: str
) -> dict[str, Any]:
    """Rename a raw row to canonical fields and normalise its label; errors say where."""
    mapping = {**task.fields, **source.get("fields", {})}
    record: dict[str, Any] = {}
    for name in task_type.fields:
        key = mapping.get(name, name)
        if name in task_type.optional_fields and name not in mapping and not lookup(row, key)[0]:
            record[name] = ""  # an optional field the source does not have (e.g. no question)
            continue
        values = []
        for one in key if isinstance(key, list) else [key]:
            found, value = lookup(row, one)
            if not found:
                raise DataError(
                    f"task {task.name!r}, {where}, record {index}: field {name!r} (read from key {one!r}) is missing; "
                    f"the record has keys {sorted(row)}"
                )
            values.append(value)
        record[name] = values if isinstance(key, list) else values[0]
    if task_type.uses_label_list and "label" in record:
        record["label"] = label_index(task, source, record["label"], index, where)
    return record


def lookup(row: dict[str, Any], key: str) -> tuple[bool, Any]:
    """``row[key]``, where a dotted key walks nested objects; (False, None) when absent."""
    if key in row:
        return True, row[key]
    value: Any = row
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            return False, None
        value = value[part]
    return True, value


def label_index(task: TaskSpec, source: dict[str, Any], value: Any, index: int, where: str) -> int:
    labels = task.labels
    value = source.get("label_map", {}).get(str(value), value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit() and value.strip() not in labels:
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(labels):
        return value
    if isinstance(value, str) and value in labels:
        return labels.index(value)
    raise DataError(f"task {task.name!r}, {where}, record {index}: label {value!r} is not in the label list {labels}")


def hub_part(hub: dict[str, Any], entry: str | dict[str, Any], code: str, lang: str) -> dict[str, Any]:
    """One hub split named by a spec entry (a split name, or an object naming its own config or
    dataset). An entry naming another dataset inherits nothing of the source's: not its config,
    revision or language codes (``{lang}`` in its config is the language itself)."""
    entry = {"split": entry} if isinstance(entry, str) else entry
    dataset = entry.get("dataset", hub["dataset"])
    if dataset != hub["dataset"]:
        config, revision, code = entry.get("config"), entry.get("revision"), lang
    else:
        config, revision = entry.get("config", hub.get("config")), entry.get("revision", hub.get("revision"))
    return {
        "dataset": dataset,
        "config": config.replace("{lang}", code) if config else None,
        "split": entry["split"],
        "revision": revision,
    }


def describe_hub_part(part: dict[str, Any]) -> str:
    cfg = f" config {part['config']}" if part.get("config") else ""
    at = f" at {part['commit'][:12]}" if part.get("commit") else ""
    return f"hub dataset {part['dataset']}{cfg} split {part['split']}{at}"


def hub_provenance(hub: dict[str, Any]) -> dict[str, Any]:
    """What a result records of a hub split: dataset, config, split, requested revision and the
    commit read (not the mirror folder it was read from)."""
    keep = ("dataset", "config", "split", "revision", "commit")
    if "parts" in hub:
        found: dict[str, Any] = {"parts": [{k: part.get(k) for k in keep} for part in hub["parts"]]}
    else:
        found = {k: hub.get(k) for k in keep}
    if "filter" in hub:
        found["filter"] = hub["filter"]
    return found


def hub_request_columns(task: TaskSpec, task_type: TaskType, source: dict[str, Any]) -> dict[str, Any]:
    """The columns a hub source reads for ``task`` and the label names expected in its label
    columns, as keyword arguments of :class:`~harness.hub_cards.Request`."""
    mapping = {**task.fields, **source.get("fields", {})}
    columns: list[str] = []
    for name in task_type.fields:
        if name in task_type.optional_fields and name not in mapping:
            continue  # read only where the dataset has it
        key = mapping.get(name, name)
        columns += key if isinstance(key, list) else [key]
    if "filter" in source:
        columns.append(source["filter"]["field"])
    label_columns: list[tuple[str, tuple[str, ...]]] = []
    if task_type.uses_label_list and task.labels:
        for name in ("label", "tags"):
            key = mapping.get(name, name)
            if name in task_type.fields and isinstance(key, str):
                label_columns.append((key, tuple(task.labels)))
    return {
        "columns": tuple(dict.fromkeys(columns)),
        "label_columns": tuple(label_columns),
        "label_map": tuple((str(k), str(v)) for k, v in source.get("label_map", {}).items()),
        "dropped": tuple(str(v) for v in source.get("drop_labels", [])),
    }


def load_hub_split(plan: SourcePlan) -> Iterator[dict[str, Any]]:
    """The plan's hub rows, read at their pinned commits through ``datasets.load_dataset`` (from
    the mirror's snapshot folder when there is one), one split or several concatenated in order.
    ClassLabel values come back as their names (a negative "no label" id stays as it is), so the
    spec's labels are matched by name, never by position."""
    import datasets  # lazy: heavy

    hub = plan.hub
    parts = []
    for part in plan.hub_parts:
        # The parquet export has no card: its configs are folders (``data_dir``), not named configs.
        export = part.get("revision") == PARQUET_EXPORT
        config = {"data_dir": part.get("config")} if export else {"name": part.get("config")}
        if part.get("snapshot"):
            rows = datasets.load_dataset(part["snapshot"], split=part["split"], **config)
        else:
            rows = datasets.load_dataset(part["dataset"], split=part["split"], revision=part.get("commit"), **config)
        if "filter" in hub and hub["filter"].get("dataset", part["dataset"]) == part["dataset"]:
            field, prefix = hub["filter"]["field"], hub["filter"]["prefix"]
            rows = rows.filter(lambda row, field=field, prefix=prefix: str(row[field]).startswith(prefix))
        parts.append(rows)
    return itertools.chain.from_iterable(decoded_class_labels(rows) for rows in parts)


def decoded_class_labels(rows: Any) -> Iterator[dict[str, Any]]:
    """The rows of a ``datasets.Dataset`` with every ClassLabel column (or list of ClassLabels)
    turned from ids into names."""
    from harness.hub_cards import class_label_names

    names: dict[str, list[str]] = {}
    for column, feature in rows.features.items():
        found = class_label_names(feature)
        if found:
            names[column] = found

    def name_of(column: str, value: Any) -> Any:
        if isinstance(value, list):
            return [name_of(column, one) for one in value]
        if isinstance(value, int) and 0 <= value < len(names[column]):
            return names[column][value]
        return value

    for row in rows:
        yield {key: name_of(key, value) if key in names else value for key, value in row.items()} if names else row


def hub_split_cached(plan: SourcePlan) -> bool:
    """True when the pinned hub split can be loaded without network: from the mirror, or from
    ``datasets``' cache. Only "not there offline" counts as False; any other failure (a broken
    file, a bad config) is raised with its cause."""
    if all(part.get("snapshot") for part in plan.hub_parts):
        return True
    from datasets.exceptions import DatasetNotFoundError

    try:
        next(iter(load_hub_split(plan)), None)
    except (ConnectionError, FileNotFoundError, DatasetNotFoundError):
        return False
    except Exception as exc:
        raise DataError(f"{plan.describe()}: cannot be read ({type(exc).__name__}: {exc})") from exc
    return True
