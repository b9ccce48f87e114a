"""Plugin loading and the typed facade over pluggy's hook calls.

pluggy's ``load_setuptools_entrypoints`` stops at the first plugin that fails to import. stilts
loads its entry points one by one instead, so that one broken plugin is reported by name and
entry point while the others keep working (``strict=True`` makes any failure fatal). Hooks are
also called one implementation at a time, so a plugin raising inside a hook is named too.

Block a plugin with ``-p no:NAME`` on the command line or ``STILTS_BLOCK_PLUGINS=NAME,NAME``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import metadata
from types import ModuleType
from typing import Any

import pluggy

from harness import ENTRY_POINT_GROUP, NAME, hookspecs
from harness.errors import ConflictError, PluginError
from harness.interfaces import Entry

BLOCK_ENV = "STILTS_BLOCK_PLUGINS"
STRICT_ENV = "STILTS_STRICT_PLUGINS"


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


class PluginHost:
    """Owns the pluggy manager; every hook call from the core goes through a method here."""

    def __init__(self, *, strict: bool | None = None, blocked: Iterable[str] = ()):
        self.strict = bool(os.environ.get(STRICT_ENV)) if strict is None else strict
        self.blocked = set(blocked) | blocked_from_env()
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
            except Exception as exc:  # noqa: BLE001 - any import failure is reported, not raised
                self._fail(info, "importing", exc)
                continue
            self._register(info, plugin)
        return self

    def register(self, plugin: ModuleType | object, name: str) -> None:
        """Register an in-process plugin (tests, notebooks) as if it came from an entry point."""
        info = PluginInfo(name=name, entry_point=f"{name} (registered in-process)")
        self.infos[name] = info
        if name in self.blocked:
            info.status = "blocked"
            return
        self._register(info, plugin)

    def _register(self, info: PluginInfo, plugin: object) -> None:
        try:
            self.pm.register(plugin, name=info.name)
            unknown = [
                impl_name
                for impl_name in dir(plugin)
                if impl_name.startswith("stilts_")
                and not (hasattr(self.pm.hook, impl_name) and getattr(self.pm.hook, impl_name).has_spec())
            ]
            if unknown:
                self.pm.unregister(plugin)
                raise ValueError(f"implements unknown hook(s) {unknown}; see harness/hookspecs.py")
        except Exception as exc:  # noqa: BLE001
            self._fail(info, "registering", exc)
            return
        info.hooks = sorted(
            caller.name for caller in self.pm.get_hookcallers(plugin) or [] if caller.name.startswith("stilts_")
        )

    def _fail(self, info: PluginInfo, phase: str, exc: BaseException) -> None:
        error = PluginError(info.name, info.entry_point, phase, exc)
        info.status, info.error = "failed", str(error)
        self.failures.append(error)
        if self.strict:
            raise error

    # -- calling -------------------------------------------------------------------------
    def _call_each(self, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call every implementation separately so a raising plugin is named, not fatal."""
        caller = getattr(self.pm.hook, hook_name)
        answers = []
        for impl in reversed(caller.get_hookimpls()):  # pluggy's own call order
            try:
                result = impl.function(**{arg: kwargs[arg] for arg in impl.argnames})
            except Exception as exc:  # noqa: BLE001
                info = self.infos.get(impl.plugin_name) or PluginInfo(impl.plugin_name, impl.plugin_name)
                self._fail(info, f"running hook {hook_name}", exc)
                continue
            if result is not None:
                answers.append((impl.plugin_name, result))
        return answers

    def _collect_entries(self, hook_name: str, kind: str) -> dict[str, Entry]:
        merged: dict[str, Entry] = {}
        for plugin_name, entries in self._call_each(hook_name):
            for entry in entries:
                if entry.name in merged:
                    raise ConflictError(
                        f"{kind} {entry.name!r} is registered by both plugin {merged[entry.name].plugin!r} "
                        f"and plugin {plugin_name!r}; block one with -p no:NAME"
                    )
                merged[entry.name] = Entry(entry.name, entry.target, entry.description, plugin_name)
        return dict(sorted(merged.items()))

    def task_spec_paths(self) -> list[tuple[str, Any]]:
        return sorted(
            ((plugin, path) for plugin, paths in self._call_each("stilts_task_spec_paths") for path in paths),
            key=lambda item: (item[0], str(item[1])),
        )

    def experiment_paths(self) -> list[tuple[str, Any]]:
        return sorted(
            ((plugin, path) for plugin, paths in self._call_each("stilts_experiment_paths") for path in paths),
            key=lambda item: (item[0], str(item[1])),
        )

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

    def choose_adapter(self, model: dict[str, Any]) -> str | None:
        for _plugin, answer in self._call_each("stilts_choose_adapter", model=model):
            return answer
        return None

    def plugin_infos(self) -> list[PluginInfo]:
        return [self.infos[name] for name in sorted(self.infos)]


def load_plugins(
    *, strict: bool | None = None, blocked: Iterable[str] = (), extra: Iterable[tuple[str, object]] = (),
    on_failure: Callable[[PluginError], None] | None = None,
) -> PluginHost:
    """Load every installed plugin (minus blocked ones) plus ``extra`` in-process plugins."""
    host = PluginHost(strict=strict, blocked=blocked).load_entry_points()
    for name, plugin in extra:
        host.register(plugin, name)
    if on_failure:
        for failure in host.failures:
            on_failure(failure)
    return host
