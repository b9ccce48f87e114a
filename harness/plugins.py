"""Plugin loading and the typed facade over pluggy's hook calls.

**Loading.** pluggy's ``load_setuptools_entrypoints`` stops at the first plugin that fails to
import. stilts loads its entry points one by one instead, so that one broken plugin is reported by
name and entry point while the others keep working. Strict mode (``strict=True``, the
``--strict-plugins`` flag, or ``STILTS_STRICT_PLUGINS`` set to ``1``/``true``/``yes``/``on``; ``0``,
``false``, ``no``, ``off`` or empty mean off, anything else is an error) makes every plugin failure
fatal. Registering checks what pluggy's ``check_pending`` checks, at once and per plugin: a
``@hookimpl`` for a hook that does not exist, and also a function named ``stilts_*`` without the
``@hookimpl`` marker (pluggy would silently ignore it) fail that plugin.

**Calling.** Every call runs on pluggy's own machinery, so ``tryfirst``/``trylast``,
``wrapper=True`` and old-style ``hookwrapper=True`` implementations behave as pluggy documents:

* Registration hooks (lists of entries or paths) are called once per plugin through
  ``pm.subset_hook_caller(name, remove_plugins=<every other plugin>)``. Each plugin's answer is
  attributed to it, and its wrappers wrap its own implementations (a wrapper sees and may change
  its own plugin's results, not other plugins'). An exception, or a return value that is not a
  list of :class:`~harness.interfaces.Entry` (or of paths), fails that plugin by name; the other
  plugins' answers are kept.
* ``firstresult`` hooks (``stilts_choose_adapter``) are called through the real
  ``pm.hook.<name>(...)``: the first non-``None`` answer wins and later implementations are not
  called. If the call raises (or the answer has the wrong type), each plugin is called on its own,
  in pluggy's order, to find the one at fault; it is reported by name and the hook is called again
  without it.

**Where plugins come from.** Entry points in the ``stilts.plugins`` group; modules given with
``-p module.name`` (registered under the module's name); and ``--include-path DIR`` /
``STILTS_INCLUDE_PATH`` (``os.pathsep``-separated folders), whose ``*.json`` task specs join the
catalog as if a plugin named ``include-path`` contributed them. Block a plugin with ``-p no:NAME``
on the command line or ``STILTS_BLOCK_PLUGINS=NAME,NAME``.
"""

from __future__ import annotations

import inspect
import os
import reprlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy

from harness import ENTRY_POINT_GROUP, NAME, hookimpl, hookspecs
from harness.errors import ConflictError, PluginError, StiltsError
from harness.interfaces import Entry

BLOCK_ENV = "STILTS_BLOCK_PLUGINS"
STRICT_ENV = "STILTS_STRICT_PLUGINS"
INCLUDE_ENV = "STILTS_INCLUDE_PATH"
#: Name of the pseudo-plugin that contributes ``--include-path`` / ``STILTS_INCLUDE_PATH`` folders.
INCLUDE_PLUGIN = "include-path"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_short = reprlib.Repr()
_short.maxstring = _short.maxother = 60


@dataclass
class PluginInfo:
    """What ``stilts plugins`` shows for one plugin."""

    name: str
    entry_point: str
    distribution: str = ""
    version: str = ""
    hooks: list[str] = field(default_factory=list)
    status: str = "loaded"  # loaded | blocked | failed
    error: str = ""


def blocked_from_env() -> set[str]:
    return {name.strip() for name in os.environ.get(BLOCK_ENV, "").split(",") if name.strip()}


def true_word(raw: str) -> bool:
    """True for the words stilts' environment switches take as "on": 1, true, yes, on (any case,
    surrounding space ignored)."""
    return raw.strip().lower() in _TRUE


def strict_from_env() -> bool:
    """``STILTS_STRICT_PLUGINS`` as a boolean; a value that is not one raises :class:`StiltsError`."""
    raw = os.environ.get(STRICT_ENV, "")
    word = raw.strip().lower()
    if true_word(word):
        return True
    if word in _FALSE:
        return False
    raise StiltsError(
        f"{STRICT_ENV}={raw!r} is not a boolean: use 1, true, yes or on (strict) or 0, false, no, off or empty"
    )


def include_paths_from_env() -> list[Path]:
    """The folders in ``STILTS_INCLUDE_PATH`` (``os.pathsep``-separated; empty parts skipped)."""
    return [Path(part).expanduser() for part in os.environ.get(INCLUDE_ENV, "").split(os.pathsep) if part.strip()]


class IncludePath:
    """The ``include-path`` pseudo-plugin: task specs from folders that are not packaged."""

    def __init__(self, folders: Iterable[Path]):
        self.folders = [Path(folder) for folder in folders]

    @hookimpl
    def stilts_task_spec_paths(self) -> list[Path]:
        return list(self.folders)


def _check_entries(result: Any) -> list[Entry]:
    if not isinstance(result, (list, tuple)):
        raise TypeError(f"returned {_short.repr(result)}; expected a list of harness.interfaces.Entry")
    for i, item in enumerate(result):
        if not isinstance(item, Entry):
            raise TypeError(
                f"returned a list whose item {i} is {_short.repr(item)} ({type(item).__name__}); "
                "expected harness.interfaces.Entry"
            )
        if not isinstance(item.name, str) or not item.name:
            raise TypeError(f"returned an Entry whose name is {_short.repr(item.name)}; expected a non-empty string")
        if not isinstance(item.description, str):
            raise TypeError(
                f"returned Entry {item.name!r} whose description is {_short.repr(item.description)}; expected a string"
            )
    return list(result)


def _check_paths(result: Any) -> list[Any]:
    if not isinstance(result, (list, tuple)):
        raise TypeError(f"returned {_short.repr(result)}; expected a list of paths")
    for i, item in enumerate(result):
        if not isinstance(item, (str, os.PathLike)):
            raise TypeError(
                f"returned a list whose item {i} is {_short.repr(item)} ({type(item).__name__}); "
                "expected a path (str or os.PathLike)"
            )
    return list(result)


def _check_adapter_name(result: Any) -> Any:
    if result is not None and not isinstance(result, str):
        raise TypeError(f"returned {_short.repr(result)}; expected an adapter name (str) or None")
    return result


class PluginHost:
    """Owns the pluggy manager; every hook call from the core goes through a method here."""

    def __init__(
        self,
        *,
        strict: bool | None = None,
        blocked: Iterable[str] = (),
        on_failure: Callable[[PluginError], None] | None = None,
    ):
        self.strict = strict_from_env() if strict is None else strict
        #: told about every failure as it happens (loading, or later inside a hook call)
        self.on_failure = on_failure
        self.blocked = set(blocked) | blocked_from_env()
        #: how :func:`load_plugins` made this host (None: made directly)
        self.load_options: PluginLoadOptions | None = None
        self.pm = pluggy.PluginManager(NAME)
        self.pm.add_hookspecs(hookspecs)
        self.infos: dict[str, PluginInfo] = {}
        self.failures: list[PluginError] = []

    # -- loading -------------------------------------------------------------------------
    def load_entry_points(self) -> PluginHost:
        eps = sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)
        for ep in eps:
            dist = getattr(ep, "dist", None)
            info = PluginInfo(
                name=ep.name,
                entry_point=f"{ep.name} = {ep.value}",
                distribution=dist.metadata["Name"] if dist else "",
                version=dist.version if dist else "",
            )
            if ep.name in self.infos:  # same name installed twice: first (sorted) wins
                continue
            self.infos[ep.name] = info
            if ep.name in self.blocked:
                info.status = "blocked"
                continue
            try:
                plugin = ep.load()
            except Exception as exc:
                self._fail(info, "importing", exc)
                continue
            self._register(info, plugin)
        return self

    def register(self, plugin: ModuleType | object, name: str, *, entry_point: str = "") -> None:
        """Register an in-process plugin (tests, notebooks, ``-p module``) as if it came from an entry point."""
        info = PluginInfo(name=name, entry_point=entry_point or f"{name} (registered in-process)")
        self.infos[name] = info
        if name in self.blocked:
            info.status = "blocked"
            return
        self._register(info, plugin)

    def register_include_paths(self, folders: Iterable[Path | str]) -> None:
        """Register the ``include-path`` pseudo-plugin for ``folders`` (a missing folder fails it)."""
        paths = [Path(folder).expanduser() for folder in folders]
        info = PluginInfo(name=INCLUDE_PLUGIN, entry_point=f"--include-path / {INCLUDE_ENV}")
        self.infos[INCLUDE_PLUGIN] = info
        if INCLUDE_PLUGIN in self.blocked:
            info.status = "blocked"
            return
        missing = [str(folder) for folder in paths if not folder.is_dir()]
        if missing:
            self._fail(info, "registering", NotADirectoryError(f"include path(s) {missing} are not folders"))
            return
        self._register(info, IncludePath(paths))

    def _register(self, info: PluginInfo, plugin: object) -> None:
        try:
            unmarked = self._unmarked_hooks(plugin)
            if unmarked:
                raise ValueError(
                    "; ".join(f"function {name} looks like a hook but has no @hookimpl marker" for name in unmarked)
                )
            self.pm.register(plugin, name=info.name)
            unknown = [  # what pluggy's check_pending reports, checked for this plugin only
                caller.name
                for caller in self.pm.get_hookcallers(plugin) or []
                if not caller.has_spec()
                and any(impl.plugin is plugin and not impl.optionalhook for impl in caller.get_hookimpls())
            ]
            if unknown:
                self.pm.unregister(plugin)
                raise ValueError(f"implements unknown hook(s) {sorted(unknown)}; see harness/hookspecs.py")
        except Exception as exc:
            self._fail(info, "registering", exc)
            return
        info.hooks = sorted(
            caller.name for caller in self.pm.get_hookcallers(plugin) or [] if caller.name.startswith("stilts_")
        )

    def _unmarked_hooks(self, plugin: object) -> list[str]:
        """Functions named ``stilts_*`` that pluggy would ignore because they lack ``@hookimpl``."""
        found = []
        for attr in dir(plugin):
            if not attr.startswith(f"{NAME}_"):
                continue
            try:
                raw = inspect.getattr_static(plugin, attr)
            except AttributeError:
                continue
            if isinstance(raw, (staticmethod, classmethod)):
                raw = raw.__func__
            if not (inspect.isfunction(raw) or inspect.ismethod(raw) or inspect.isbuiltin(raw)):
                continue
            if self.pm.parse_hookimpl_opts(plugin, attr) is None:
                found.append(attr)
        return found

    def _info(self, plugin_name: str) -> PluginInfo:
        return self.infos.get(plugin_name) or PluginInfo(plugin_name, plugin_name)

    def _fail(self, info: PluginInfo, phase: str, exc: BaseException) -> None:
        error = PluginError(info.name, info.entry_point, phase, exc)
        info.status, info.error = "failed", str(error)
        self.failures.append(error)
        if self.strict:
            raise error
        if self.on_failure:
            self.on_failure(error)

    # -- calling -------------------------------------------------------------------------
    def _implementers(self, hook_name: str, excluded: Iterable[object] = ()) -> list[object]:
        """Plugins implementing ``hook_name`` in pluggy's call order (minus ``excluded``)."""
        impls = list(reversed(getattr(self.pm.hook, hook_name).get_hookimpls()))
        ordered = [impl for impl in impls if not (impl.wrapper or impl.hookwrapper)]
        ordered += [impl for impl in impls if impl.wrapper or impl.hookwrapper]
        skip = list(excluded)
        plugins: list[object] = []
        for impl in ordered:
            if not any(impl.plugin is p for p in plugins + skip):
                plugins.append(impl.plugin)
        return plugins

    def _only(self, hook_name: str, plugin: object) -> pluggy.HookCaller:
        """A hook caller that runs ``plugin``'s implementations (wrappers included) and nobody else's."""
        others = [p for _name, p in self.pm.list_name_plugin() if p is not None and p is not plugin]
        return self.pm.subset_hook_caller(hook_name, remove_plugins=others)

    def _call_each(
        self, hook_name: str, check: Callable[[Any], list[Any]], **kwargs: Any
    ) -> list[tuple[str, list[Any]]]:
        """Call each plugin's implementations on their own so a failing plugin is named, not fatal."""
        answers = []
        for plugin in self._implementers(hook_name):
            plugin_name = self.pm.get_name(plugin) or repr(plugin)
            try:
                results = self._only(hook_name, plugin)(**kwargs)
                if not isinstance(results, list):  # a wrapper that did not return the outcome
                    raise TypeError(
                        f"hook call gave {_short.repr(results)}, not a list of results "
                        "(does a wrapper forget to return the result of its yield?)"
                    )
                items = [item for result in results for item in check(result)]
            except Exception as exc:
                self._fail(self._info(plugin_name), f"running hook {hook_name}", exc)
                continue
            answers.append((plugin_name, items))
        return answers

    def _first_result(self, hook_name: str, check: Callable[[Any], Any], **kwargs: Any) -> Any:
        """A ``firstresult`` hook through pluggy; a raising plugin is found, named and left out."""
        excluded: list[object] = []
        while True:
            caller = (
                self.pm.subset_hook_caller(hook_name, remove_plugins=excluded)
                if excluded
                else getattr(self.pm.hook, hook_name)
            )
            try:
                return check(caller(**kwargs))
            except Exception as exc:
                culprit, cause = self._find_culprit(hook_name, excluded, check, kwargs)
                if culprit is None:
                    names = [self.pm.get_name(p) or repr(p) for p in self._implementers(hook_name, excluded)]
                    raise PluginError(
                        ", ".join(names), "several plugins together", f"running hook {hook_name}", exc
                    ) from exc
                excluded.append(culprit)
                self._fail(
                    self._info(self.pm.get_name(culprit) or repr(culprit)), f"running hook {hook_name}", cause or exc
                )

    def _find_culprit(
        self, hook_name: str, excluded: list[object], check: Callable[[Any], Any], kwargs: dict[str, Any]
    ) -> tuple[object | None, BaseException | None]:
        for plugin in self._implementers(hook_name, excluded):
            try:
                check(self._only(hook_name, plugin)(**kwargs))
            except Exception as exc:
                return plugin, exc
        return None, None

    def _collect_entries(self, hook_name: str, kind: str) -> dict[str, Entry]:
        merged: dict[str, Entry] = {}
        for plugin_name, entries in self._call_each(hook_name, _check_entries):
            for entry in entries:
                if entry.name in merged:
                    raise ConflictError(
                        f"{kind} {entry.name!r} is registered by both plugin {merged[entry.name].plugin!r} "
                        f"and plugin {plugin_name!r}; block one with -p no:NAME"
                    )
                merged[entry.name] = Entry(entry.name, entry.target, entry.description, plugin_name)
        return dict(sorted(merged.items()))

    def _collect_paths(self, hook_name: str) -> list[tuple[str, Any]]:
        return sorted(
            ((plugin, path) for plugin, paths in self._call_each(hook_name, _check_paths) for path in paths),
            key=lambda item: (item[0], str(item[1])),
        )

    def task_spec_paths(self) -> list[tuple[str, Any]]:
        return self._collect_paths("stilts_task_spec_paths")

    def experiment_paths(self) -> list[tuple[str, Any]]:
        return self._collect_paths("stilts_experiment_paths")

    def task_types(self) -> dict[str, Entry]:
        return self._collect_entries("stilts_task_types", "task type")

    def model_adapters(self) -> dict[str, Entry]:
        return self._collect_entries("stilts_model_adapters", "model adapter")

    def metrics(self) -> dict[str, Entry]:
        return self._collect_entries("stilts_metrics", "metric")

    def data_formats(self) -> dict[str, Entry]:
        return self._collect_entries("stilts_data_formats", "data format")

    def translation_providers(self) -> dict[str, Entry]:
        return self._collect_entries("stilts_translation_providers", "translation provider")

    def model_sources(self) -> dict[str, Entry]:
        return self._collect_entries("stilts_model_sources", "model source")

    def executors(self) -> dict[str, Entry]:
        return self._collect_entries("stilts_executors", "executor")

    def choose_adapter(self, model: dict[str, Any]) -> str | None:
        return self._first_result("stilts_choose_adapter", _check_adapter_name, model=model)

    def plugin_infos(self) -> list[PluginInfo]:
        return [self.infos[name] for name in sorted(self.infos)]


@dataclass
class PluginLoadOptions:
    """How a plugin host was loaded, so that a worker process (``stilts run --executor local``)
    loads the same plugins: ``-p`` modules by name, include paths as absolute folders.
    ``in_process`` names plugins registered as objects, which no other process can load."""

    strict: bool | None = None
    blocked: list[str] = field(default_factory=list)
    modules: list[str] = field(default_factory=list)
    include_paths: list[str] = field(default_factory=list)
    in_process: list[str] = field(default_factory=list)

    def load(self) -> PluginHost:
        """A host with the same plugins, loaded in this process."""
        import importlib

        return load_plugins(
            strict=self.strict,
            blocked=self.blocked,
            modules=[(name, importlib.import_module(name)) for name in self.modules],
            include_paths=self.include_paths,
        )


def load_plugins(
    *,
    strict: bool | None = None,
    blocked: Iterable[str] = (),
    extra: Iterable[tuple[str, object]] = (),
    modules: Iterable[tuple[str, ModuleType]] = (),
    include_paths: Iterable[Path | str] = (),
    on_failure: Callable[[PluginError], None] | None = None,
) -> PluginHost:
    """Load every installed plugin (minus blocked ones), ``extra`` in-process plugins, ``modules``
    given with ``-p module.name``, and the ``include-path`` pseudo-plugin for ``include_paths``
    plus ``STILTS_INCLUDE_PATH``."""
    blocked, extra, modules, include_paths = list(blocked), list(extra), list(modules), list(include_paths)
    host = PluginHost(strict=strict, blocked=blocked, on_failure=on_failure).load_entry_points()
    host.load_options = PluginLoadOptions(
        strict=strict,
        blocked=blocked,
        modules=[name for name, _module in modules],
        include_paths=[str(Path(folder).resolve()) for folder in include_paths],
        in_process=[name for name, _plugin in extra],
    )
    for name, plugin in extra:
        host.register(plugin, name)
    for name, module in modules:
        host.register(module, name, entry_point=f"-p {name}")
    folders = [*include_paths, *include_paths_from_env()]
    if folders:
        host.register_include_paths(folders)
    return host
