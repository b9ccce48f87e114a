# mypy: disable-error-code="empty-body"
# (a hook specification has a docstring and no body: pluggy only reads its signature)
"""Every extension point of stilts. These docstrings are the plugin author's reference.

A plugin is a module (or object) with functions named like the hooks below and decorated with
:data:`harness.hookimpl`. Register it under the ``stilts.plugins`` entry-point group::

    [project.entry-points."stilts.plugins"]
    my-tasks = "my_package.stilts_plugin"

Built-in plugins (``plugins/``) register through exactly the same group.

Registration hooks return lists; the core merges them across plugins, orders them by name and
refuses two plugins registering one name. "Which plugin handles this" hooks are ``firstresult``:
the first non-``None`` answer wins and later implementations are not called
(``tryfirst``/``trylast`` order them, as in pytest).

Hooks are called through pluggy, so ``@hookimpl(wrapper=True)`` and ``hookwrapper=True`` work as
pluggy documents. Registration hooks are called one plugin at a time, so a wrapper receives (and
may change) the list of its own plugin's results only. A registration hook must return a list of
:class:`~harness.interfaces.Entry` (the path hooks: a list of ``str`` or ``os.PathLike``);
anything else, or an exception, is reported with the plugin's name and entry point. Every function
named ``stilts_*`` in a plugin must carry ``@hookimpl`` and name a hook below; otherwise the plugin
is reported as failing to register (pluggy itself would silently skip an unmarked function).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pluggy

from harness import NAME
from harness.interfaces import Entry

hookspec = pluggy.HookspecMarker(NAME)


@hookspec
def stilts_task_spec_paths() -> list[Path]:
    """Task spec files (``*.json``) or folders of them that this plugin contributes.

    Specs are data only and validated against the task-spec schema
    (``stilts tasks schema``). Relative paths inside a spec resolve against its folder.
    """


@hookspec
def stilts_experiment_paths() -> list[Path]:
    """Experiment files this plugin ships; ``stilts run NAME`` finds them by their ``name``."""


@hookspec
def stilts_task_types() -> list[Entry]:
    """Task types: entries whose target is a :class:`harness.interfaces.TaskType` subclass.

    A spec names its task type in ``task_type``; the task type turns records into features,
    chooses the head, predicts and produces metric inputs.
    """


@hookspec
def stilts_model_adapters() -> list[Entry]:
    """Model adapters: entries whose target is a :class:`harness.interfaces.ModelAdapter` subclass."""


@hookspec
def stilts_metrics() -> list[Entry]:
    """Metrics: entries whose target is a :class:`harness.interfaces.Metric` subclass.

    A spec's ``metrics`` list names them; the first is the headline unless ``main_metric`` says.
    """


@hookspec
def stilts_data_formats() -> list[Entry]:
    """Local data formats: entries whose target is a :class:`harness.interfaces.DataFormat`
    subclass, named by a spec's local source ``format``."""


@hookspec
def stilts_translation_providers() -> list[Entry]:
    """Machine translation for translate-train: entries whose target is a
    :class:`harness.interfaces.TranslationProvider` subclass, named by an experiment's
    ``translate.provider``. Outputs are cached by content hash, so a provider runs once per text."""


@hookspec
def stilts_model_sources() -> list[Entry]:
    """Model sources: entries whose target is a :class:`harness.interfaces.ModelSource`
    subclass, named by an experiment's ``"model": {"source": NAME, "id": ...}``. A source turns a
    model reference into a local transformers folder (converting weights shipped in another
    format, for example). stilts materialises the folder once into its cache, keyed by the
    source's :meth:`~harness.interfaces.ModelSource.identity`, and reuses it from then on."""


@hookspec
def stilts_executors() -> list[Entry]:
    """Executors: entries whose target is a :class:`harness.executors.Executor` subclass, chosen
    with ``stilts run --executor NAME``. An executor runs the stages of a plan that are not in
    the stage cache yet (in this process, a pool of worker processes, a cluster's queue...),
    each stage only once the stage it starts from is done, and writes a cell's result once all
    of its stages are done. The built-in ones are ``inline``, ``local`` and ``slurm``."""


@hookspec(firstresult=True)
def stilts_choose_adapter(model: dict[str, Any]) -> str | None:
    """Name of the adapter that should load ``model`` (the experiment's ``model`` object), or
    None to let another plugin decide. Used when the experiment does not name an adapter."""
