"""Translate-train: an intermediate task's training records in other languages.

Records come from the spec's ``translate_train`` split when it has files for the language
(e.g. XTREME's released translations), otherwise from a translation provider plugin applied to
the English records' free-text fields (``TaskType.translatable_fields``). Provider output is
cached in chunks under ``<runs>/translations/``, keyed by a content hash of the provider, its
options, the language pair and the chunk's texts: a provider never translates a text twice, and
an interrupted translation resumes at the first missing chunk.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.atomic import write_json_atomic
from harness.errors import DataError
from harness.fingerprint import folder_fingerprint
from harness.hub import HubAccess
from harness.interfaces import TaskType, TranslationProvider
from harness.tasks import TaskSpec, content_hash

log = logging.getLogger("stilts.translate")

CHUNK = 1000  # texts per cache file


def texts_of(records: Sequence[dict[str, Any]], fields: Sequence[str]) -> list[str]:
    """The distinct texts of ``fields`` (strings or lists of strings), in first-seen order."""
    seen: dict[str, None] = {}
    for record in records:
        for name in fields:
            value = record.get(name)
            for text in value if isinstance(value, list) else [value]:
                if isinstance(text, str) and text.strip():
                    seen.setdefault(text, None)
    return list(seen)


@dataclass(frozen=True)
class PinnedTranslation:
    """How a provider translates one language pair: ``model`` identifies the model it reads
    (``hub:<id>@<commit>``, ``local:<content digest>``, None: no model) for stage and cache keys;
    ``options`` are what :meth:`~harness.interfaces.TranslationProvider.translate` is given (its
    ``model`` the pinned copy)."""

    model: str | None
    options: dict[str, Any]


def pinned_translation(
    hub: HubAccess, provider: TranslationProvider, options: dict[str, Any], source: str, target: str
) -> PinnedTranslation:
    """The model ``provider`` would read for ``source``->``target``, pinned like the experiment's
    model: a local folder by its content digest, a hub id to the commit its revision names (lock
    file, mirror or hub; raises :class:`~harness.hub.UnpinnedError` offline without a lock)."""
    named = provider.model_for(options, source, target)
    if named is None:
        return PinnedTranslation(None, options)
    model_id, revision = named
    folder = Path(model_id).expanduser()
    if folder.is_dir():
        return PinnedTranslation("local:" + folder_fingerprint(folder)[:32], {**options, "model": str(folder)})
    pin = hub.pin("model", model_id, revision)
    if pin.snapshot is not None:
        rest = {key: value for key, value in options.items() if key != "revision"}
        return PinnedTranslation(f"hub:{model_id}@{pin.commit}", {**rest, "model": str(pin.snapshot)})
    return PinnedTranslation(f"hub:{model_id}@{pin.commit}", {**options, "model": model_id, "revision": pin.commit})


def translate_texts(
    texts: list[str],
    provider: TranslationProvider,
    provider_name: str,
    options: dict[str, Any],
    source: str,
    target: str,
    cache_dir: Path,
    pinned: PinnedTranslation | None = None,
) -> tuple[dict[str, str], dict[str, Any]]:
    """``{text: translation}`` for every text, through the chunk cache; and what was done.
    ``pinned``: the pinned model and the options to translate with (default: ``options``, no model)."""
    pinned = pinned or PinnedTranslation(None, options)
    identity = {
        "provider": provider_name,
        "fingerprint": provider.fingerprint(options),
        **({"model": pinned.model} if pinned.model else {}),
        "source": source,
        "target": target,
    }
    mapping: dict[str, str] = {}
    cached = translated = 0
    for start in range(0, len(texts), CHUNK):
        chunk = texts[start : start + CHUNK]
        path = cache_dir / f"{content_hash({**identity, 'texts': chunk}, length=24)}.json"
        if path.is_file():
            outputs = json.loads(path.read_text(encoding="utf-8"))
            cached += len(chunk)
        else:
            outputs = provider.translate(chunk, source, target, pinned.options)
            if len(outputs) != len(chunk) or not all(isinstance(o, str) for o in outputs):
                raise DataError(
                    f"translation provider {provider_name!r} returned {len(outputs)} result(s) for "
                    f"{len(chunk)} text(s) ({source}->{target}); expected one string per text"
                )
            write_json_atomic(path, outputs)
            translated += len(chunk)
        mapping.update(zip(chunk, outputs))
    return mapping, {**identity, "texts": len(texts), "from_cache": cached, "translated": translated}


def apply_translation(
    records: Sequence[dict[str, Any]], fields: Sequence[str], mapping: dict[str, str]
) -> list[dict[str, Any]]:
    """Copies of ``records`` with their free-text fields replaced by translations."""
    out = []
    for record in records:
        new = dict(record)
        for name in fields:
            value = record.get(name)
            if isinstance(value, list):
                new[name] = [mapping.get(v, v) if isinstance(v, str) else v for v in value]
            elif isinstance(value, str):
                new[name] = mapping.get(value, value)
        out.append(new)
    return out


def provider_translation(
    task: TaskSpec,
    task_type: TaskType,
    records: Sequence[dict[str, Any]],
    lang: str,
    provider: TranslationProvider,
    provider_name: str,
    options: dict[str, Any],
    cache_dir: Path,
    hub: HubAccess,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Machine-translate ``records`` (in the task's training language) into ``lang`` with the
    provider's model pinned through ``hub``."""
    fields = task_type.translatable_fields
    if not fields:
        raise DataError(
            f"task {task.name!r} ({task.task_type}) cannot be machine-translated: its labels are tied to "
            "tokens or spans. Give its spec a 'translate_train' split with translated files instead."
        )
    source = task.train_language or "en"
    pinned = pinned_translation(hub, provider, options, source, lang)
    mapping, info = translate_texts(
        texts_of(records, fields), provider, provider_name, options, source, lang, cache_dir, pinned
    )
    log.info("translated %s train into %s: %s", task.name, lang, info)
    return apply_translation(records, fields, mapping), {
        "task": task.name,
        "split": "translate_train",
        "lang": lang,
        "source": "translation",
        "translation": info,
    }
