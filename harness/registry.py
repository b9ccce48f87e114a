"""The catalog: tasks, task types, adapters, metrics, data formats and experiments by name.

Built once per command from the loaded plugins. Registered entries are imported only when used,
so listing tasks never imports torch. Unknown names raise :class:`UnknownNameError` with near
names; specs that fail validation are kept aside and raised when someone uses them.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import ConflictError, SpecError, SpecIssue, UnknownNameError
from harness.interfaces import (
    DataFormat,
    Entry,
    FileRoles,
    Metric,
    ModelAdapter,
    ModelSource,
    TaskType,
    TranslationProvider,
    score_direction,
)
from harness.plugins import PluginHost
from harness.specs import load_validated, read_json, schema_issues
from harness.tasks import TaskSpec

if TYPE_CHECKING:  # pragma: no cover - typing only
    from harness.executors import Executor


def _spec_files(path: Path) -> list[Path]:
    """``path`` itself, or the ``*.json`` regular files in it when it is a folder.

    Entries of a folder that are not regular files (a FIFO or a folder named ``x.json``) are left
    out, so reading the result never blocks; a ``path`` given directly is returned as it is, and
    callers check it with :func:`_not_a_spec_file` before reading it.
    """
    path = Path(path)
    return sorted(file for file in path.glob("*.json") if file.is_file()) if path.is_dir() else [path]


def _not_a_spec_file(file: Path) -> SpecError | None:
    """Why ``file`` cannot be read as a spec (missing, or not a regular file), or None."""
    file = Path(file)
    if file.is_file():
        return None
    what = "not a regular file" if file.exists() else "no such file"
    return SpecError([SpecIssue(str(file), "", what, "a regular JSON file")])


class Catalog:
    """Everything that plugins registered, looked up by name."""

    def __init__(self, host: PluginHost):
        self.host = host
        self._instances: dict[tuple[str, str], Any] = {}
        #: task name or file -> the SpecError that kept it out of the catalog
        self.invalid_specs: dict[str, SpecError] = {}

    # -- registered entries ------------------------------------------------------------
    @cached_property
    def task_type_entries(self) -> dict[str, Entry]:
        return self.host.task_types()

    @cached_property
    def adapter_entries(self) -> dict[str, Entry]:
        return self.host.model_adapters()

    @cached_property
    def metric_entries(self) -> dict[str, Entry]:
        return self.host.metrics()

    @cached_property
    def format_entries(self) -> dict[str, Entry]:
        return self.host.data_formats()

    @cached_property
    def translator_entries(self) -> dict[str, Entry]:
        return self.host.translation_providers()

    @cached_property
    def model_source_entries(self) -> dict[str, Entry]:
        return self.host.model_sources()

    @cached_property
    def executor_entries(self) -> dict[str, Entry]:
        return self.host.executors()

    def _instance(self, kind: str, entries: dict[str, Entry], name: str, base: type) -> Any:
        if name not in entries:
            raise UnknownNameError(kind, name, entries)
        key = (kind, name)
        if key not in self._instances:
            obj = entries[name].load()
            instance = obj() if isinstance(obj, type) else obj
            if not isinstance(instance, base):
                raise ConflictError(
                    f"{kind} {name!r} from plugin {entries[name].plugin!r} is a {type(instance).__name__}, "
                    f"not a {base.__name__}"
                )
            self._instances[key] = instance
        return self._instances[key]

    def task_type(self, name: str) -> TaskType:
        return self._instance("task type", self.task_type_entries, name, TaskType)

    def adapter(self, name: str) -> ModelAdapter:
        return self._instance("model adapter", self.adapter_entries, name, ModelAdapter)

    def metric(self, name: str) -> Metric:
        return self._instance("metric", self.metric_entries, name, Metric)

    def data_format(self, name: str) -> DataFormat:
        return self._instance("data format", self.format_entries, name, DataFormat)

    def translator(self, name: str) -> TranslationProvider:
        return self._instance("translation provider", self.translator_entries, name, TranslationProvider)

    def model_source(self, name: str) -> ModelSource:
        return self._instance("model source", self.model_source_entries, name, ModelSource)

    def executor(self, name: str) -> Executor:
        from harness.executors import Executor

        return self._instance("executor", self.executor_entries, name, Executor)

    # -- which code provides a name (for stage keys) -------------------------------------
    def provider_of(self, entries: dict[str, Entry], name: str) -> str:
        """``"<distribution>==<version>"`` of the installed package whose plugin registered
        ``name`` in ``entries`` (``"plugin:<name>"`` for a plugin that is no installed package,
        ``""`` for an unknown name): a new release of the code behind a task type, format,
        metric or adapter is a new stage key."""
        entry = entries.get(name)
        if entry is None:
            return ""
        info = self.host.infos.get(entry.plugin)
        if info is not None and info.distribution:
            return f"{info.distribution}=={info.version}"
        return f"plugin:{entry.plugin}"

    def code_identity(self, task: TaskSpec) -> dict[str, Any]:
        """The packages providing ``task``'s task type and metrics (see :meth:`provider_of`)."""
        return {
            "task_type": self.provider_of(self.task_type_entries, task.task_type),
            "metrics": {metric: self.provider_of(self.metric_entries, metric) for metric in task.metrics},
        }

    # -- task specs ----------------------------------------------------------------------
    @cached_property
    def tasks(self) -> dict[str, TaskSpec]:
        found: dict[str, TaskSpec] = {}
        for plugin, path in self.host.task_spec_paths():
            for file in _spec_files(Path(path)):
                problem = _not_a_spec_file(file)
                if problem is not None:  # checked first: reading a FIFO or a device would block
                    self.invalid_specs[str(file)] = problem
                    continue
                try:
                    spec = self.load_spec(file, plugin)
                except SpecError as exc:
                    self.invalid_specs[str(file)] = exc
                    continue
                if spec.name in found:
                    other = found[spec.name]
                    raise ConflictError(
                        f"task {spec.name!r} is defined twice: {other.path} (plugin {other.plugin!r}) "
                        f"and {file} (plugin {plugin!r})"
                    )
                found[spec.name] = spec
        return dict(sorted(found.items()))

    def task(self, name: str) -> TaskSpec:
        if name not in self.tasks:
            for file, error in self.invalid_specs.items():
                if Path(file).stem == name:
                    raise error
            raise UnknownNameError("task", name, self.tasks)
        return self.tasks[name]

    def load_spec(self, file: Path, plugin: str = "") -> TaskSpec:
        """Read, schema-validate and semantically check one spec file."""
        data = load_validated(Path(file), "task_spec")
        spec = TaskSpec(data, Path(file).resolve(), plugin)
        issues = self.semantic_issues(spec)
        if issues:
            raise SpecError(issues)
        return spec

    def semantic_issues(self, spec: TaskSpec) -> list[SpecIssue]:
        """Checks the schema cannot express: registered names, options, role vs data."""
        file, data = str(spec.path), spec.data
        issues: list[SpecIssue] = []

        def issue(pointer: str, value: Any, expected: str) -> None:
            issues.append(SpecIssue(file, pointer, repr(value), expected))

        if spec.task_type not in self.task_type_entries:
            err = UnknownNameError("task type", spec.task_type, self.task_type_entries)
            issue("/task_type", spec.task_type, "a registered task type" + (err.hint or f" ({', '.join(err.known)})"))
            return issues
        task_type = self.task_type(spec.task_type)
        for i, metric in enumerate(spec.metrics):
            if metric not in self.metric_entries:
                issue(
                    f"/metrics/{i}",
                    metric,
                    "a registered metric" + UnknownNameError("metric", metric, self.metric_entries).hint,
                )
        if task_type.options_schema is not None:
            for found in schema_issues(spec.task_options, task_type.options_schema, file):
                issues.append(SpecIssue(file, "/task_options" + found.pointer, found.value, found.expected))
        for kind, source in spec.sources.items():
            issues.extend(self.source_issues(file, "/sources", kind, source, spec))
        if task_type.trainable:
            if spec.train_language is None:
                issue("/languages/train", None, f"a training language: task type {spec.task_type!r} is trained")
            for kind, source in spec.sources.items():
                splits = source.get("splits" if kind == "hub" else "files", {})
                if "train" not in splits:
                    issue(
                        f"/sources/{kind}/{'splits' if kind == 'hub' else 'files'}",
                        sorted(splits),
                        "a 'train' split: this task type is trained",
                    )
        elif spec.role in ("intermediate", "both"):
            issue(
                "/role",
                spec.role,
                f"'target': task type {spec.task_type!r} has no training, so it cannot be intermediate",
            )
        if spec.labels_from_train and type(task_type).derive_labels is TaskType.derive_labels:
            issue(
                "/labels",
                "from_train",
                f"a label list: task type {spec.task_type!r} cannot derive labels from training data",
            )
        if task_type.uses_label_list and not spec.labels and not spec.labels_from_train:
            issue("/labels", None, f"a label list: task type {spec.task_type!r} classifies")
        registered = [self.metric(m) for m in spec.metrics if m in self.metric_entries]
        if len(registered) == len(spec.metrics):
            try:  # selection needs the main score's declared direction (Metric.higher_is_better)
                score_direction(registered, spec.main_metric)
            except ValueError:
                declared = sorted(k for m in registered for k, v in m.higher_is_better.items() if v is not None)
                pointer = "/main_metric" if "main_metric" in data else "/metrics/0"
                issue(
                    pointer,
                    spec.main_metric,
                    f"a score key with a declared direction ({', '.join(declared) or 'none'})",
                )
        return issues

    def source_issues(
        self,
        file: str,
        pointer_prefix: str,
        source_kind: str,
        source: dict[str, Any],
        task: TaskSpec | None = None,
    ) -> list[SpecIssue]:
        """Checks of one schema-valid source that the schema cannot express: a local source's
        ``format`` is registered, its ``options`` validate against that format's ``options_schema``
        (unknown options get a near-name hint), each split's files name the roles the format reads
        (:attr:`~harness.interfaces.DataFormat.file_roles`), and, where the format knows the keys of
        its records (:meth:`~harness.interfaces.DataFormat.record_keys`), every field the task type
        reads maps to one of them.

        Used for a spec's sources (``pointer_prefix="/sources"``) and for an experiment's source
        overrides (``"/sources/<task>"``, with ``task`` the spec the override applies to);
        pointers read ``<pointer_prefix>/<source_kind>/...``. ``task``: the spec whose fields and
        task type the source serves (None: the field mapping is not checked).
        """
        base = f"{pointer_prefix}/{source_kind}"
        if source_kind != "local" or not isinstance(source, dict):
            return []
        name = source.get("format")
        if not isinstance(name, str) or name not in self.format_entries:
            err = UnknownNameError("data format", str(name), self.format_entries)
            known = err.hint or f" ({', '.join(err.known)})"
            return [SpecIssue(file, f"{base}/format", repr(name), "a registered data format" + known)]
        data_format = self.data_format(name)
        issues = [
            SpecIssue(file, f"{base}/options{found.pointer}", found.value, found.expected)
            for found in schema_issues(source.get("options", {}), data_format.options_schema or {}, file)
        ]
        issues += file_role_issues(file, base, name, data_format.file_roles, source.get("files", {}))
        if not issues and task is not None and task.task_type in self.task_type_entries:
            issues += field_mapping_issues(file, base, name, data_format, self.task_type(task.task_type), task, source)
        return issues

    # -- experiments -----------------------------------------------------------------------
    @cached_property
    def experiments(self) -> dict[str, Path]:
        found: dict[str, Path] = {}
        for _plugin, path in self.host.experiment_paths():
            for file in _spec_files(Path(path)):
                try:
                    name = read_json(file).get("name") or file.stem
                except (SpecError, AttributeError):
                    name = file.stem
                found.setdefault(name, Path(file))
        return found

    def experiment_path(self, name_or_path: str) -> Path:
        path = Path(name_or_path)
        if path.suffix == ".json" or path.exists():
            return path
        if name_or_path not in self.experiments:
            raise UnknownNameError("experiment", name_or_path, self.experiments)
        return self.experiments[name_or_path]


def file_role_issues(
    file: str, base: str, format_name: str, roles: FileRoles | None, files: dict[str, Any]
) -> list[SpecIssue]:
    """Each split's ``files`` entry against the roles its format reads (see
    :class:`~harness.interfaces.FileRoles`)."""
    issues: list[SpecIssue] = []
    for split, entry in files.items():
        pointer = f"{base}/files/{split}"
        if not isinstance(entry, dict):
            if roles is not None and not roles.plain_path:
                issues.append(
                    SpecIssue(
                        file,
                        pointer,
                        repr(entry),
                        f"files by role: format {format_name!r} reads {describe_roles(roles)}",
                    )
                )
            continue
        if roles is None:
            issues.append(
                SpecIssue(
                    file,
                    pointer,
                    repr(sorted(entry)),
                    f"one path (or a list of paths read in order): format {format_name!r} reads one file per split, "
                    "not files by role",
                )
            )
            continue
        missing = [role for role in roles.required if role not in entry]
        unknown = [] if roles.other_roles else sorted(set(entry) - {*roles.required, *roles.optional})
        if missing or unknown or len(entry) < roles.minimum:
            problem = "; ".join(
                part
                for part in (
                    f"missing {', '.join(missing)}" if missing else "",
                    f"unknown {', '.join(unknown)}" if unknown else "",
                    f"{len(entry)} role(s), at least {roles.minimum} needed" if len(entry) < roles.minimum else "",
                )
                if part
            )
            issues.append(
                SpecIssue(
                    file,
                    pointer,
                    repr(sorted(entry)),
                    f"format {format_name!r} reads {describe_roles(roles)} ({problem})",
                )
            )
    return issues


def describe_roles(roles: FileRoles) -> str:
    """``the files source, target and optionally gold`` and the like, for messages."""
    parts = [", ".join(roles.required)] if roles.required else []
    if roles.optional:
        parts.append("optionally " + ", ".join(roles.optional))
    if roles.other_roles:
        parts.append(f"one file per role named by {roles.other_roles}")
    if roles.minimum:
        parts.append(f"at least {roles.minimum}")
    return "the files " + "; ".join(parts)


def field_mapping_issues(
    file: str,
    base: str,
    format_name: str,
    data_format: DataFormat,
    task_type: TaskType,
    task: TaskSpec,
    source: dict[str, Any],
) -> list[SpecIssue]:
    """Every field the task type reads, mapped through the spec's and the source's ``fields``,
    names a key the format gives every record, where the format knows its keys."""
    issues: list[SpecIssue] = []
    mapping = {**task.fields, **source.get("fields", {})}
    seen: set[str] = set()
    for split, entry in source.get("files", {}).items():
        roles = tuple(entry) if isinstance(entry, dict) else ("path",)
        keys = data_format.record_keys(roles, source.get("options", {}))
        if keys is None:
            continue
        for name in task_type.fields:
            if name in seen or (name in task_type.optional_fields and name not in mapping):
                continue
            mapped = mapping.get(name, name)
            absent = [
                k
                for k in (mapped if isinstance(mapped, list) else [mapped])
                if k not in keys and k.split(".")[0] not in keys
            ]
            if absent:
                seen.add(name)
                where = (
                    "the source's fields"
                    if name in source.get("fields", {})
                    else "the spec's fields"
                    if name in task.fields
                    else "its own name"
                )
                issues.append(
                    SpecIssue(
                        file,
                        f"{base}/fields/{name}",
                        repr(mapped),
                        f"a key of the records format {format_name!r} reads for split {split!r} "
                        f"({', '.join(sorted(keys))}): task type {task.task_type!r} reads field {name!r} from "
                        f"{', '.join(map(repr, absent))} ({where})",
                    )
                )
    return issues
