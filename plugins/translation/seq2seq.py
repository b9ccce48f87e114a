"""The built-in translation provider: a transformers sequence-to-sequence model (Marian
``Helsinki-NLP/opus-mt-{source}-{target}``, NLLB, M2M100 ...) from the hub or a local folder.

transformers 5 removed the ``translation`` pipeline, so this does what it did: tokenize a
batch, ``generate`` (beam search), decode. Options: ``model`` (id or folder; ``{source}`` and
``{target}`` are filled in), ``revision``, ``batch_size`` (16), ``num_beams`` (4),
``max_length`` (512 tokens in and out), ``src_lang``/``tgt_lang`` codes and
``forced_bos_token`` for multilingual models (NLLB: ``eng_Latn``, ``deu_Latn``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from harness import hookimpl
from harness.interfaces import Entry, TranslationProvider


class Seq2SeqTranslation(TranslationProvider):
    def __init__(self) -> None:
        self._loaded: dict[str, tuple[Any, Any]] = {}

    def _model_id(self, options: dict[str, Any], source: str, target: str) -> str:
        if "model" not in options:
            raise ValueError('translate.options.model is required (e.g. "Helsinki-NLP/opus-mt-{source}-{target}")')
        return str(options["model"]).replace("{source}", source).replace("{target}", target)

    def _load(self, model_id: str, options: dict[str, Any]) -> tuple[Any, Any]:
        if model_id not in self._loaded:
            import torch
            from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

            kwargs = {"revision": options["revision"]} if "revision" in options else {}
            tokenizer = AutoTokenizer.from_pretrained(model_id, **kwargs)
            model = AutoModelForSeq2SeqLM.from_pretrained(model_id, **kwargs).eval()
            if torch.cuda.is_available():
                model = model.to("cuda")
            self._loaded[model_id] = (tokenizer, model)
        return self._loaded[model_id]

    def model_for(self, options: dict[str, Any], source: str, target: str) -> tuple[str, str | None]:
        return self._model_id(options, source, target), options.get("revision")

    def translate(self, texts: Sequence[str], source: str, target: str, options: dict[str, Any]) -> list[str]:
        import torch

        tokenizer, model = self._load(self._model_id(options, source, target), options)
        if "src_lang" in options:
            tokenizer.src_lang = options["src_lang"]
        generate: dict[str, Any] = {
            "num_beams": int(options.get("num_beams", 4)),
            "max_length": int(options.get("max_length", 512)),
        }
        if "forced_bos_token" in options:
            generate["forced_bos_token_id"] = tokenizer.convert_tokens_to_ids(options["forced_bos_token"])
        size = int(options.get("batch_size", 16))
        out: list[str] = []
        for start in range(0, len(texts), size):
            batch = tokenizer(
                list(texts[start : start + size]),
                return_tensors="pt",
                padding=True,
                truncation=True,
                max_length=int(options.get("max_length", 512)),
                return_token_type_ids=False,
            ).to(model.device)
            with torch.inference_mode():
                tokens = model.generate(**batch, **generate)
            out += tokenizer.batch_decode(tokens, skip_special_tokens=True)
        return out

    def fingerprint(self, options: dict[str, Any]) -> str:
        return "seq2seq:" + json.dumps(options, sort_keys=True)


@hookimpl
def stilts_translation_providers() -> list[Entry]:
    return [
        Entry(
            "seq2seq",
            Seq2SeqTranslation,
            "transformers sequence-to-sequence model (Marian, NLLB, M2M100), hub or folder",
        )
    ]
