"""Hugging Face encoders through transformers' Auto classes (hub id or local folder)."""

from __future__ import annotations

import copy
import functools
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness import hookimpl
from harness.interfaces import Entry, Head, ModelAdapter, ModelHandle, ModelRef, RunSettings

log = logging.getLogger("stilts.adapters.hf")

AUTO_CLASSES = {
    "sequence_classification": "AutoModelForSequenceClassification",
    "multiple_choice": "AutoModelForMultipleChoice",
    "question_answering": "AutoModelForQuestionAnswering",
    "token_classification": "AutoModelForTokenClassification",
    "masked_lm": "AutoModelForMaskedLM",
    "encoder": "AutoModel",
}


def _quiet_transformers() -> None:
    """'Some weights were newly initialized' is expected: X-STILTs drops and re-creates heads."""
    import transformers

    transformers.logging.set_verbosity_error()


def resolve_layer(layer: Any, num_layers: int) -> int:
    """``middle`` = ceil(7/12 of the layers): 14 of 24 (the study), 7 of 12, 4 of 6."""
    if layer == "last" or layer is None:
        return num_layers
    if layer == "middle":
        return math.ceil(num_layers * 7 / 12)
    if not 0 <= int(layer) <= num_layers:
        raise ValueError(f"layer {layer} is outside 0..{num_layers}")
    return int(layer)


#: Initial value of the dual encoder's learned logit scale (XTREME-R's ``BertForRetrieval``).
DUAL_ENCODER_LOGIT_SCALE = 100.0


@functools.cache
def dual_encoder_class() -> Any:
    """The ``dual_encoder`` head's module class (defined on first use: torch is imported lazily).

    One ``AutoModel`` encodes both sides (shared weights, as XTREME-R's LAReQA baseline). Called
    with ``answer_input_ids``, ``forward`` pools both sides (``pooling``: ``mean`` over the
    non-padding tokens, special tokens included, or ``cls``; ``layer``: as :func:`resolve_layer`,
    exactly as :meth:`HuggingFaceAdapter.embed` pools), L2-normalises them, scales the question x
    answer cosine matrix by a learned logit scale (initially 100) and returns the cross-entropy of
    each question against the answers of the batch, its own answer being the gold one (in-batch
    negatives). Called without them it is the plain encoder, so ``embed`` works on it unchanged.
    ``base_model`` and ``save_pretrained`` are the encoder's: a saved dual encoder is a plain
    ``AutoModel`` folder (the logit scale is dropped), which the next stage loads as any encoder.
    """
    import torch

    class DualEncoder(torch.nn.Module):
        base_model_prefix = "encoder"

        def __init__(self, encoder: Any):
            super().__init__()
            self.encoder = encoder
            self.config = encoder.config
            self.logit_scale = torch.nn.Parameter(torch.tensor(DUAL_ENCODER_LOGIT_SCALE))

        @property
        def base_model(self) -> Any:
            return self.encoder

        def save_pretrained(self, out_dir: Any, **kwargs: Any) -> None:
            self.encoder.save_pretrained(out_dir, **kwargs)

        def tie_weights(self) -> None:
            self.encoder.tie_weights()

        def pool(self, input_ids: Any, attention_mask: Any, token_type_ids: Any, pooling: str, layer: Any) -> Any:
            inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
            if token_type_ids is not None:
                inputs["token_type_ids"] = token_type_ids
            index = resolve_layer(layer, self.config.num_hidden_layers)
            hidden = self.encoder(**inputs, output_hidden_states=True).hidden_states[index].float()
            if pooling == "cls":
                pooled = hidden[:, 0]
            elif pooling == "mean":
                mask = attention_mask.unsqueeze(-1).float()
                pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1)
            else:
                raise ValueError(f"dual encoder pooling must be 'mean' or 'cls', not {pooling!r}")
            return torch.nn.functional.normalize(pooled, dim=-1)

        def forward(
            self,
            input_ids: Any = None,
            attention_mask: Any = None,
            token_type_ids: Any = None,
            answer_input_ids: Any = None,
            answer_attention_mask: Any = None,
            answer_token_type_ids: Any = None,
            pooling: str = "mean",
            layer: Any = "last",
            output_hidden_states: bool | None = None,
            return_dict: bool | None = None,
        ) -> Any:
            if answer_input_ids is None:
                given = {
                    "attention_mask": attention_mask,
                    "token_type_ids": token_type_ids,
                    "output_hidden_states": output_hidden_states,
                    "return_dict": return_dict,
                }
                return self.encoder(input_ids=input_ids, **{k: v for k, v in given.items() if v is not None})
            questions = self.pool(input_ids, attention_mask, token_type_ids, pooling, layer)
            answers = self.pool(answer_input_ids, answer_attention_mask, answer_token_type_ids, pooling, layer)
            logits = self.logit_scale * questions @ answers.T
            gold = torch.arange(logits.shape[0], device=logits.device)
            return {"loss": torch.nn.functional.cross_entropy(logits, gold), "logits": logits}

    return DualEncoder


class HuggingFaceAdapter(ModelAdapter):
    """Loads with ``from_pretrained``; ``trust_remote_code`` only when the experiment allows it."""

    def _kwargs(self, ref: ModelRef) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"trust_remote_code": ref.trust_remote_code}
        if ref.revision and not ref.is_local and not ref.snapshot:
            kwargs["revision"] = ref.revision  # the pinned commit: what the stage keys name is what loads
        return kwargs

    def load_tokenizer(self, ref: ModelRef) -> Any:
        from transformers import AutoTokenizer

        _quiet_transformers()
        return AutoTokenizer.from_pretrained(ref.load_path, **self._kwargs(ref))

    def load_model(self, ref: ModelRef, head: Head) -> Any:
        import transformers

        _quiet_transformers()
        if head.kind == "dual_encoder":  # a shared-weight encoder for both sides: dual_encoder_class()
            return dual_encoder_class()(transformers.AutoModel.from_pretrained(ref.load_path, **self._kwargs(ref)))
        auto = getattr(transformers, AUTO_CLASSES[head.kind])
        kwargs = self._kwargs(ref)
        if head.num_labels:
            kwargs["num_labels"] = head.num_labels
        elif head.kind == "question_answering":  # start and end logits, whatever head the encoder came from
            kwargs["num_labels"] = 2
        if head.labels:
            kwargs["id2label"] = dict(enumerate(head.labels))
            kwargs["label2id"] = {label: i for i, label in enumerate(head.labels)}
        return auto.from_pretrained(ref.load_path, **kwargs)

    def prepare_for_training(self, model: Any, method: dict[str, Any]) -> Any:
        """``full``: unchanged. ``lora``: peft LoRA adapters on the encoder (``target_modules``
        default: peft's per-architecture choice, e.g. query/value); the task head (every
        top-level module but the encoder) is trained in full."""
        if method.get("kind", "full") == "full":
            return model
        if method["kind"] != "lora":
            return super().prepare_for_training(model, method)
        from peft import LoraConfig, get_peft_model

        heads = [
            name
            for name, child in model.named_children()
            if name != model.base_model_prefix and any(True for _ in child.parameters())
        ]
        config = LoraConfig(
            r=method["r"],
            lora_alpha=method["alpha"],
            lora_dropout=method["dropout"],
            target_modules=method.get("target_modules"),
            modules_to_save=heads or None,
        )
        wrapped = get_peft_model(model, config)
        trainable, total = wrapped.get_nb_trainable_parameters()
        log.info(
            "LoRA r=%s alpha=%s on %s: %d of %d parameters trainable (%.2f%%)",
            method["r"],
            method["alpha"],
            sorted(wrapped.peft_config["default"].target_modules),
            trainable,
            total,
            100 * trainable / total,
        )
        return wrapped

    def finish_training(self, model: Any, method: dict[str, Any]) -> Any:
        """LoRA: merge the adapters into the weights, so every later stage gets a plain model."""
        if method.get("kind", "full") == "lora":
            return model.merge_and_unload()
        return model

    def share_encoder(self, models: Sequence[Any]) -> None:
        """Swap each model's ``base_model_prefix`` module (``bert``, ``roberta`` ...) for the
        first model's, then re-tie output embeddings (MLM decoders) to the shared input ones."""
        prefix = models[0].base_model_prefix
        encoder = getattr(models[0], prefix)
        for model in models[1:]:
            if model.base_model_prefix != prefix:
                raise ValueError(f"cannot share a {prefix!r} encoder with a {model.base_model_prefix!r} model")
            setattr(model, prefix, encoder)
            model.tie_weights()

    def save(self, model: Any, tokenizer: Any, out_dir: Path, *, encoder_only: bool) -> None:
        """Save the model (``encoder_only``: its encoder, without the task head and the head's label
        settings in ``config.json``, so the next stage's head starts from defaults) and tokenizer."""
        target = model.base_model if encoder_only else model
        if encoder_only:
            target = copy.copy(target)  # a shallow copy with its own config: the trained model keeps its labels
            target.config = copy.deepcopy(target.config)
            target.config.num_labels = 2  # transformers' default: id2label/label2id become LABEL_0/LABEL_1
            target.config.problem_type = None
        target.save_pretrained(out_dir)
        tokenizer.save_pretrained(out_dir)

    def embed(self, handle: ModelHandle, sentences: Sequence[str], settings: RunSettings) -> Any:
        import torch

        options = settings.options
        if options.get("pooling") == "model":
            return self._embed_sentence_transformers(handle.ref, sentences, settings)
        from harness.inference import batched_forward

        tokenizer, model = handle.tokenizer, handle.model
        layer = resolve_layer(options.get("layer", "middle"), model.config.num_hidden_layers)
        encoded = tokenizer(list(sentences), truncation=True, max_length=settings.max_length)
        features = [{k: encoded[k][i] for k in encoded} for i in range(len(sentences))]
        vectors = torch.zeros(len(features), model.config.hidden_size)

        def run(m: Any, batch: dict[str, Any]) -> Any:
            return m(**batch, output_hidden_states=True).hidden_states[layer]

        for indices, hidden, batch in batched_forward(model, tokenizer, features, settings, run):
            hidden = hidden.float()
            if options.get("pooling", "mean") == "cls":
                pooled = hidden[:, 0]
            else:  # mean over all non-padding tokens, special tokens included, as XTREME pools
                mask = batch["attention_mask"].unsqueeze(-1).float()
                pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1)
            vectors[indices] = pooled.cpu()
        return torch.nn.functional.normalize(vectors, dim=-1)

    def _embed_sentence_transformers(self, ref: ModelRef, sentences: Sequence[str], settings: RunSettings) -> Any:
        from sentence_transformers import SentenceTransformer

        encoder = SentenceTransformer(
            ref.load_path,
            revision=self._kwargs(ref).get("revision"),
            device=settings.device,
            trust_remote_code=ref.trust_remote_code,
        )
        encoder.max_seq_length = settings.max_length
        return (
            encoder.encode(
                list(sentences),
                batch_size=settings.batch_size,
                convert_to_tensor=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
            .float()
            .cpu()
        )

    def fingerprint(self, ref: ModelRef) -> str:
        """Local folders: sha256 over every file's bytes (memoised, so re-runs are cheap); hub
        ids: the commit their revision was pinned to (a mirror's snapshot of that commit has the
        same identity as the hub's), else the one it resolves to (the hub, else its local cache)."""
        from harness.data import offline_mode
        from harness.fingerprint import folder_fingerprint, hub_commit

        if ref.is_local:
            return "local:" + folder_fingerprint(Path(ref.id))[:32]
        return f"hub:{ref.id}@{hub_commit(ref.id, ref.revision, offline_mode())}"


@hookimpl
def stilts_model_adapters() -> list[Entry]:
    return [Entry("hf", HuggingFaceAdapter, "transformers Auto classes, hub id or local folder")]


@hookimpl(trylast=True)
def stilts_choose_adapter(model: dict[str, Any]) -> str | None:
    return "hf"
